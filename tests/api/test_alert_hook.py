"""The worker's background alert check: a Redis outage delays an alert, never loses it, and what
waits for the next check stays bounded.

The check runs off the batch path (``BackgroundAlerts``): a batch hands it the minutes it touched
and is acked without waiting. A check that fails (Redis down, paused, timing out) must keep those
minutes and check them again once Redis answers: no later batch may ever touch that minute again
(the burst is over), so dropping them lost the alert for good.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sentistream.settings import Settings
from stream.schema.counts import BucketCounts
from stream.schema.keys import KeyScheme
from stream.schema.live import BrandChange
from stream.worker.alerts.detector import AlertRules
from stream.worker.alerts.hook import (
    CHECK_RETRY_MAX_S,
    MAX_MINUTES_PER_BRAND,
    MINUTE,
    BackgroundAlerts,
    BaselineCache,
    evaluate,
)

BRAND = "acme"


def write_burst(settings: Settings, brand: str = BRAND) -> int:
    """31 ordinary minutes of 200 posts, then a minute whose sentiment collapses; its start."""
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    judged = int(time.time()) // MINUTE * MINUTE
    pipe = client.pipeline(transaction=False)
    for m in range(32):
        start = judged - (31 - m) * MINUTE
        pos, neg = (120, 40) if m < 31 else (20, 160)
        counts = BucketCounts(200, neg, 200 - pos - neg, pos, (pos - neg) * 600_000)
        pipe.hset(keys.bucket(brand, "m", start), mapping=counts.fields())  # type: ignore[arg-type]
    pipe.execute()
    return judged


def stored_alerts(settings: Settings) -> list[str]:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    return sorted(str(k) for k in client.hkeys(KeyScheme(settings.redis_prefix).alerts))


def hmget_calls(settings: Settings) -> int:
    stats = redis.Redis.from_url(settings.redis_url).info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


@pytest.mark.integration
async def test_an_alert_checked_during_a_redis_outage_fires_once_redis_answers(
        isolated: Settings) -> None:
    judged = write_burst(isolated)
    # The check's own client times out fast and does not retry: the outage reaches the check.
    client = aioredis.Redis.from_url(isolated.redis_url, socket_timeout=0.2,
                                     retry=Retry(NoBackoff(), 0))
    alerts = BackgroundAlerts(client, isolated)
    try:
        # Redis answers no client for 2.5 s: a real outage as the worker's client sees it.
        redis.Redis.from_url(isolated.redis_url).client_pause(2500, all=True)
        paused = time.monotonic()
        alerts.submit({BRAND: BrandChange(minutes=[judged])})  # the burst's only batch
        # Documented bound: the outage, plus at most one retry wait, plus one check.
        await asyncio.wait_for(alerts.idle(), 2.5 + CHECK_RETRY_MAX_S + 5.0)
        assert time.monotonic() - paused >= 2.0  # it did wait out the outage
    finally:
        await client.aclose()
    assert stored_alerts(isolated) == [f"{BRAND}:sentiment_drop:{judged}"]


@pytest.mark.integration
async def test_what_waits_for_the_next_check_is_bounded_per_brand(isolated: Settings) -> None:
    """Many batches (or an outage's worth of them) before a check: each brand keeps only its
    newest MAX_MINUTES_PER_BRAND minutes, the ones a check would judge anyway."""
    client = aioredis.Redis.from_url(isolated.redis_url)
    alerts = BackgroundAlerts(client, isolated)
    try:
        for k in range(100):  # no await in between: no check has run yet
            alerts.submit({BRAND: BrandChange(minutes=[k * MINUTE, (k + 1) * MINUTE])})
        assert sorted(alerts._pending[BRAND]) == [
            m * MINUTE for m in range(101 - MAX_MINUTES_PER_BRAND, 101)]
    finally:
        await alerts.idle()
        await client.aclose()


def write_brands(settings: Settings, brands: int, judged: int,
                 current: BucketCounts | None = None) -> None:
    """Brands with 31 ordinary minutes of 200 posts (NSS 0.4) before ``judged``, and ``judged``
    itself (``current``, else another ordinary minute)."""
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    ordinary = BucketCounts(200, 40, 40, 120, 80 * 600_000)
    pipe = client.pipeline(transaction=False)
    for b in range(brands):
        for m in range(32):
            counts = current if m == 31 and current is not None else ordinary
            pipe.hset(keys.bucket(f"b{b}", "m", judged - (31 - m) * MINUTE),
                      mapping=counts.fields())  # type: ignore[arg-type]
    pipe.execute()


@pytest.mark.integration
async def test_a_check_of_a_minute_checked_before_reads_only_that_minute(
        isolated: Settings) -> None:
    """At 2,000 posts/s every check judged the same minute of each brand ~60 times and read its
    32 baseline buckets each time: most of the check's Redis and loop time. A check within
    BASELINE_TTL_S of the last reads each brand's judged minute alone."""
    brands, judged = 20, int(time.time()) // MINUTE * MINUTE
    write_brands(isolated, brands, judged)
    client = aioredis.Redis.from_url(isolated.redis_url)
    alerts = BackgroundAlerts(client, isolated)
    changes = {f"b{b}": BrandChange(minutes=[judged]) for b in range(brands)}
    try:
        before = hmget_calls(isolated)
        alerts.submit(changes)
        await alerts.idle()
        first = hmget_calls(isolated) - before
        alerts.submit(changes)  # the next batch, in the same minute
        await alerts.idle()
        second = hmget_calls(isolated) - before - first
    finally:
        await client.aclose()
    assert first == brands * 32
    assert second == brands


def late_posts(settings: Settings, brand: str, minute: int) -> None:
    """2,000 negative posts arriving late into a baseline minute: the baseline swings so much
    that a drop of 0.4 in NSS is no longer an alert."""
    keys = KeyScheme(settings.redis_prefix)
    redis.Redis.from_url(settings.redis_url).hset(
        keys.bucket(brand, "m", minute),
        mapping=BucketCounts(2000, 2000, 0, 0, -2000 * 600_000).fields())  # type: ignore[arg-type]


@pytest.mark.integration
async def test_a_cached_baseline_never_hides_a_write_from_this_worker_or_another_for_long(
        isolated: Settings) -> None:
    """A baseline bucket that changed since it was read: the next check must not judge with the
    old one. This worker's own writes (``submit`` forgets them) are seen by the very next check;
    another worker's, which this one cannot see, after at most the cache's TTL."""
    judged = int(time.time()) // MINUTE * MINUTE
    write_brands(isolated, 2, judged, current=BucketCounts(200, 80, 40, 80, 0))  # NSS 0.4 -> 0
    client = aioredis.Redis.from_url(isolated.redis_url)
    keys, rules = KeyScheme(isolated.redis_prefix), AlertRules()
    cache = BaselineCache(ttl_s=0.5)
    touched = {"b0": [judged], "b1": [judged]}
    drops = [f"b0:sentiment_drop:{judged}", f"b1:sentiment_drop:{judged}"]

    async def check(with_cache: bool = True) -> list[str]:
        cache.begin()
        try:
            found = await evaluate(client, keys, rules, touched, 0.0,
                                   cache if with_cache else None)
            return sorted(a.id for a in found)
        finally:
            cache.end()

    try:
        assert await check() == drops  # both brands' baselines now held
        late_posts(isolated, "b0", judged - 5 * MINUTE)  # this worker's batch wrote these
        cache.forget("b0", [judged - 5 * MINUTE])
        late_posts(isolated, "b1", judged - 5 * MINUTE)  # another worker's: not forgotten
        assert await check(with_cache=False) == []  # what the buckets now say
        # b0 at once; b1 still from the baseline read before (the documented staleness)
        assert await check() == [f"b1:sentiment_drop:{judged}"]
        await asyncio.sleep(0.6)
        assert await check() == []  # past the TTL, b1's baseline is read again
    finally:
        await client.aclose()


def test_a_bucket_written_while_a_check_reads_it_is_not_trusted_afterwards() -> None:
    """The check reads, a batch is applied (and forgets its minutes) before the reply is stored:
    the value read may predate that write, so it must not be cached as the bucket's."""
    cache, starts = BaselineCache(), [s * MINUTE for s in range(32)]
    table = np.ones((32, 5), np.int64)
    cache.begin()
    cache.forget("b0", [starts[10]])  # applied while the read was under way
    cache.store("b0", time.monotonic(), starts, table)
    cache.store("b1", time.monotonic(), starts, table)
    cache.end()
    # 32 rows from minute 0, judged minute 31, its baseline rows 0-29 (row 30, the gap, unused)
    assert cache.baseline("b0", 0, 32, 30, [31]) is None  # read it all again
    held = cache.baseline("b1", 0, 32, 30, [31])
    assert held is not None and held.shape == (32, 5)
    cache.forget("b1", [starts[3]])  # a later batch: b1 is read in full next time too
    assert cache.baseline("b1", 0, 32, 30, [31]) is None
    cache.store("b2", time.monotonic(), starts, table)
    cache.forget("b2", [starts[31], starts[30]])  # the judged minute and the gap were written
    assert cache.baseline("b2", 0, 32, 30, [31]) is not None
    # Two minutes on (judged 33, baseline 2-31): 31 is needed now, and no longer valid
    assert cache.baseline("b2", 2 * MINUTE, 32, 30, [31]) is None
    # Judging 30 and 31 too (they are read now): the rest of 33's baseline is held
    assert cache.baseline("b2", 2 * MINUTE, 32, 30, [28, 29, 31]) is not None
