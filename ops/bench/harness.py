"""What the benchmark, soak and fault runs share: services, worker processes, posts, a stamped
producer and a progress poller that sees when each record's aggregate became visible in Redis.

How "visible" is observed: every valid post counts in the ``_all`` aggregate, and the worker
stores, in the same atomic script that writes ``_all``'s buckets, the last Kafka offset applied
per partition (``{<p>:b:_all}:offsets``). A partition's records are applied in offset order, so
record (p, o) is in the aggregates from the first moment that hash holds an offset >= o for p.
A separate process polls that hash every ~2 ms and keeps each change with its wall time; the
producer keeps each record's (partition, offset, send time) from the broker's acks. Latency of a
record = first poll that shows it - its send time (the Kafka record timestamp, set at send()).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from producers.records import encode_keys, encode_values
from producers.sink import PostSink, SinkOptions
from sentistream.harness import Child, HarnessError
from sentistream.infra.kafka import KafkaBroker
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings
from stream.schema.keys import ALL_BRANDS, KeyScheme

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
TWEETEVAL_TEST = DATA / "tweeteval-sentiment" / "test.csv"
# Ports of their own, so a benchmark never touches a running demo or the test services;
# SENTISTREAM_* variables in the environment override them.
BENCH_ENV = {
    "SENTISTREAM_STATE_DIR": str(REPO / ".state" / "bench"),
    "SENTISTREAM_KAFKA_PORT": "29092", "SENTISTREAM_KAFKA_CONTROLLER_PORT": "29093",
    "SENTISTREAM_REDIS_PORT": "26379", "SENTISTREAM_WORKER_WEB_PORT": "26066",
    "SENTISTREAM_API_PORT": "28000",
}


class BenchError(HarnessError):
    """A benchmark or fault run could not do what it needs; the message says what to fix."""


def bench_settings() -> Settings:
    return Settings.from_env({**BENCH_ENV, **os.environ})


def run_settings(base: Settings, name: str) -> Settings:
    """Topics and a Redis prefix of one run's own, so runs never see each other's data."""
    uid = f"{name}-{uuid.uuid4().hex[:8]}"
    return base.replace(topic_posts=f"bench.{uid}.posts", topic_scored=f"bench.{uid}.scored",
                        topic_dead_letters=f"bench.{uid}.dead-letters", redis_prefix=f"b.{uid}")


@contextmanager
def services(settings: Settings) -> Iterator[tuple[RedisServer, KafkaBroker]]:
    """Redis and Kafka up for the block; stopped after it only if this block started them."""
    redis_server, broker = RedisServer(settings), KafkaBroker(settings)
    started = [s for s in (redis_server, broker) if s.up() == "started"]
    try:
        yield redis_server, broker
    finally:
        for service in reversed(started):
            service.down()


# -- processes (sentistream/harness.py) ----------------------------------------------------
def wait_assigned(workers: list[Child], partitions: int, timeout: float = 120.0) -> None:
    """Until the workers' /health pages together list every partition of the posts topic."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen: set[int] = set()
        for w in workers:
            if not w.alive():
                raise BenchError(f"worker exited ({w.proc.returncode}):\n{w.tail()}")
            status, body = w.get("/health")
            if status == 200:
                seen.update(json.loads(body).get("partitions", []))
        if len(seen) == partitions:
            return
        time.sleep(0.3)
    raise BenchError(f"partitions not assigned within {timeout}s:\n"
                     + "\n".join(w.tail() for w in workers))


