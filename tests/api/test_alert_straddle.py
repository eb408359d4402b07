"""A burst straddling a minute boundary still alerts (the worker's alert read, real Redis).

CI once saw `sentistream generate --burst` split 24 + 184 posts across a boundary: the first
minute was under SENTISTREAM_ALERT_MIN_VOLUME, so it could not alert itself, and it entered the
next minute's baseline, whose spread then hid the drop (z -2.6 against 4; only a volume spike).
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from sentistream.settings import Settings
from stream.schema.counts import BucketCounts
from stream.schema.keys import KeyScheme
from stream.worker.alerts.detector import AlertRules
from stream.worker.alerts.hook import evaluate

pytestmark = pytest.mark.integration
RULES = AlertRules(baseline_buckets=30, min_baseline=3, min_volume=30, z=4.0, volume_z=4.0)
T0 = 1_764_000_000 // 60 * 60


def counts(pos: int, neu: int, neg: int) -> BucketCounts:
    n = pos + neu + neg
    return BucketCounts(n, neg, neu, pos, (pos - neg) * 500_000)


async def test_a_burst_straddling_a_minute_boundary_is_a_drop(isolated: Settings) -> None:
    client = aioredis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    # Six ordinary minutes (~60 posts, NSS ~ +0.2), then the burst's first 24 posts at the end
    # of minute 6 and its other 184 in minute 7, mostly negative.
    minutes = [counts(22 + i % 3, 26, 12 - i % 2) for i in range(6)]
    minutes += [counts(2, 3, 19), counts(12, 30, 142)]
    try:
        for i, c in enumerate(minutes):
            await client.hset(keys.bucket("acme", "m", T0 + 60 * i),
                              mapping=c.fields())  # type: ignore[arg-type]
        straddle, burst = T0 + 60 * 6, T0 + 60 * 7
        alerts = await evaluate(client, keys, RULES, {"acme": [straddle, burst]}, 0.0)
    finally:
        await client.aclose()
    drops = [a for a in alerts if a.kind == "sentiment_drop"]
    assert [a.bucket for a in drops] == [burst], [(a.kind, a.bucket, a.z) for a in alerts]
