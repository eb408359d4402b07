"""Which judged minutes could alert: the detector's z-scores for every brand at once (numpy).

An alert check judges each touched minute of every brand that had posts, against its 30-bucket
baseline: on TweetEval's 139 brands at 2,000 posts/s that was ~280 ``detect`` calls on ~4,600
``BucketCounts`` once a second, ~40-50 ms of the worker's event loop in one piece (the largest
stall of a batch at that rate, README "Throughput of one worker"). Almost none of them alert.
``candidates`` computes the same statistics as ``stream.worker.alerts.detector.detect`` on
arrays, and keeps every minute whose z reaches ``MARGIN`` of its threshold; ``detect`` itself
then decides those few, so the alerts are the detector's, bit for bit: the margin is many orders
of magnitude wider than the rounding differences between the two summation orders.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream.schema.keys import INTENSITY_SCALE
from stream.worker.alerts.detector import _SENTIMENT_SD_FLOOR, _VOLUME_SD_FLOOR, AlertRules

# A minute is handed to ``detect`` when its z is at least this share of the threshold.
MARGIN = 0.9

Counts = npt.NDArray[np.int64]  # rows of (n, neg, neu, pos, isum_e6): BUCKET_FIELDS' order


def candidates(current: Counts, baseline: npt.NDArray[np.int64], rules: AlertRules
               ) -> npt.NDArray[np.bool_]:
    """Per judged minute (``current``: K x 5, ``baseline``: K x B x 5, its B trailing buckets
    oldest first), whether ``detect`` could alert on it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cur = current.astype(np.float64)
        base = baseline.astype(np.float64)
        n, b_n = cur[:, 0], base[:, :, 0]
        ok = (n >= rules.min_volume) & ((b_n > 0).sum(axis=1) >= rules.min_baseline)

        # Volume: the Poisson-widened z of n against the baseline's mean (detect's volume_spike)
        mean_n = b_n.mean(axis=1)
        sd_n = b_n.std(axis=1, ddof=1) if b_n.shape[1] > 1 else np.zeros_like(mean_n)
        z_n = (n - mean_n) / np.maximum(np.sqrt(sd_n ** 2 + mean_n), _VOLUME_SD_FLOOR)
        volume = ok & (z_n >= MARGIN * rules.volume_z)

        # Sentiment over the scored posts (buckets without any are left out, as in detect)
        scored = cur[:, 1:4].sum(axis=1)
        b_scored = base[:, :, 1:4].sum(axis=2)
        used = b_scored > 0
        pooled = b_scored.sum(axis=1)
        if rules.metric == "nss":
            value = (cur[:, 3] - cur[:, 1]) / scored
            b_value = (base[:, :, 3] - base[:, :, 1]) / b_scored
            center = (base[:, :, 3].sum(axis=1) - base[:, :, 1].sum(axis=1)) / pooled
            p_pos, p_neg = base[:, :, 3].sum(axis=1) / pooled, base[:, :, 1].sum(axis=1) / pooled
            per_post = p_pos + p_neg - (p_pos - p_neg) ** 2
        else:
            value = cur[:, 4] / INTENSITY_SCALE / scored
            b_value = base[:, :, 4] / INTENSITY_SCALE / b_scored
            center = base[:, :, 4].sum(axis=1) / INTENSITY_SCALE / pooled
            per_post = np.maximum(1.0 - center * center, 0.0)
        spread = np.where(used, b_scored * (b_value - center[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(spread / pooled + per_post / scored)
        z = (value - center) / np.maximum(sd, _SENTIMENT_SD_FLOOR)
        sentiment = (ok & (scored >= rules.min_volume) & (used.sum(axis=1) >= rules.min_baseline)
                     & ~(np.abs(z) < MARGIN * rules.z))  # a NaN z is handed on, not dropped
    keep: npt.NDArray[np.bool_] = volume | sentiment
    return keep
