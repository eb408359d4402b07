"""The driver keys under redelivery, through the batch processor and the real Redis.

One partition, so the order in which posts meet the keys is the offset order whatever the
batches: a stream replayed with random overlapping redeliveries (whole groups skipped, partial
groups resent without their applied records) must leave the examples, authors, fingerprints and
repost fields exactly as one clean pass does, with small bounds so that the example trimming
and the fingerprint cap are exercised. Space-Saving depends on where batches start, so its sets
are checked against its guarantees on the exact counts (a clean pass with no bound): the kept
counts sum to the exact total (a double count would break it), each is at least the term's
exact count and at most that plus the set's minimum.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis

from sentistream.settings import Settings
from stream.schema.keys import REPOST_FIELDS, KeyScheme
from stream.worker.posts import RawRecord
from tests.stream.test_sink import processor

pytestmark = pytest.mark.integration
HOUR = 1_600_000_000 // 3600 * 3600
POOL = [f"acme {mood} {topic} #{tag}" for mood in ("love the", "hate the", "broken", "great")
        for topic in ("battery life", "screen", "support team", "price hike") for tag in "xyz"]


def make_records(n: int, seed: int) -> list[RawRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = rng.choice(POOL)
        if rng.random() < 0.4:
            text = f"acme globex post {i} {text}"
        if rng.random() < 0.1:
            text = f"RT @user{rng.randrange(5)}: {text}"
        doc: dict[str, Any] = {"id": f"p{i}", "text": text,
                               "created_at": HOUR + rng.randrange(3 * 3600)}
        if rng.random() < 0.9:
            doc["author"] = f"author{rng.randrange(40)}"
        out.append(RawRecord(json.dumps(doc).encode(), "t.posts", 0, i, 1.7e9))
    return out


def snapshot(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Every key under ``prefix`` read by type, named without the prefix."""
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=f"{{{prefix}:b:*", count=1000):
        key = raw.decode()
        found = client.type(raw)
        kind = found.decode() if isinstance(found, bytes) else found
        name = key.replace(prefix, "P", 1)
        if key.endswith(":offsets"):
            continue
        if kind == "hash":
            out[name] = client.hgetall(raw)
        elif kind == "zset":
            out[name] = client.zrange(raw, 0, -1, withscores=True)
        elif kind == "list":
            out[name] = client.lrange(raw, 0, -1)
        elif kind == "set":
            out[name] = client.smembers(raw)
        elif kind == "string":  # a HyperLogLog
            out[name] = client.pfcount(raw)
    return out


async def test_redelivered_batches_leave_the_driver_keys_as_one_clean_pass(
        isolated: Settings) -> None:
    settings = isolated.replace(driver_terms_hour=4, driver_examples=3, driver_fingerprints=5)
    clean = settings.replace(redis_prefix=settings.redis_prefix + "c", driver_terms_hour=10**6)
    records = make_records(1500, seed=5)
    proc = processor(clean, [])
    for start in range(0, len(records), 100):
        await proc.process(records[start:start + 100])
    await proc.sink.close()

    proc = processor(settings, [])
    rng = random.Random(11)
    applied = 0
    while applied < len(records):
        start = rng.randrange(max(0, applied - 150), applied + 1)
        end = min(len(records), start + rng.randrange(1, 200))
        await proc.process(records[start:end])
        applied = max(applied, end)
    assert proc.metrics.redelivered.labels("partial")._value.get() > 0  # both paths were hit
    assert proc.metrics.redelivered.labels("skipped")._value.get() > 0
    await proc.sink.close()

    client = redis.Redis.from_url(settings.redis_url)
    want, got = snapshot(client, clean.redis_prefix), snapshot(client, settings.redis_prefix)
    assert set(got) == set(want)
    assert {k: v for k, v in got.items() if v != want[k] and ":terms:" not in k} == {}
    for name in (k for k in got if ":terms:" in k):
        kept, exact = dict(got[name]), dict(want[name])
        smallest = min(kept.values()) if len(kept) >= 4 else 0
        assert sum(kept.values()) == sum(exact.values()), name
        assert all(exact.get(t, 0) <= c <= exact.get(t, 0) + smallest for t, c in kept.items())
        assert all(t in kept for t, c in exact.items() if c > smallest)
    keys = KeyScheme(settings.redis_prefix)
    # Every kind of driver key is there, within its bound and expiry.
    kinds = {name.split(":")[3] for name in got if name.count(":") >= 4}
    assert {"authors", "terms", "ex", "fp"} <= kinds
    for raw in client.scan_iter(match=keys.brand_tag("acme").replace("{", "\\{") + ":*"):
        key, ttl = raw.decode(), client.ttl(raw)
        if ":terms:" in key:
            assert ":h:" in key  # hour sets only: a day's terms are its hours' (why.py)
            assert client.zcard(raw) == 4  # evictions happened
        elif ":ex:" in key:
            assert client.llen(raw) == 3
        elif ":fp:" in key:
            assert client.scard(raw) == 5 and 0 < ttl <= 7200
    total: dict[bytes, bytes] = client.hgetall(keys.total("acme"))  # type: ignore[assignment]
    assert {f.encode() for f in REPOST_FIELDS} <= set(total)
    assert int(total[b"reposts"]) < int(total[b"n"])
