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
from stream.schema.keys import ALL_BRANDS, MENTIONS_FIELD, RESOLUTIONS, KeyScheme
from stream.worker.posts import RawRecord
from tests.query.brand_load import brand_records
from tests.replies import scored, texts
from tests.stream.test_sink import by_partition, make_records, processor, redeliveries

pytestmark = pytest.mark.integration


async def test_ranking_equals_the_brand_buckets_after_redeliveries(isolated: Settings) -> None:
    records = make_records(2000, partitions=3, seed=4)  # brands matched in the texts
    by_part = by_partition(records)
    for r in brand_records(300, 20, 1.6e9 + 86400, partitions=3):  # explicit brands
        rs = by_part[r.partition]
        rs.append(RawRecord(r.value, r.topic, r.partition, len(rs), r.timestamp_s))
    proc = processor(isolated.replace(top_posts=0), [])
    began = time.monotonic()
    for batch in redeliveries(by_part, random.Random(9), back=300, most=500):
        await proc.process(batch)
    # Each call that writes a bucket refreshes its expiry, the ranking's only when a brand has
    # posts in it: their TTLs may differ by as long as the batches took (seconds on a busy box).
    ttl_slack = 2 + (time.monotonic() - began)
    await proc.sink.close()
    assert proc.metrics.redelivered.labels("partial")._value.get() > 0

    client = redis.Redis.from_url(isolated.redis_url, decode_responses=True)
    keys = KeyScheme(isolated.redis_prefix)
    brands = [b for b in texts(client.zrange(keys.brands, 0, -1)) if b != ALL_BRANDS]
    assert len(brands) > 300
    checked = 0
    for res in RESOLUTIONS:
        starts = sorted({int(float(s)) for b in brands
                         for s in texts(client.zrange(keys.bucket_index(b, res), 0, -1))})
        for start in starts:
            want = {b: int(n) for b in brands
                    if (n := client.hget(keys.bucket(b, res, start), "n")) is not None}
            got = {b: int(n) for b, n in scored(client.zrange(keys.rank(res, start), 0, -1,
                                                              withscores=True))}
            assert got == want, (res, start)
            mentions = client.hget(keys.bucket(ALL_BRANDS, res, start), MENTIONS_FIELD)
            assert int(mentions or 0) == sum(want.values())
            assert client.ttl(keys.rank(res, start)) == (
                -1 if res == "d" and not isolated.retention_day_s else
                pytest.approx(client.ttl(keys.bucket(ALL_BRANDS, res, start)), abs=ttl_slack))
            checked += 1
    assert checked > 3 * 24
