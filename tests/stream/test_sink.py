"""The apply script and the batch processor against the real Redis: exact under redelivery.

Kafka is replaced by a list here (and the model by a deterministic stand-in) to replay chosen
redelivery patterns; the worker tests in test_worker.py run the whole thing for real.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster

from sentistream.settings import Settings
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, KeyScheme
from stream.schema.live import Announcement
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import Brand, BrandMatcher, BrandsFile
from stream.worker.languages import Routed
from stream.worker.metrics import WorkerMetrics
from stream.worker.pipeline import BatchProcessor
from stream.worker.posts import RawRecord, parse_batch
from stream.worker.sink import APPLIED, PARTIAL, SKIPPED, CallBuilder, RedisSink

pytestmark = pytest.mark.integration
BRANDS = ["acme", "globex", "initech"]


@dataclass
class Scores:
    labels: np.ndarray
    probs: np.ndarray
    intensity: np.ndarray


class StandIn:
    """A deterministic per-text scorer (the real model runs in test_worker.py)."""

    version = "stand-in"

    def score(self, texts: list[str]) -> Scores:
        h = np.array([zlib.crc32(t.encode()) for t in texts], np.int64)
        return Scores(h % 3, np.full((len(texts), 3), 1 / 3, np.float32),
                      ((h % 2001) - 1000).astype(np.float32) / 1000)

    def score_posts(self, texts: Sequence[str],
                    langs: Sequence[str | None] | None = None) -> Routed:
        """Every post in English (routing itself is tested with the real model)."""
        s = self.score(list(texts))
        return Routed(["en"] * len(texts), s.labels, s.probs, s.intensity)


def make_records(n: int, partitions: int = 3, seed: int = 1) -> list[RawRecord]:
    rng = random.Random(seed)
    out, next_offset = [], [0] * partitions
    for i in range(n):
        part = rng.randrange(partitions)
        text = f"post {i} " + " ".join(rng.sample(BRANDS, rng.randrange(3)))
        value = json.dumps({"id": f"p{i}", "text": text,
                            "created_at": 1.6e9 + rng.randrange(3 * 86400)}).encode()
        if i % 97 == 0:
            value = b"\xff not utf-8"
        out.append(RawRecord(value, "t.posts", part, next_offset[part], 1.7e9))
        next_offset[part] += 1
    return out


def truth(records: list[RawRecord], matcher: BrandMatcher) -> dict[str, BucketCounts]:
    posts, _ = parse_batch(records, 2000)
    s = StandIn().score(posts.texts)
    brands = matcher.brands_of(posts.texts, posts.explicit_brands)
    totals: dict[str, BucketCounts] = {}
    for d in batch_deltas(posts, brands, s.labels, s.intensity, 0):
        totals.setdefault(d.brand, BucketCounts()).merge(d.total)
    return totals


def by_partition(records: list[RawRecord]) -> dict[int, list[RawRecord]]:
    out: dict[int, list[RawRecord]] = {}
    for r in records:
        out.setdefault(r.partition, []).append(r)
    return out


def redeliveries(by_part: dict[int, list[RawRecord]], rng: random.Random, back: int,
                 most: int) -> Iterator[list[RawRecord]]:
    """Batches as Kafka delivers them again after crashes: per partition, each starts anywhere
    from ``back`` records before the last applied one to one past it and holds up to ``most``
    records, so batches overlap at random; until every record was applied at least once."""
    applied = {p: 0 for p in by_part}
    while any(applied[p] < len(rs) for p, rs in by_part.items()):
        batch: list[RawRecord] = []
        for p, rs in by_part.items():
            start = rng.randrange(max(0, applied[p] - back), applied[p] + 1)
            end = min(len(rs), start + rng.randrange(1, most))
            batch += rs[start:end]
            applied[p] = max(applied[p], end)
        yield batch


def only_dead_letter(settings: Settings, produced: list[tuple[str, bytes]], reason: str,
                     offset: int, acme_posts: int) -> dict[str, Any]:
    """The one dead letter a batch produced, checked against Redis: its reason counted once,
    and ``acme_posts`` posts of the batch counted for acme."""
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    assert int(client.hget(keys.total("acme"), "n") or 0) == acme_posts
    assert client.hgetall(keys.dead_letters) == {reason.encode(): b"1"}
    letters = [json.loads(v) for topic, v in produced if topic == settings.topic_dead_letters]
    assert [(x["reason"], x["offset"]) for x in letters] == [(reason, offset)]
    return dict(letters[0])


def read_totals(client: redis.Redis | RedisCluster, keys: KeyScheme,
                brands: list[str]) -> dict[str, Any]:
    return {b: BucketCounts.from_fields(client.hgetall(keys.total(b))) for b in brands}


def processor(settings: Settings, produced: list[tuple[str, bytes]]) -> BatchProcessor:
    async def produce(topic: str, records: Any) -> None:
        produced.extend((topic, value) for _, value, _ in records)

    brands = BrandsFile.__new__(BrandsFile)
    brands.matcher = BrandMatcher([Brand(b) for b in BRANDS])
    brands.current = lambda: brands.matcher  # type: ignore[method-assign]
    return BatchProcessor(settings, StandIn(), RedisSink(settings), produce, WorkerMetrics(),
                          brands)


async def test_redelivered_overlapping_batches_are_counted_once(isolated: Settings) -> None:
    settings = isolated.replace(top_posts=3)
    records = make_records(3000)
    produced: list[tuple[str, bytes]] = []
    proc = processor(settings, produced)
    # Replay per partition like Kafka does after crashes: each batch starts anywhere between the
    # "committed" offset and one past the last applied, so batches overlap at random.
    rng = random.Random(7)
    for batch in redeliveries(by_partition(records), rng, back=200, most=400):
        rng.shuffle(batch)  # partitions interleave; order within a partition is kept below
        batch.sort(key=lambda r: (r.partition, r.offset))
        await proc.process(batch)
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    expected = truth(records, proc.brands.current())
    assert read_totals(client, keys, list(expected)) == expected
    assert proc.metrics.redelivered.labels("partial")._value.get() > 0  # the paths were hit
    assert proc.metrics.redelivered.labels("skipped")._value.get() > 0
    bad = sum(1 for r in records if r.value and r.value.startswith(b"\xff"))
    assert int(client.hget(keys.dead_letters, "invalid_utf8") or 0) == bad
    for brand in expected:
        for key in client.scan_iter(match=f"{keys.brand_tag(brand)}:top:*".replace("{", "\\{")):
            assert client.zcard(key) <= 3
    await proc.sink.close()


async def test_script_skip_apply_partial_and_lost_script(isolated: Settings) -> None:
    records = make_records(50, partitions=1)
    posts, _ = parse_batch(records, 2000)
    s = StandIn().score(posts.texts)
    brands = [()] * len(posts)
    calls = CallBuilder(isolated)
    sink = RedisSink(isolated)
    first = posts.select(posts.offsets < 30)
    late = posts.select(posts.offsets >= 20)

    def call_for(p: Any) -> Any:
        mask = np.isin(posts.offsets, p.offsets)
        (delta,) = batch_deltas(p, brands[:len(p)], s.labels[mask], s.intensity[mask], 2)
        return calls.group_call("t.posts", delta)

    assert [o.status for o in await sink.apply([call_for(first)], {})] == [APPLIED]
    assert [o.status for o in await sink.apply([call_for(first)], {})] == [SKIPPED]
    outcome = (await sink.apply([call_for(late)], {}))[0]
    assert (outcome.status, outcome.stored_offset) == (PARTIAL, int(first.offsets.max()))
    client = redis.Redis.from_url(isolated.redis_url)
    client.script_flush()  # as after a Redis restart
    rest = posts.select(posts.offsets > outcome.stored_offset)
    assert [o.status for o in await sink.apply([call_for(rest)], {ALL_BRANDS: 1.6e9})] == [APPLIED]
    keys = KeyScheme(isolated.redis_prefix)
    total = BucketCounts.from_fields(client.hgetall(keys.total(ALL_BRANDS)))
    assert total.n == len(posts)
    minute = client.keys(keys.bucket(ALL_BRANDS, "m", 0).replace(":0", ":*").replace("{", "\\{"))
    assert minute and 0 < client.ttl(minute[0]) <= isolated.retention_minute_s
    # The total and offsets go with the brand, after the longest retention of silence.
    assert client.ttl(keys.total(ALL_BRANDS)) == isolated.retention_day_s
    assert client.ttl(keys.offsets(ALL_BRANDS)) == isolated.retention_day_s
    assert client.zscore(keys.brands, ALL_BRANDS) == 1.6e9
    await sink.close()


class Fragile(StandIn):
    """A model that fails on some texts: they must become dead letters, the rest counted."""

    def score(self, texts: list[str]) -> Scores:
        if any("boom" in t for t in texts):
            raise RuntimeError("kaboom")
        return super().score(texts)


async def test_posts_the_model_fails_on_become_dead_letters(isolated: Settings) -> None:
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    proc.scorer = Fragile()
    values = [json.dumps({"id": str(i), "text": "boom acme" if i == 3 else f"ok acme {i}"})
              for i in range(6)]
    await proc.process([RawRecord(v.encode(), "t.posts", 0, i, 1.7e9)
                        for i, v in enumerate(values)])
    letter = only_dead_letter(isolated, produced, "model_error", 3, acme_posts=5)
    assert base64.b64decode(letter["value_b64"]) == values[3].encode()
    await proc.sink.close()


async def test_readers_never_see_half_a_batch(isolated: Settings) -> None:
    """With SENTISTREAM_WRITE_TRANSACTION, a batch's groups become visible together: Redis
    reads a pipeline 16 KB at a time and serves other clients (and, under ``appendfsync
    always``, fsyncs) between the pieces, so a batch of a few hundred KB sent as a plain
    pipeline was seen half applied (and cost one fsync per piece). One MULTI/EXEC makes it one
    step for every reader."""
    n = 300
    records = [RawRecord(json.dumps({"id": f"p{i}", "text": f"post {i} " + "x" * 1500,
                                     "created_at": 1.6e9 + i}).encode(),
                         "t.posts", 0, i, 1.7e9) for i in range(n)]
    posts, _ = parse_batch(records, 2000)
    brands = [(f"brand{i:03d}",) for i in range(n)]
    s = StandIn().score(posts.texts)
    deltas = batch_deltas(posts, brands, s.labels, s.intensity, 3)
    settings = isolated.replace(write_transaction=1)
    calls = [CallBuilder(settings).group_call("t.posts", d) for d in deltas]
    assert sum(len(str(c.args)) for c in calls) > 20 * 16_384  # many of Redis's reads
    keys = KeyScheme(isolated.redis_prefix)
    first, last = keys.total(brands[0][0]), keys.total(brands[-1][0])
    client = redis.Redis.from_url(isolated.redis_url)
    seen: set[tuple[bytes | None, bytes | None]] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            pipe.hget(first, "n")
            pipe.hget(last, "n")
            a, b = pipe.execute()
            seen.add((a, b))

    watcher = threading.Thread(target=watch)
    watcher.start()
    sink = RedisSink(settings)
    try:
        await asyncio.sleep(0.05)
        assert [o.status for o in await sink.apply(calls, {})] == [APPLIED] * len(calls)
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
        await sink.close()
    assert (b"1", b"1") in seen and (None, None) in seen  # the watcher saw before and after
    assert seen == {(None, None), (b"1", b"1")}  # and nothing in between


async def test_a_fresh_batch_is_announced_with_its_counts(isolated: Settings) -> None:
    """With SENTISTREAM_WRITE_TRANSACTION, a reader that sees a batch's counts finds its live
    announcement too: a fresh batch's announcement goes in the same transaction as its writes
    (it was a round trip of its own after the produces' acks, ~20 ms a batch at 2,000 posts/s,
    with an fsync of its own). A redelivered batch announces nothing again, and a partly
    redelivered one only what it adds."""
    records = make_records(60, partitions=1, seed=3)
    keys = KeyScheme(isolated.redis_prefix)
    client = redis.Redis.from_url(isolated.redis_url)
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated.replace(write_transaction=1), produced)
    slow_produce = proc.produce

    async def produce(topic: str, records: Any) -> None:
        await asyncio.sleep(0.05)  # a broker's ack takes a while
        await slow_produce(topic, records)

    proc.produce = produce
    seen: set[tuple[bytes | None, int]] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            pipe = client.pipeline(transaction=True)
            pipe.hget(keys.total(ALL_BRANDS), "n")
            pipe.xlen(keys.live)
            n, announced = pipe.execute()
            seen.add((n, announced))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        await asyncio.sleep(0.05)
        await proc.process(records[:40])
        await asyncio.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
    valid = len(parse_batch(records[:40], 2000)[0])
    assert seen == {(None, 0), (str(valid).encode(), 1)}  # counts and announcement together

    def announced() -> list[Announcement]:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(keys.live)  # type: ignore[assignment]
        return [a for _, fields in entries
                if (a := Announcement.from_json(fields[b"data"])) is not None]

    (first,) = announced()
    assert first.brands[ALL_BRANDS].counts.n == valid
    await proc.process(records[:40])  # redelivered whole: counted and announced once
    assert len(announced()) == 1
    await proc.process(records[30:])  # partly: only the 20 new records are announced
    later = announced()
    assert len(later) == 2
    assert later[1].brands[ALL_BRANDS].counts.n == len(parse_batch(records[40:], 2000)[0])
    await proc.sink.close()
