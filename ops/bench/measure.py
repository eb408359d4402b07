"""Pure arithmetic of the benchmark: per-phase throughput and latency, lag over time, CPU/RSS."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np


def phase_stats(name: str, offered: float | None, stamped: np.ndarray,
                visible: np.ndarray) -> dict[str, Any]:
    """One phase: records (partition, offset, send_ms) and the time each became visible.

    throughput = records / (last visible - first send): produce to aggregate written, the whole
    phase. ``steady`` = the rate between 10% and 90% of the records becoming visible, which
    leaves out the start-up of an idle pipeline and the tail of the last batch.
    """
    send_s = stamped[:, 2] / 1000.0
    seen = np.isfinite(visible)
    lat = visible[seen] - send_s[seen]
    out: dict[str, Any] = {"phase": name, "offered_target": offered, "posts": len(stamped),
                           "visible": int(seen.sum())}
    if len(send_s) > 1:
        span = float(send_s.max() - send_s.min())
        out["offered_achieved"] = len(send_s) / span if span > 0 else None
    if seen.any():
        first_send, last_seen = float(send_s.min()), float(visible[seen].max())
        out["throughput"] = int(seen.sum()) / (last_seen - first_send)
        v = np.sort(visible[seen])
        lo, hi = v[int(0.1 * (len(v) - 1))], v[int(0.9 * (len(v) - 1))]
        out["steady_throughput"] = 0.8 * len(v) / (hi - lo) if hi > lo else None
        for q in (50, 95, 99):
            out[f"p{q}_s"] = float(np.percentile(lat, q))
        out["max_s"] = float(lat.max())
    return out


def drain_stats(stamped: np.ndarray, visible: np.ndarray) -> dict[str, Any]:
    """A pre-loaded backlog: the rate from the first record visible to the last one."""
    seen = np.sort(visible[np.isfinite(visible)])
    out: dict[str, Any] = {"phase": "backlog drain", "posts": len(stamped),
                           "visible": len(seen)}
    if len(seen) > 1 and seen[-1] > seen[0]:
        out["seconds"] = float(seen[-1] - seen[0])
        out["throughput"] = len(seen) / (seen[-1] - seen[0])
        lo, hi = seen[int(0.1 * (len(seen) - 1))], seen[int(0.9 * (len(seen) - 1))]
        out["steady_throughput"] = 0.8 * len(seen) / (hi - lo) if hi > lo else None
    return out


def lag_timeline(stamped: np.ndarray, visible: np.ndarray,
                 step_s: float = 0.25) -> list[tuple[float, int]]:
    """(time, records sent but not yet in the aggregates), every ``step_s``; time from 0."""
    send_s = np.sort(stamped[:, 2] / 1000.0)
    vis = np.sort(np.where(np.isfinite(visible), visible, np.inf))
    t0 = float(send_s.min())
    end = float(np.nanmax(visible)) if np.isfinite(visible).any() else float(send_s.max())
    grid = np.arange(t0, end + step_s, step_s)
    lag = np.searchsorted(send_s, grid, side="right") - np.searchsorted(vis, grid, side="right")
    return [(round(float(t - t0), 3), int(n)) for t, n in zip(grid, lag, strict=True)]


def resource_stats(samples: list[tuple[float, int, float, int]], pid: int, start: float,
                   end: float) -> dict[str, Any]:
    """CPU % (100 = one core) and RSS of ``pid`` between ``start`` and ``end`` (wall times)."""
    rows = [(c, r) for t, p, c, r in samples if p == pid and start <= t <= end]
    if not rows:
        return {}
    cpu = np.asarray([c for c, _ in rows])
    rss = np.asarray([r for _, r in rows])
    return {"cpu_mean_pct": float(cpu.mean()), "cpu_max_pct": float(cpu.max()),
            "rss_peak_mib": float(rss.max() / 2**20), "rss_last_mib": float(rss[-1] / 2**20)}


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    """Median, quartiles, min and max of per-round values (the rounds scatter on a shared
    machine: a mean of 5 hides how far one round can fall)."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": round(statistics.median(values), digits), "q1": round(q[0], digits),
            "q3": round(q[2], digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def ratio_interval(num: list[float], den: list[float], level: float = 0.9, draws: int = 10_000,
                   seed: int = 0) -> dict[str, float]:
    """The ratio of means sum(num) / sum(den) of paired rounds, and its percentile bootstrap
    interval at ``level``: the rounds are resampled as pairs, since a round's two sides share
    the machine's speed of that moment. Seeded, so a report can be recomputed exactly. What
    it answers: how far the pooled ratio of these rounds could move with other rounds of the
    same kind; not the error of a machine that differs in kind (another host, another load)."""
    if len(num) != len(den) or not num:
        raise ValueError(f"need paired rounds: {len(num)} and {len(den)} values")
    a, b = np.asarray(num, float), np.asarray(den, float)
    pick = np.random.default_rng(seed).integers(0, len(a), size=(draws, len(a)))
    ratios = a[pick].sum(axis=1) / b[pick].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return {"ratio": round(float(a.sum() / b.sum()), 4), "low": round(float(low), 4),
            "high": round(float(high), 4), "level": level, "n": len(a)}
