"""The alert detector's pure logic: z-scores against a trailing baseline (no server)."""

from __future__ import annotations

import random

import pytest

from stream.schema.counts import BucketCounts
from stream.schema.live import BrandChange
from stream.worker.alerts.detector import AlertConfigError, AlertRules, detect
from stream.worker.alerts.hook import touched_minutes

RULES = AlertRules(baseline_buckets=10, min_baseline=5, min_volume=30, z=4.0, volume_z=4.0)


def bucket(pos: int, neu: int, neg: int, intensity: float = 0.0) -> BucketCounts:
    n = pos + neu + neg
    return BucketCounts(n, neg, neu, pos, round(intensity * 1e6 * n))


def steady(n: int = 10, seed: int = 1) -> list[BucketCounts]:
    """Minutes of about 100 posts, about 40% positive and 25% negative."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pos, neg = rng.randint(36, 44), rng.randint(21, 29)
        out.append(bucket(pos, 100 - pos - neg, neg))
    return out


def kinds(current: BucketCounts, baseline: list[BucketCounts],
          rules: AlertRules = RULES) -> list[str]:
    return [a.kind for a in detect("acme", 600, current, baseline, rules, 0.0)]


def test_a_negative_burst_is_a_sentiment_drop() -> None:
    alerts = detect("acme", 600, bucket(20, 10, 70), steady(), RULES, 0.0)
    assert [a.kind for a in alerts] == ["sentiment_drop"]
    assert alerts[0].z < -4 and alerts[0].value == pytest.approx(-0.5)
    assert alerts[0].id == "acme:sentiment_drop:600"


def test_a_nearly_empty_baseline_minute_does_not_hide_a_drop() -> None:
    baseline = [*steady()[:-1], bucket(1, 0, 0)]  # one post, NSS +1
    assert kinds(bucket(20, 10, 70), baseline) == ["sentiment_drop"]


def test_a_positive_swing_is_a_rise_and_a_flood_is_a_volume_spike() -> None:
    assert kinds(bucket(80, 15, 5), steady()) == ["sentiment_rise"]
    assert kinds(bucket(160, 100, 90), steady()) == ["volume_spike"]


def test_ordinary_minutes_do_not_alert() -> None:
    baseline = steady(seed=2)
    for current in steady(50, seed=3):
        assert kinds(current, baseline) == []


def test_a_young_bucket_is_judged_with_its_sampling_noise() -> None:
    # 30 posts with 12 negative is a plausible start of an ordinary minute: no alert...
    assert kinds(bucket(10, 8, 12), steady()) == []
    # ...but 30 posts that are all negative are not.
    assert kinds(bucket(0, 0, 30), steady()) == ["sentiment_drop"]


def test_minimum_volume_and_baseline_are_required() -> None:
    assert kinds(bucket(0, 0, 29), steady()) == []  # under min_volume
    sparse = [BucketCounts()] * 6 + steady(4)  # only 4 baseline buckets with posts
    assert kinds(bucket(0, 0, 80), sparse) == []


def test_intensity_metric() -> None:
    rules = AlertRules(10, 5, 30, 4.0, 4.0, "intensity")
    baseline = [bucket(40, 35, 25, intensity=0.2 + 0.01 * (i % 3)) for i in range(10)]
    alerts = detect("acme", 600, bucket(10, 10, 80, intensity=-0.6), baseline, rules, 0.0)
    assert [a.kind for a in alerts] == ["sentiment_drop"] and alerts[0].metric == "intensity"


def test_bad_rules_name_the_setting() -> None:
    with pytest.raises(AlertConfigError, match="SENTISTREAM_ALERT_METRIC"):
        AlertRules(metric="mood")
    with pytest.raises(AlertConfigError, match="BASELINE_BUCKETS"):
        AlertRules(baseline_buckets=1)


def test_hook_reads_the_newest_touched_minutes_and_skips_all() -> None:
    changes = {"_all": BrandChange(minutes=[60]),
               "acme": BrandChange(minutes=list(range(0, 1200, 60))),
               "globex": BrandChange(minutes=[])}
    assert touched_minutes(changes) == {"acme": list(range(720, 1200, 60))}


def with_unsupported(counts: BucketCounts, extra: int) -> BucketCounts:
    """``counts`` plus ``extra`` posts in a language the model does not score (in n only)."""
    return BucketCounts(counts.n + extra, counts.neg, counts.neu, counts.pos, counts.isum_e6)


def test_posts_in_unsupported_languages_raise_no_sentiment_alert() -> None:
    happy = [bucket(68 + i % 5, 20, 12 - i % 5) for i in range(10)]  # NSS about +0.6
    # A minute of posts the model does not score has no sentiment: not a drop to NSS 0.
    assert kinds(BucketCounts(n=100), happy) == []
    # Five scored posts among 100 are too few to judge, whatever their NSS.
    assert kinds(with_unsupported(bucket(1, 1, 3), 95), happy) == []
    # Scored posts keep their NSS beside unscored ones: a real drop is still seen.
    assert kinds(with_unsupported(bucket(41, 14, 5), 40), happy) == []
    assert kinds(with_unsupported(bucket(12, 6, 42), 40), happy) == ["sentiment_drop"]
    # A baseline half made of unscored posts keeps its own NSS.
    assert kinds(bucket(41, 14, 5), [with_unsupported(c, 100) for c in happy]) == []
