"""Helpers of the worker tests: a known input and its offline ground truth (the worker
subprocess is sentistream/harness.py's)."""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ops.faults.truth import Cell, TopKey, actual, expected
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import KeyScheme

BRAND_WORDS = ["apple", "iPhone", "#teampixel", "@Google", "xbox", "Microsoft", "nike",
               "air jordan", "Tesla", "model 3", "#justdoit"]
MOODS = ["love it, works great", "terrible, broke again", "is out today", "amazing battery",
         "worst support ever", "meh, it is fine", "so happy with it", "refund please, awful"]
HOUR0 = 1239055200  # 2009-04-06T22:00Z: replayed 2009 posts must give a 2009 timeline


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


def ground_truth(settings: Settings, values: list[bytes]
                 ) -> tuple[dict[Cell, dict[str, int]], dict[str, int], int]:
    """Buckets, dead-letter counts and valid-post count computed offline, same model and brands
    (the fault judge's truth, ops/faults/truth.py)."""
    want = expected(settings, values)
    return want.cells, want.dead, want.posts


def read_aggregates(settings: Settings) -> dict[Cell, dict[str, int]]:
    """Every bucket the worker wrote, found through the brand index and the bucket indexes."""
    return actual(settings).cells


def applied_count(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    try:
        return int(client.hget(KeyScheme(settings.redis_prefix).total("_all"), "n") or 0)
    except redis.RedisError:
        return -1


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


def top_truth(settings: Settings, values: list[bytes]) -> dict[TopKey, list[float]]:
    """(brand, polarity, hour) -> the scores of the top posts, best first, computed offline."""
    return {key: sorted((score for _, score in members), reverse=key[1] == "pos")
            for key, members in expected(settings, values).tops.items()}
