"""Live producers: `generate` (synthetic posts on the wall clock) and `produce` (stdin lines)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from producers.generator import GeneratorSpec, LiveGenerator
from producers.progress import Progress, RunStats
from producers.records import KeyBy, content_id, encode_keys, encode_values
from producers.sink import Sink

MAX_CHUNK = 4096  # posts per send() batch at --max
TICK_S = 0.02  # pacing granularity at --rate


def run_generate(sink: Sink, spec: GeneratorSpec, rate: float | None, limit: int | None,
                 stats: RunStats, progress: Progress, key_by: KeyBy = "brand") -> None:
    """Send generated posts until ``limit`` (or forever); ``rate`` None means as fast as possible.

    Burst posts come on top of ``rate``; ``limit`` counts every post. KeyboardInterrupt propagates
    to the caller, which flushes and prints the summary.
    """
    live = LiveGenerator(spec)
    start = time.monotonic()
    base_sent = 0
    while limit is None or stats.read < limit:
        elapsed = time.monotonic() - start
        base_n = MAX_CHUNK if rate is None else int(elapsed * rate) - base_sent
        posts = live.step(elapsed, max(base_n, 0), time.time())
        base_sent += max(base_n, 0)
        if limit is not None:
            posts = posts[: limit - stats.read]
        if posts:
            sink.send(encode_keys(posts, key_by), encode_values(posts))
            stats.read += len(posts)
        stats.sent, stats.failed = sink.acked, sink.failed
        progress.update(stats)
        if rate is not None:
            time.sleep(TICK_S)


def run_produce(sink: Sink, lines: Iterable[bytes], stats: RunStats, progress: Progress,
                key_by: KeyBy = "brand") -> None:
    """One post per line (a JSON object or plain text), each sent as soon as it is read.

    Plain text gets a content-derived id and no ``created_at`` (the record time stands in);
    lines that are neither are skipped and counted.
    """
    for line in lines:
        stats.read += 1
        post = parse_live_line(line)
        if post is None:
            stats.skipped += 1
            continue
        # The sink for a live feed runs with linger_ms=0: the record leaves as soon as the
        # sender thread wakes, without a blocking flush per line.
        sink.send(encode_keys([post], key_by), encode_values([post]))
        stats.sent, stats.failed = sink.acked, sink.failed
        progress.update(stats)


def parse_live_line(line: bytes) -> dict[str, Any] | None:
    text = line.strip()
    if not text:
        return None
    if text[:1] == b"{":
        try:
            post = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(post, dict) or not isinstance(post.get("text"), str) \
                or not post["text"].strip():
            return None
        if post.get("id") in (None, ""):
            post["id"] = content_id(post["text"], str(post.get("created_at", "")),
                                    str(post.get("author", "")))
        else:
            post["id"] = str(post["id"])
        return post
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return {"id": content_id(decoded, "", ""), "text": decoded}
