"""The alert detector: a z-score of the current bucket against the trailing buckets (pure).

The spread a bucket is compared with has two parts: how much the baseline buckets moved
(between-bucket variance) and the sampling noise of the current bucket, which is large while the
bucket is young. Without the second part, the first 30 posts of a minute would look like a
sentiment swing against a baseline of full minutes. The between-bucket variance is weighted by
volume, so a baseline minute with a single post cannot widen the spread on its own. Per-post
variance comes from the pooled baseline: a post's NSS contribution is -1, 0 or +1, so its
variance is p+ + p- - (p+ - p-)^2; an intensity in [-1, 1] with mean m has variance at most
1 - m^2 (Bhatia-Davis). Volume uses a Poisson term (variance = mean). A floor keeps a perfectly
flat baseline from turning noise into an infinite z.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sentistream.settings import Settings
from stream.errors import StreamError
from stream.schema.counts import BucketCounts
from stream.schema.keys import escape_brand
from stream.schema.times import iso

KINDS = ("sentiment_drop", "sentiment_rise", "volume_spike")
METRICS = ("nss", "intensity")
_SENTIMENT_SD_FLOOR = 0.02
_VOLUME_SD_FLOOR = 1.0


class AlertConfigError(StreamError):
    """An alert setting is out of range; fix the SENTISTREAM_ALERT_* variable it names."""

    exit_code = 2


@dataclass(frozen=True)
class AlertRules:
    """Thresholds, from the SENTISTREAM_ALERT_* settings."""

    baseline_buckets: int = 30
    min_baseline: int = 3
    min_volume: int = 30
    z: float = 4.0
    volume_z: float = 4.0
    metric: str = "nss"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise AlertConfigError(
                f"SENTISTREAM_ALERT_METRIC={self.metric!r}: use one of {', '.join(METRICS)}")
        if self.baseline_buckets < 2 or not 1 <= self.min_baseline <= self.baseline_buckets:
            raise AlertConfigError(
                "SENTISTREAM_ALERT_BASELINE_BUCKETS must be >= 2 and "
                "SENTISTREAM_ALERT_MIN_BASELINE between 1 and it")
        if self.z <= 0 or self.volume_z <= 0 or self.min_volume < 1:
            raise AlertConfigError(
                "SENTISTREAM_ALERT_Z and _VOLUME_Z must be > 0, _MIN_VOLUME >= 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        return cls(settings.alert_baseline_buckets, settings.alert_min_baseline,
                   settings.alert_min_volume, settings.alert_z, settings.alert_volume_z,
                   settings.alert_metric)


@dataclass(frozen=True)
class Alert:
    """One alert; ``id`` is its identity, so the same brand, kind and bucket alert once."""

    brand: str
    kind: str
    bucket: int
    metric: str
    value: float
    baseline: float
    z: float
    n: int
    detected_at: float
    # What explained it when it fired: {"drivers": ..., "examples": [...]} (stream.drivers.why).
    context: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{escape_brand(self.brand)}:{self.kind}:{self.bucket}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "brand": self.brand, "kind": self.kind, "bucket": self.bucket,
                "time": iso(self.bucket), "resolution": "1m", "metric": self.metric,
                "value": round(self.value, 6), "baseline": round(self.baseline, 6),
                "z": round(self.z, 3), "n": self.n, "detected_at": iso(self.detected_at),
                **(self.context or {})}


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return mean, math.sqrt(var)


def _sentiment(counts: BucketCounts, metric: str) -> float:
    value = counts.nss if metric == "nss" else counts.mean_intensity
    return 0.0 if value is None else value


def _per_post_variance(pooled: BucketCounts, metric: str) -> float:
    if metric == "nss":
        p_pos, p_neg = pooled.pos / pooled.scored, pooled.neg / pooled.scored
        return p_pos + p_neg - (p_pos - p_neg) ** 2
    mean = _sentiment(pooled, metric)
    return max(1.0 - mean * mean, 0.0)


def detect(brand: str, bucket: int, current: BucketCounts, baseline: Sequence[BucketCounts],
           rules: AlertRules, now: float) -> list[Alert]:
    """Alerts for ``current`` against ``baseline`` (the trailing buckets; empty ones as zeros)."""
    if current.n < rules.min_volume or sum(c.n > 0 for c in baseline) < rules.min_baseline:
        return []
    alerts = []
    # Sentiment over the scored posts only: posts in languages the model does not score have
    # none (they count in n, so in the volume check below).
    used = [c for c in baseline if c.scored > 0]
    if current.scored >= rules.min_volume and len(used) >= rules.min_baseline:
        metric = rules.metric
        pooled = BucketCounts.total(used)
        center = _sentiment(pooled, metric)
        # Weighted by volume: a minute with one post says little about how much sentiment moves.
        between_var = sum(c.scored * (_sentiment(c, metric) - center) ** 2
                          for c in used) / pooled.scored
        sd = math.sqrt(between_var + _per_post_variance(pooled, metric) / current.scored)
        value = _sentiment(current, metric)
        z = (value - center) / max(sd, _SENTIMENT_SD_FLOOR)
        if abs(z) >= rules.z:
            kind = "sentiment_drop" if z < 0 else "sentiment_rise"
            alerts.append(Alert(brand, kind, bucket, metric, value, center, z, current.n, now))
    volumes = [float(c.n) for c in baseline]
    mean_n, sd_n = _mean_sd(volumes)
    z_n = (current.n - mean_n) / max(math.sqrt(sd_n ** 2 + mean_n), _VOLUME_SD_FLOOR)
    if z_n >= rules.volume_z:
        alerts.append(Alert(brand, "volume_spike", bucket, "posts", float(current.n), mean_n,
                            z_n, current.n, now))
    return alerts
