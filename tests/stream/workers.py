"""Helpers of the worker tests: a worker subprocess, a known input and its offline ground truth."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.aggregates import batch_deltas
from stream.brands import BrandsFile
from stream.keys import KeyScheme
from stream.pipeline import validate
from stream.posts import RawRecord
from stream.schema.counts import BucketCounts

BRAND_WORDS = ["apple", "iPhone", "#teampixel", "@Google", "xbox", "Microsoft", "nike",
               "air jordan", "Tesla", "model 3", "#justdoit"]
MOODS = ["love it, works great", "terrible, broke again", "is out today", "amazing battery",
         "worst support ever", "meh, it is fine", "so happy with it", "refund please, awful"]
HOUR0 = 1239055200  # 2009-04-06T22:00Z: replayed 2009 posts must give a 2009 timeline


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it), for one worker's web server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(settings: Settings, web_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update(settings.replace(worker_web_port=web_port).to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Worker:
    """`sentistream worker` as a subprocess, its log in the test's tmp dir."""

    def __init__(self, settings: Settings, log_dir: Path, web_port: int,
                 argv: list[str] | None = None) -> None:
        self.web_port = web_port
        self.log = log_dir / f"worker-{web_port}-{time.monotonic_ns()}.log"
        argv = argv or [str(Path(sys.executable).parent / "sentistream"), "worker"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out,
                                         stderr=subprocess.STDOUT,
                                         env=worker_env(settings, web_port))

    def metric(self, name: str) -> float:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics",
                                          timeout=5).read().decode()
        except OSError:
            return float("nan")
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith(name))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def make_input(n: int, seed: int, bad_every: int = 0) -> list[bytes]:
    """``n`` posts over several brands and hours (every created_at format); bad ones mixed in."""
    rng = random.Random(seed)
    out: list[bytes] = []
    bad_kinds = bad_values()
    for i in range(n):
        if bad_every and i % bad_every == bad_every - 1:
            out.append(bad_kinds[(i // bad_every) % len(bad_kinds)][0])
            continue
        words = rng.sample(BRAND_WORDS, rng.choice([0, 1, 1, 1, 2]))
        doc: dict[str, Any] = {"id": f"s{seed}-{i}",
                               "text": f"{' and '.join(words)} {rng.choice(MOODS)} #{i % 13}"}
        t = HOUR0 + rng.randrange(5 * 3600)
        fmt = i % 4
        doc["created_at"] = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if fmt == 0
                             else t if fmt == 1 else t * 1000 + 123 if fmt == 2
                             else f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))}+00:00")
        if i % 10 == 0:
            doc["brand"] = rng.choice(["Nike", "@tesla", "acme"])
        out.append(json.dumps(doc).encode())
    return out


def bad_values() -> list[tuple[bytes, str]]:
    """One record of every kind of bad input, with the reason it must be dead-lettered for."""
    return [(b"\xc3\x28 not utf-8", "invalid_utf8"), (b'{"id": "x", "text": ', "invalid_json"),
            (b"[1, 2]", "not_an_object"), (b'{"text": "no id"}', "missing_id"),
            (b'{"id": "x"}', "missing_text"), (b'{"id": "x", "text": " "}', "empty_text"),
            (b'{"id": "x", "text": 42}', "wrong_type"),
            (json.dumps({"id": "x", "text": "y" * 3000}).encode(), "text_too_long"),
            (b'{"id": "x", "text": "hi", "created_at": "soon"}', "bad_timestamp")]


def produce(settings: Settings, values: list[bytes]) -> None:
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20,
                             batch_size=256 * 1024)
    for i, value in enumerate(values):
        producer.send(settings.topic_posts, value=value, key=str(i).encode())
    producer.flush(60)
    producer.close()


def ground_truth(settings: Settings, values: list[bytes]) -> tuple[dict[Any, BucketCounts],
                                                                   dict[str, int], int]:
    """Buckets, dead-letter counts and valid-post count computed offline, same model and brands.

    Offsets and partitions do not matter for the sums, so one batch with fake offsets is enough.
    """
    from model.scorer import SentimentScorer

    records = [RawRecord(v, "truth", 0, i, 1.7e9) for i, v in enumerate(values)]
    posts, brands, rejected = validate(records, settings, BrandsFile().current())
    scores = SentimentScorer(num_threads=1).score(posts.texts)
    buckets: dict[Any, BucketCounts] = {}
    for d in batch_deltas(posts, brands, np.asarray(scores.labels), scores.intensity, 0):
        for (res, start), agg in d.buckets.items():
            buckets[(d.brand, res, start)] = agg
        buckets[(d.brand, "total", 0)] = d.total
    dead: dict[str, int] = {}
    for r in rejected:
        dead[r.reason] = dead.get(r.reason, 0) + 1
    return buckets, dead, len(posts)


def read_aggregates(settings: Settings) -> dict[Any, BucketCounts]:
    """Every bucket the worker wrote, found through the brand index and the bucket indexes."""
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    out: dict[Any, BucketCounts] = {}
    for raw in client.zrange(keys.brands, 0, -1):
        brand = raw.decode()
        out[(brand, "total", 0)] = BucketCounts.from_fields(client.hgetall(keys.total(brand)))
        for res in ("m", "h", "d"):
            for start in client.zrange(keys.bucket_index(brand, res), 0, -1):
                key = keys.bucket(brand, res, int(start))
                out[(brand, res, int(start))] = BucketCounts.from_fields(client.hgetall(key))
    return out


def applied_count(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    try:
        return int(client.hget(KeyScheme(settings.redis_prefix).total("_all"), "n") or 0)
    except redis.RedisError:
        return -1


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for w in workers:
            if w.proc.poll() is not None:
                raise AssertionError(f"worker exited ({w.proc.returncode}) waiting for {what}:\n"
                                     f"{w.tail()}")
        time.sleep(0.2)
    logs = "\n".join(w.tail() for w in workers)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def read_topic(settings: Settings, topic: str, expected: int,
               timeout: float = 30) -> list[dict[str, Any]]:
    """The JSON records of a topic, from the beginning, until ``expected`` arrived (or timeout)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)
    parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000, max_records=5000).values():
            records += [json.loads(m.value) for m in batch]
    consumer.close()
    return records


def read_dead_letters(settings: Settings, expected: int) -> list[dict[str, Any]]:
    letters = read_topic(settings, settings.topic_dead_letters, expected)
    for letter in letters:
        letter["value"] = base64.b64decode(letter["value_b64"])
    return letters


def top_truth(settings: Settings, values: list[bytes]) -> dict[tuple[str, str, int], list[float]]:
    """(brand, polarity, hour) -> the scores of the top posts, best first, computed offline."""
    from model.scorer import SentimentScorer

    records = [RawRecord(v, "truth", 0, i, 1.7e9) for i, v in enumerate(values)]
    posts, brands, _ = validate(records, settings, BrandsFile().current())
    scores = SentimentScorer(num_threads=1).score(posts.texts)
    out: dict[tuple[str, str, int], list[float]] = {}
    for d in batch_deltas(posts, brands, np.asarray(scores.labels), scores.intensity,
                          settings.top_posts):
        for c in d.top:
            out.setdefault((d.brand, c.polarity, c.hour), []).append(c.score)
    return {k: sorted(v, reverse=k[1] == "pos")[:settings.top_posts] for k, v in out.items()}
