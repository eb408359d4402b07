"""Bounds on what hostile input can make the worker write, against the real Redis (issue 12).

Kafka is a list here and the model a deterministic stand-in, as in test_sink.py; the worker runs
for real in test_worker.py.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

import pytest
import redis

from sentistream.settings import Settings
from stream.schema.keys import ALL_BRANDS, OVERFLOW, KeyScheme
from stream.worker import pipeline
from stream.worker.aggregates import batch_deltas
from stream.worker.posts import MAX_ID_CHARS, RawRecord
from tests.replies import ints, stream_entries, texts
from tests.stream.test_sink import only_dead_letter, processor

pytestmark = pytest.mark.integration
NOW = time.time()


def record(offset: int, partition: int = 0, record_s: float = NOW, **doc: Any) -> RawRecord:
    return RawRecord(json.dumps({"id": f"p{offset}", "text": "hello", **doc}).encode(),
                     "t.posts", partition, offset, record_s)


def keys_of(client: redis.Redis, settings: Settings) -> list[bytes]:
    return list(client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000))


async def test_a_5000_brand_post_is_dead_lettered_and_adds_no_brand(isolated: Settings) -> None:
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    await proc.process([record(0, brands=[f"flood{i}" for i in range(5000)]),
                        record(1, brands=[f"ten{i}" for i in range(10)])])
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    assert client.hgetall(keys.dead_letters) == {b"too_many_brands": b"1"}
    brands = set(texts(client.zrange(keys.brands, 0, -1)))
    assert brands == {ALL_BRANDS, *(f"ten{i}" for i in range(10))}
    # Per brand: total, offsets, 3 buckets, 3 indexes (the post has no top set: neutral-ish).
    assert len(keys_of(client, isolated)) <= 11 * 10 + 6
    await proc.sink.close()


async def test_every_brand_key_expires_and_silent_brands_are_swept(isolated: Settings) -> None:
    settings = isolated.replace(retention_minute_s=2, retention_day_s=3)
    # A 2-second hour retention is refused at start-up with drivers on (why's baseline would
    # silently shrink: settings_check.WHY_RULES); this test only watches every key expire,
    # driver keys included, so it sets it past the check.
    object.__setattr__(settings, "retention_hour_s", 2)
    produced: list[tuple[str, bytes]] = []
    proc = processor(settings, produced)
    await proc.process([record(0, brand="old", text="acme loves it")])
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    brand_keys = keys_of(client, settings)
    assert any(b":total" in k for k in brand_keys) and any(b":offsets" in k for k in brand_keys)
    for key in brand_keys:
        if key not in (keys.brands.encode(), keys.brands_written.encode(),
                       keys.live.encode(), keys.dead_letters.encode()):
            assert 0 < client.ttl(key) <= 3, key
    time.sleep(3.5)
    await proc.process([record(1, brand="new")])
    assert set(texts(client.zrange(keys.brands, 0, -1))) == {ALL_BRANDS, "new"}
    assert not client.exists(keys.total("old"), keys.offsets("old"))
    await proc.sink.close()


async def test_a_post_dated_2099_does_not_erase_a_timeline(isolated: Settings) -> None:
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    start = (int(NOW) // 60 - 180) * 60
    await proc.process([record(i, brand="apple", created_at=start + 60 * i) for i in range(179)])
    far = 4_070_908_800.0  # 2099-01-01; the record time too, so it is not future_timestamp
    await proc.process([record(179, record_s=far, brand="apple", created_at=far)])
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    minutes = ints(client.zrange(keys.bucket_index("apple", "m"), 0, -1))
    assert len(minutes) == 180 and minutes[-1] == int(far) // 60 * 60
    assert sum(int(client.hget(keys.bucket("apple", "m", m), "n") or 0)
               for m in minutes[:-1]) == 179
    # last_seen is never later than the write (the 2099 post cannot pin it in the future).
    last_seen = client.zscore(keys.brands, "apple")
    assert last_seen is not None and last_seen <= time.time()
    await proc.sink.close()


async def test_brands_beyond_the_limit_count_in_all_and_overflow(isolated: Settings) -> None:
    settings = isolated.replace(max_brands_total=3)
    produced: list[tuple[str, bytes]] = []
    proc = processor(settings, produced)
    await proc.process([record(0, brands=["a", "b"]), record(1, brand="a")])
    await proc.process([record(2, brands=["c", "d", "e"]), record(3, brand="d"),
                        record(4, brands=["a", "e"])])
    proc._admitted.clear()  # as a restarted worker: the index in Redis decides alone
    await proc.process([record(5, brand="f"), record(6, brand="c")])
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    assert set(texts(client.zrange(keys.brands, 0, -1))) == {ALL_BRANDS, "a", "b", "c"}

    def n(brand: str) -> int:
        return int(client.hget(keys.total(brand), "n") or 0)

    assert (n(ALL_BRANDS), n("a"), n("b"), n("c")) == (7, 3, 1, 2)
    assert n(OVERFLOW) == 4  # posts 2 (d, e), 3 (d), 4 (e) and 5 (f): each once
    assert not client.exists(keys.total("d"), keys.total("e"), keys.total("f"))
    assert proc.metrics.brands_refused._value.get() == 3  # d and e, then f
    await proc.sink.close()


async def test_only_the_brands_of_the_file_when_asked(isolated: Settings) -> None:
    settings = isolated.replace(explicit_brands="file")
    produced: list[tuple[str, bytes]] = []
    proc = processor(settings, produced)  # brands file: acme, globex, initech
    await proc.process([record(0, brands=["ACME", "spam1"]), record(1, brand="spam2"),
                        record(2, text="about globex")])
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    assert set(texts(client.zrange(keys.brands, 0, -1))) == {ALL_BRANDS, "acme",
                                                                      "globex"}
    assert int(client.hget(keys.total(ALL_BRANDS), "n") or 0) == 3
    await proc.sink.close()


async def test_a_step_raising_on_one_record_dead_letters_it_alone(
        isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch_deltas  # what the pipeline calls

    def fragile(posts: Any, *args: Any) -> Any:
        if "p37" in posts.ids:
            raise KeyError("a bug only p37 triggers")
        return real(posts, *args)

    monkeypatch.setattr(pipeline, "batch_deltas", fragile)
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    records = [record(i, partition=i % 3, brand="acme") for i in range(100)]
    await proc.process(records)
    letter = only_dead_letter(isolated, produced, "invalid_record", 37, acme_posts=99)
    assert letter["detail"].startswith("KeyError")
    assert proc.last_offsets == {0: 99, 1: 97, 2: 98}
    assert 0 < proc.metrics.batch_splits._value.get() <= 2 * 7  # ~2 log2(100) halves
    await proc.sink.close()


async def test_live_announcements_stay_small_for_a_brand_flood(isolated: Settings) -> None:
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    # 300 brands (the teardown deletes keys one by one); the bound does not depend on it.
    records = [record(i, brands=[f"b{i}-{j}" for j in range(3)],
                      created_at=NOW - 60 * (i % 50)) for i in range(100)]
    await proc.process(records)
    client = redis.Redis.from_url(isolated.redis_url)
    (_, fields), = stream_entries(client.xrange(KeyScheme(isolated.redis_prefix).live))
    payload = json.loads(fields["data"])
    assert len(fields["data"].encode()) < 8_000
    assert payload["brands"][ALL_BRANDS]["n"] == 100  # what every reader sums
    listed = [b for b in payload["brands"] if b != ALL_BRANDS]
    assert len(listed) == isolated.live_max_brands
    assert payload["more"] == {"brands": 300 - len(listed), "n": 300 - len(listed)}
    assert all(len(c["minutes"]) <= pipeline.LIVE_MAX_MINUTES for c in payload["brands"].values())
    await proc.sink.close()


async def test_a_giant_author_does_not_blow_up_the_batch_memory(isolated: Settings) -> None:
    """One post's 100,000-character author (inside the record limit) made the unique-authors
    step allocate a fixed-width array of every author of the batch at that width: 512 posts,
    200 MB. It is dead-lettered with its reason; its neighbours count, with their authors."""
    import tracemalloc

    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    batch = [record(i, author=f"a{i % 7}") for i in range(511)]
    batch.insert(200, record(511, author="x" * 100_000))
    tracemalloc.start()
    try:
        await proc.process(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    await proc.sink.close()
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    dead = only_dead_letter(isolated, produced, "author_too_long", 511, 0)
    assert "author" in dead["detail"] and "limit" in dead["detail"], dead
    assert int(client.hget(keys.total(ALL_BRANDS), "n") or 0) == 511
    assert client.pfcount(*client.scan_iter(match=keys.brand_tag(ALL_BRANDS).replace(
        "{", "\\{") + ":authors:d:*")) == 7


async def test_a_giant_post_id_is_dead_lettered_and_stored_nowhere(isolated: Settings) -> None:
    """Post ids had no limit: a 100,000-character id (inside the record limit) went into the
    top-post sets and the driver example lists of every brand of the post, for the retention.
    It is dead-lettered with its reason; its neighbours count, their ids stored as usual."""
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    # A text the stand-in model labels positive, so that its post is a top-post candidate.
    text = next(t for t in (f"acme is great {i}" for i in range(100))
                if zlib.crc32(t.encode()) % 3 == 2)
    batch = [record(i, brand="acme", text=text) for i in range(20)]
    batch.insert(7, RawRecord(json.dumps({"id": "x" * 100_000, "text": text, "brand": "acme"})
                              .encode(), "t.posts", 1, 0, NOW))
    await proc.process(batch)
    await proc.sink.close()
    client = redis.Redis.from_url(isolated.redis_url)
    stored = sum(client.memory_usage(k) or 0 for k in keys_of(client, isolated))
    assert stored < 100_000, f"{stored} bytes stored for 20 short posts"
    tops = [k for k in keys_of(client, isolated) if client.type(k) == b"zset" and b":top" in k]
    assert tops and any(b'"id": "p3"' in m for k in tops for m in client.zrange(k, 0, -1))
    dead = only_dead_letter(isolated, produced, "id_too_long", 0, 20)
    assert f"limit {MAX_ID_CHARS}" in dead["detail"], dead
