"""Which terms drive a brand's sentiment: log-odds ratios with an informative Dirichlet prior.

Monroe, Colaresi and Quinn (2008), "Fightin' Words", section 3.5. For a term ``i`` with count
``y_a`` in corpus a (``n_a`` terms in all) and ``y_b`` in corpus b, and a prior ``a_i`` (summing
to ``a0`` over the vocabulary)::

    delta_i = log((y_a + a_i) / (n_a + a0 - y_a - a_i)) - log((y_b + a_i) / (n_b + a0 - y_b - a_i))
    var_i  ~= 1 / (y_a + a_i) + 1 / (y_b + a_i)
    z_i     = delta_i / sqrt(var_i)

Here corpus a is the window's posts of one class (negative or positive) and corpus b the same
class over the brand's own longer baseline, so a driver is a term that is *newly* frequent in
the window's negative (or positive) posts: the standing vocabulary of complaints ("worst",
"hate") cancels out. The prior is the brand's whole vocabulary (baseline and window, every
class) scaled to ``a0``: every scored term then has ``a_i > 0``, and a rare term is shrunk
towards the brand's usual rate instead of winning on two posts.

``merge_top_k`` bounds what the worker keeps per brand-bucket (see its docstring for the error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_A0 = 1000.0  # prior strength in pseudo-counts; see the module docstring
DEFAULT_MIN_COUNT = 3  # a driver is used by at least this many posts of the window


@dataclass(frozen=True)
class Driver:
    """A term over-represented in one class of the window: its z-score and window count."""

    term: str
    z: float
    count: int

    def to_json(self) -> dict[str, object]:
        return {"term": self.term, "z": round(self.z, 3), "count": self.count}


def log_odds_z(window: Mapping[str, int], reference: Mapping[str, int],
               prior: Mapping[str, float], a0: float = DEFAULT_A0) -> dict[str, float]:
    """z-score of every term of ``window`` (corpus a) against ``reference`` (corpus b).

    ``prior`` holds raw counts; they are scaled so they sum to ``a0``. A term of the window
    that is absent from the prior gets the prior's smallest scaled value."""
    if not window:
        return {}
    terms = list(window)
    total = float(sum(prior.values()))
    if total <= 0:
        raise ValueError("the prior needs at least one positive count")
    scale = a0 / total
    alpha = np.array([prior.get(t, 0.0) for t in terms], float) * scale
    floor = scale * min(v for v in prior.values() if v > 0)
    alpha = np.where(alpha > 0, alpha, floor)
    y_a = np.array([window[t] for t in terms], float)
    y_b = np.array([reference.get(t, 0) for t in terms], float)
    n_a, n_b = float(sum(window.values())), float(sum(reference.values()))
    # The floors only matter when one term holds the whole prior (a0 - a_i = 0).
    delta = (np.log(y_a + alpha) - np.log(np.maximum(n_a + a0 - y_a - alpha, 1e-9))
             - np.log(y_b + alpha) + np.log(np.maximum(n_b + a0 - y_b - alpha, 1e-9)))
    z = delta / np.sqrt(1.0 / (y_a + alpha) + 1.0 / (y_b + alpha))
    return dict(zip(terms, z.tolist(), strict=True))


def top_drivers(window: Mapping[str, int], reference: Mapping[str, int],
                prior: Mapping[str, float], k: int = 10, a0: float = DEFAULT_A0,
                min_count: int = DEFAULT_MIN_COUNT) -> list[Driver]:
    """The ``k`` terms of ``window`` with the highest positive z (ties: by count, then term)."""
    used = {t: c for t, c in window.items() if c >= min_count}
    # n_a counts the whole window, not only the terms frequent enough to be reported.
    scores = log_odds_z(window, reference, prior, a0) if used else {}
    ranked = sorted(((scores[t], c, t) for t, c in used.items() if scores[t] > 0),
                    key=lambda s: (-s[0], -s[1], s[2]))
    return [Driver(t, z, c) for z, c, t in ranked[:k]]


@dataclass(frozen=True)
class Why:
    negative: list[Driver]
    positive: list[Driver]


def why(window_neg: Mapping[str, int], window_pos: Mapping[str, int],
        baseline_neg: Mapping[str, int], baseline_pos: Mapping[str, int],
        baseline_all: Mapping[str, int], window_all: Mapping[str, int], k: int = 10,
        a0: float = DEFAULT_A0, min_count: int = DEFAULT_MIN_COUNT) -> Why:
    """Negative and positive drivers of a window against the brand's baseline.

    ``*_all`` are the counts over every class (neutral included): together they are the prior.
    The baseline should end where the window starts, so a burst does not dilute itself."""
    prior: dict[str, float] = {t: float(c) for t, c in baseline_all.items()}
    for t, c in window_all.items():
        prior[t] = prior.get(t, 0.0) + c
    return Why(top_drivers(window_neg, baseline_neg, prior, k, a0, min_count),
               top_drivers(window_pos, baseline_pos, prior, k, a0, min_count))


def merge_top_k(stored: Mapping[str, int], increments: Mapping[str, int], k: int
                ) -> dict[str, int]:
    """What a brand-bucket keeps after a batch: weighted Space-Saving (Metwally et al., 2005).

    A term already kept adds its increment. A new term is added while fewer than ``k`` are kept;
    otherwise it replaces the kept term with the smallest count (ties: the smallest term, as a
    Redis sorted set orders them) and takes that count plus its increment. Increments are
    applied largest first (ties by term), so the result depends only on ``stored`` and the
    batch, and the worker's script can do exactly the same with ZSCORE/ZRANGE/ZREM/ZINCRBY.

    Error, with N = the sum of all increments the bucket ever received and m = its smallest
    kept count (m <= N / k):
      * a kept count is never below the term's true count and exceeds it by at most m;
      * every term whose true count exceeds m is kept (so every term above N / k is);
      * with at most ``k`` distinct terms, the counts are exact.
    Over a window of B buckets, a term's summed count is off by at most the sum of their m.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    kept = dict(stored)
    for term, inc in sorted(increments.items(), key=lambda item: (-item[1], item[0])):
        if inc <= 0:
            continue
        if term in kept or len(kept) < k:
            kept[term] = kept.get(term, 0) + inc
            continue
        smallest = min(kept.items(), key=lambda item: (item[1], item[0]))
        del kept[smallest[0]]
        kept[term] = smallest[1] + inc
    return kept


def min_kept(kept: Mapping[str, int], k: int) -> int:
    """The error bound m of ``merge_top_k``: 0 while fewer than ``k`` terms are kept."""
    return min(kept.values()) if len(kept) >= k else 0