def start_naive(settings: Settings, topic: str, prefix: str, web_port: int,
                log_dir: Path) -> Child:
    argv = [sys.executable, "-m", "ops.bench.naive", "--bootstrap", settings.kafka_bootstrap,
            "--topic", topic, "--partitions", str(settings.partitions),
            "--redis-url", settings.redis_url, "--prefix", prefix, "--web-port", str(web_port),
            "--datadir", str(settings.state_dir / "workers" / f"naive-{web_port}")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return Child(argv, env, log_dir / f"naive-{web_port}.log", web_port, cwd=REPO)


# -- input -----------------------------------------------------------------------------------
@dataclass
class Corpus:
    """Posts to send, and the gold label (0/1/2) of each base id when the data has labels."""

    posts: list[dict[str, Any]]
    gold: dict[str, int] = field(default_factory=dict)
    source: str = ""


def tweeteval(path: Path = TWEETEVAL_TEST) -> Corpus:
    """The TweetEval test set as posts; brand = its topic field when present."""
    import csv

    if not path.is_file():
        raise BenchError(f"{path} is missing: the benchmark reads the TweetEval test set from "
                         "<repo>/../shared/data/tweeteval-sentiment/test.csv; use --generated "
                         "to benchmark with generated posts instead")
    posts, gold = [], {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            post = {"id": f"te{row['semeval_id']}", "text": row["text"],
                    "created_at": row["created_at"]}
            if row.get("topic"):
                post["brand"] = row["topic"]
            posts.append(post)
            gold[post["id"]] = int(row["label_id"])
    return Corpus(posts, gold, str(path))


def umsab() -> Corpus:
    """The 8 x 870 UMSAB test tweets (8 languages) without a ``lang`` field (every post
    detected), each naming one of 20 brands: ``ops.bench.language_throughput``'s input."""
    from ops.bench.language_throughput import BRANDS, texts_of

    now = time.time()
    posts = [{"id": f"u{i}", "text": text, "brand": BRANDS[i % len(BRANDS)],
              "created_at": now - i % 600} for i, text in enumerate(texts_of("umsab"))]
    return Corpus(posts, {}, "UMSAB test, 8 languages, no lang field, 20 brands")


def generated(n: int, seed: int = 7) -> Corpus:
    from producers.generator import generate_posts

    posts = list(generate_posts(seed=seed, rate=200.0, limit=n))
    gold = {p["id"]: ("negative", "neutral", "positive").index(p["label"]) for p in posts}
    return Corpus(posts, gold, f"generated (seed {seed})")


def repeated(posts: list[dict[str, Any]], n: int, start: int = 0) -> list[dict[str, Any]]:
    """Posts ``start`` .. ``start + n`` of the corpus repeated forever, each copy with ids of
    its own."""
    out = []
    for i in range(start, start + n):
        rep, post = divmod(i, len(posts))
        base = posts[post]
        out.append(base if rep == 0 else {**base, "id": f"{base['id']}~{rep}"})
    return out


# -- producing -------------------------------------------------------------------------------
class StampedSink(PostSink):
    """A PostSink that keeps every acked record's partition, offset and send time."""

    def __init__(self, settings: Settings, options: SinkOptions | None = None) -> None:
        super().__init__(settings, options)
        self.acks: list[tuple[int, int, int]] = []

    def _on_ack(self, metadata: Any) -> None:
        super()._on_ack(metadata)
        self.acks.append((metadata.partition, metadata.offset, metadata.timestamp))

    def stamped(self, since: int = 0) -> np.ndarray:
        """(partition, offset, send_ms) rows of the acks from index ``since`` on."""
        rows = self.acks[since:]
        return np.asarray(rows, np.int64).reshape(-1, 3)


def send_paced(sink: PostSink, posts: list[dict[str, Any]], rate: float | None,
               live_time: bool = True, tick_s: float = 0.005) -> float:
    """Send at ``rate`` posts/s (None = as fast as possible); returns the achieved rate.

    ``live_time``: each post's ``created_at`` is its send time (epoch seconds), as on a live
    stream; otherwise the corpus' own times are kept (a replay of history).
    """
    keys = encode_keys(posts, "brand")
    values = None if live_time else encode_values(posts)
    start = time.monotonic()
    sent = 0
    while sent < len(posts):
        if rate is None:
            n = 2000
        else:
            n = int((time.monotonic() - start) * rate) - sent
            if n <= 0:
                time.sleep(tick_s)
                continue
        end = min(sent + n, len(posts))
        if values is None:
            now = round(time.time(), 3)
            chunk = encode_values([{**p, "created_at": now} for p in posts[sent:end]])
        else:
            chunk = values[sent:end]
        sink.send(keys[sent:end], chunk)
        sent = end
    if not sink.flush(120):
        raise BenchError(f"{sink.pending} records were not acknowledged by the broker")
    elapsed = time.monotonic() - start
    return len(posts) / elapsed if elapsed > 0 else float("inf")


# -- observing -------------------------------------------------------------------------------
def _poll_offsets(redis_url: str, key: str, stop: Any, out: Any, interval: float,
                  pids: list[int]) -> None:
    """Child process: offset-hash changes with their time, and psutil samples of ``pids``."""
    import psutil
    import redis

    client: Any = redis.Redis.from_url(redis_url, socket_timeout=5)
    procs = {pid: psutil.Process(pid) for pid in pids}
    for p in procs.values():
        p.cpu_percent(None)
    changes: list[tuple[float, dict[str, int]]] = []
    samples: list[tuple[float, int, float, int]] = []
    last: dict[str, int] = {}
    next_sample = 0.0
    while not stop.is_set():
        now = time.time()
        try:
            current = {k.decode(): int(v) for k, v in client.hgetall(key).items()}
        except redis.RedisError:
            current = last
        if current != last:
            changes.append((now, current))
            last = current
        if now >= next_sample:
            for pid, p in procs.items():
                with suppress(psutil.Error):
                    samples.append((now, pid, p.cpu_percent(None), p.memory_info().rss))
            next_sample = now + 0.5
        time.sleep(interval)
    out.put((changes, samples))


class Observer:
    """Runs ``_poll_offsets`` in a process of its own, so it never competes for our GIL."""

    def __init__(self, settings: Settings, pids: list[int], interval: float = 0.002) -> None:
        ctx = mp.get_context("spawn")
        self.stop_event, self.queue = ctx.Event(), ctx.Queue()
        key = KeyScheme(settings.redis_prefix).offsets(ALL_BRANDS)
        self.proc = ctx.Process(target=_poll_offsets, daemon=True,
                                args=(settings.redis_url, key, self.stop_event, self.queue,
                                      interval, pids))
        self.topic = settings.topic_posts

    def __enter__(self) -> Observer:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.is_alive():
            self.finish()

    def finish(self) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], list[Any]]:
        """Per partition: (times, applied offsets), and the psutil samples."""
        self.stop_event.set()
        changes, samples = self.queue.get(timeout=60)
        self.proc.join(10)
        per: dict[int, tuple[list[float], list[int]]] = {}
        for t, offsets in changes:
            for name, off in offsets.items():
                topic, _, part = name.rpartition(":")
                if topic != self.topic:
                    continue
                times, offs = per.setdefault(int(part), ([], []))
                if not offs or off > offs[-1]:
                    times.append(t)
                    offs.append(off)
        return ({p: (np.asarray(t), np.asarray(o)) for p, (t, o) in per.items()}, samples)


def visible_times(stamped: np.ndarray,
                  progress: dict[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per stamped record, the wall time its aggregate was first seen (nan: never)."""
    out = np.full(len(stamped), np.nan)
    for p, (times, offs) in progress.items():
        sel = stamped[:, 0] == p
        idx = np.searchsorted(offs, stamped[sel, 1], side="left")
        ok = idx < len(offs)
        vis = np.full(int(sel.sum()), np.nan)
        vis[ok] = times[idx[ok]]
        out[sel] = vis
    return out
