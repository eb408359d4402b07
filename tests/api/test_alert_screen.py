"""The alert check's narrowed work gives the detector's alerts, exactly.

``stream.worker.alerts.screen`` hands ``detect`` only the minutes whose z reaches 90% of the
threshold, and the read skips the baseline of a brand none of whose judged minutes has
min_volume posts. Both must be invisible in the result: the alerts equal those of ``detect`` run
on every minute, as the check did before (pure, on random data of both metrics, and on real
Redis, with brands that are quiet, small, spiking or dropping, and a window that slid past a
brand's burst with no new posts since).
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import redis.asyncio as aioredis

from sentistream.settings import Settings
from stream.schema.counts import BucketCounts
from stream.schema.keys import BUCKET_FIELDS, KeyScheme
from stream.worker.alerts.detector import Alert, AlertRules, detect
from stream.worker.alerts.hook import BASELINE_GAP, MINUTE, BaselineCache, evaluate
from stream.worker.alerts.screen import candidates

T0 = 1_764_000_000 // 60 * 60
BEHIND = 30 + BASELINE_GAP


def bucket(rng: random.Random, n: int, tilt: float) -> BucketCounts:
    """``n`` posts, ~10% of them unscored (another language), positive share ~0.4 + tilt."""
    scored = n - rng.randint(0, n // 10)
    pos = min(scored, max(0, int(scored * (0.4 + tilt) + rng.randint(-3, 3))))
    neg = min(scored - pos, max(0, int(scored * (0.3 - tilt) + rng.randint(-3, 3))))
    return BucketCounts(n, neg, scored - pos - neg, pos,
                        (pos - neg) * 600_000 + rng.randint(-50_000, 50_000))


def history(rng: random.Random, minutes: int) -> list[BucketCounts]:
    """A brand's minutes: some quiet, some empty, some busy, now and then a swing or a spike."""
    level = rng.choice([0, 2, 20, 60, 300])
    out = []
    for _ in range(minutes):
        n = 0 if rng.random() < 0.15 else max(0, int(rng.gauss(level, level ** 0.5 + 1)))
        tilt = rng.choice([0.0] * 8 + [0.3, -0.3])
        if rng.random() < 0.05:
            n *= rng.choice([3, 8])
        out.append(bucket(rng, n, tilt))
    return out


def detect_all(brand: str, series: list[BucketCounts], judged: list[int], rules: AlertRules
               ) -> list[Alert]:
    """The check before the screen: ``detect`` on every judged minute (indexes of ``series``)."""
    out = []
    for i in judged:
        base = series[i - BEHIND:i - BASELINE_GAP]
        out.extend(detect(brand, T0 + i * MINUTE, series[i], base, rules, 0.0))
    return out


@pytest.mark.parametrize("metric", ["nss", "intensity"])
def test_the_screen_keeps_every_minute_that_alerts(metric: str) -> None:
    rng = random.Random(f"screen-{metric}")
    rules = AlertRules(metric=metric)
    current, baselines, alerting = [], [], []
    alerting_alerts: list[Alert] = []
    for _ in range(6000):
        series = history(rng, BEHIND + 1)
        if rng.random() < 0.1:  # a swing of the minute judged, near or over the threshold
            series[-1] = bucket(rng, max(series[-1].n, rng.choice([40, 200, 800])),
                                rng.uniform(-0.5, 0.6))
        current.append(series[-1].as_tuple())
        baselines.append([c.as_tuple() for c in series[:-BASELINE_GAP - 1]])
        alerts = detect("b", T0, series[-1], series[:-BASELINE_GAP - 1], rules, 0)
        alerting.append(bool(alerts))
        alerting_alerts.extend(alerts)
    kept = candidates(np.asarray(current, np.int64), np.asarray(baselines, np.int64), rules)
    kinds = Counter(a.kind for a in alerting_alerts)
    assert min(kinds[k] for k in ("sentiment_drop", "sentiment_rise", "volume_spike")) >= 5, kinds
    assert not [i for i, a in enumerate(alerting) if a and not kept[i]]
    assert kept.sum() < 0.5 * len(kept)  # and the screen does narrow the work


@pytest.mark.integration
async def test_the_check_finds_what_detect_on_every_minute_finds(isolated: Settings) -> None:
    rules = AlertRules()
    rng = random.Random("check")
    client = aioredis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    series = {f"brand{i}": history(rng, BEHIND + 4) for i in range(100)}
    for minutes in series.values():  # swings and spikes among the judged minutes
        i = rng.randrange(BEHIND, BEHIND + 4)
        minutes[i] = bucket(rng, max(minutes[i].n, rng.choice([40, 200])), rng.uniform(-0.5, 0.6))
    # A brand whose burst (minute 33) has slid into the baseline, with no posts since: judged
    # at minutes 34 and 35 it is empty (cannot alert), at 33 it still drops.
    calm = [bucket(rng, 60, 0.0) for _ in range(BEHIND + 2)]
    series["slid"] = [*calm, bucket(rng, 300, -0.35), BucketCounts(), BucketCounts()]
    # A small brand: its judged minute is under min_volume, so its baseline is never read.
    series["small"] = [bucket(rng, 5, 0.0) for _ in range(BEHIND + 4)]
    try:
        for brand, minutes in series.items():
            for i, c in enumerate(minutes):
                if c.n:
                    await client.hset(keys.bucket(brand, "m", T0 + i * MINUTE),
                                      mapping=c.fields())  # type: ignore[arg-type]
        judged = {b: list(range(BEHIND, len(s))) for b, s in series.items()}
        touched = {b: [T0 + i * MINUTE for i in js] for b, js in judged.items()}
        got = await evaluate(client, keys, rules, touched, 0.0)
        # With the worker's baseline cache: a first check reads in full, the next ones (all the
        # judged minutes at once, then one at a time) take the baselines from what it read.
        cache = BaselineCache()
        cached = [await evaluate(client, keys, rules, touched, 0.0, cache) for _ in range(2)]
        one_by_one = [a for j in range(4) for a in await evaluate(
            client, keys, rules, {b: [T0 + (BEHIND + j) * MINUTE] for b in series}, 0.0, cache)]
    finally:
        await client.aclose()
    want = [a for b, js in judged.items() for a in detect_all(b, series[b], js, rules)]
    assert len(want) > 10
    assert got == want
    assert cached == [want, want]
    assert sorted(one_by_one, key=lambda a: a.id) == sorted(want, key=lambda a: a.id)
    burst = T0 + (BEHIND + 2) * MINUTE
    assert [(a.kind, a.bucket) for a in got if a.brand == "slid"] == [
        ("sentiment_drop", burst), ("volume_spike", burst)]
    assert BUCKET_FIELDS[0] == "n"  # the read checks min_volume on the first field
