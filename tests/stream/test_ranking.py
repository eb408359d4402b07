"""The brand ranking and mention counts the apply script keeps: exact under redelivery.

They are what the read side pages through instead of reading every brand, so they must equal
the brands' own buckets after any pattern of overlapping redeliveries.
"""

from __future__ import annotations

import random
import time

import pytest
import redis

from sentistream.settings import Settings
from stream.keys import ALL_BRANDS, MENTIONS_FIELD, RESOLUTIONS, KeyScheme
from stream.posts import RawRecord
from tests.query.brand_load import brand_records
from tests.stream.test_sink import make_records, processor

pytestmark = pytest.mark.integration


async def test_ranking_equals_the_brand_buckets_after_redeliveries(isolated: Settings) -> None:
    records = make_records(2000, partitions=3, seed=4)  # brands matched in the texts
    by_part: dict[int, list[RawRecord]] = {}
    for r in records:
        by_part.setdefault(r.partition, []).append(r)
    for r in brand_records(300, 20, 1.6e9 + 86400, partitions=3):  # explicit brands
        rs = by_part[r.partition]
        rs.append(RawRecord(r.value, r.topic, r.partition, len(rs), r.timestamp_s))
    proc = processor(isolated.replace(top_posts=0), [])
    began = time.monotonic()
    rng = random.Random(9)
    applied = {p: 0 for p in by_part}
    while any(applied[p] < len(rs) for p, rs in by_part.items()):
        batch: list[RawRecord] = []
        for p, rs in by_part.items():
            start = rng.randrange(max(0, applied[p] - 300), applied[p] + 1)
            end = min(len(rs), start + rng.randrange(1, 500))
            batch += rs[start:end]
            applied[p] = max(applied[p], end)
        await proc.process(batch)
    await proc.sink.close()
    assert proc.metrics.redelivered.labels("partial")._value.get() > 0

    client = redis.Redis.from_url(isolated.redis_url, decode_responses=True)
    keys = KeyScheme(isolated.redis_prefix)
    brands = [b for b in client.zrange(keys.brands, 0, -1) if b != ALL_BRANDS]
    assert len(brands) > 300
    checked = 0
    for res in RESOLUTIONS:
        starts = sorted({int(float(s)) for b in brands
                         for s in client.zrange(keys.bucket_index(b, res), 0, -1)})
        for start in starts:
            want = {b: int(n) for b in brands
                    if (n := client.hget(keys.bucket(b, res, start), "n")) is not None}
            got = {b: int(n) for b, n in client.zrange(keys.rank(res, start), 0, -1,
                                                       withscores=True)}
            assert got == want, (res, start)
            mentions = client.hget(keys.bucket(ALL_BRANDS, res, start), MENTIONS_FIELD)
            assert int(mentions or 0) == sum(want.values())
            assert client.ttl(keys.rank(res, start)) == (
                -1 if res == "d" and not isolated.retention_day_s else
                # A bucket's last write may have had no branded post (no rank write): its
                # rank set's expiry was set at most the whole replay earlier.
                pytest.approx(client.ttl(keys.bucket(ALL_BRANDS, res, start)),
                              abs=2 + time.monotonic() - began))
            checked += 1
    assert checked > 3 * 24
