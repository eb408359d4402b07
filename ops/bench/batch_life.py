"""What exactly the slowest posts of a latency phase waited on, await by await of their batch.

A traced worker (SENTISTREAM_STAGE_TRACE) keeps each batch's offset ranges and the wall time at
each point of the agent's loop (``stream.worker.timings.BatchLife``, on ``/stages/batches``).
Each post the benchmark sent is found in its batch by (partition, offset), and its life, from
its send to its aggregate being visible, splits into consecutive segments that add up to it:

- ``to_fetch``: send -> the consumer hands its batch over (producer linger, broker, fetch);
- ``queued``: -> the agent takes it (the agent busy preparing the batch before). A batch
  waiting for the agent takes in later fetches (``FetchedBatch.absorb``) and keeps its first
  fetch's time, so for their posts ``to_fetch`` is negative: read ``to_fetch + queued`` as
  send -> taken;
- ``prepare``: -> parsed, admitted, scored and built (split by the traced steps ending then);
- ``write_wait``: -> the previous batch's Redis writes are done;
- ``redis``: -> Redis answered the batch's write (``appendfsync always``);
- ``to_visible``: -> the benchmark's poller saw it (its poll interval; negative when the poller
  saw the batch's offsets before the worker's await returned).

``tail_waits`` reports the mean of each for the slowest 1% and for typical posts (p40-p60).
"""

from __future__ import annotations

from typing import Any

import numpy as np

POINTS = ("fetched", "delivered", "prepared", "writing", "redis")
SEGMENTS = ("to_fetch", "queued", "prepare", "write_wait", "redis", "to_visible")
PREPARE_STEPS = ("parse", "admit", "score", "build", "loop_late", "gc0", "gc1", "gc2")


def batch_of(stamped: np.ndarray, lives: list[dict[str, Any]]) -> np.ndarray:
    """Per stamped (partition, offset, send_ms) row, the index of the batch that carried it
    (-1: none kept). A redelivered offset maps to its last batch."""
    out = np.full(len(stamped), -1, np.int64)
    for i, life in enumerate(lives):
        for partition, lo, hi in life["ranges"]:
            sel = (stamped[:, 0] == partition) & (stamped[:, 1] >= lo) & (stamped[:, 1] <= hi)
            out[sel] = i
    return out


def _points(lives: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray([[life["at"].get(p, np.nan) for p in POINTS] for life in lives],
                      float).reshape(-1, len(POINTS))


def segments(send_s: np.ndarray, visible: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(posts x SEGMENTS) seconds; rows of posts without a complete batch life are nan."""
    edges = np.column_stack([send_s, points, visible])
    return np.diff(edges, axis=1)


def prepare_steps(points: np.ndarray, trace: tuple[np.ndarray, list[str]]) -> np.ndarray:
    """(batches x PREPARE_STEPS) seconds of each traced step that ended while the batch was
    being prepared (the agent prepares one batch at a time)."""
    rows, names = trace
    out = np.zeros((len(points), len(PREPARE_STEPS)))
    if not len(rows):
        return out
    order = np.argsort(rows[:, 1])
    end, kind, seconds = rows[order, 1], rows[order, 2].astype(int), (rows[order, 1]
                                                                       - rows[order, 0])
    for j, step in enumerate(PREPARE_STEPS):
        if step not in names:
            continue
        mine = kind == names.index(step)
        ends, secs = end[mine], np.concatenate(([0.0], np.cumsum(seconds[mine])))
        lo = np.searchsorted(ends, points[:, 1], side="right")
        hi = np.searchsorted(ends, points[:, 2], side="right")
        ok = np.isfinite(points[:, 1]) & np.isfinite(points[:, 2])
        out[ok, j] = secs[hi[ok]] - secs[lo[ok]]
    return out


def tail_waits(stamped: np.ndarray, visible: np.ndarray, lives: list[dict[str, Any]],
               trace: tuple[np.ndarray, list[str]]) -> dict[str, Any]:
    seen = np.isfinite(visible)
    if seen.sum() < 100 or not lives:
        return {}
    stamped, visible = stamped[seen], visible[seen]
    send_s = stamped[:, 2] / 1000.0
    lat = visible - send_s
    batch = batch_of(stamped, lives)
    points = _points(lives)
    per_post = np.full((len(stamped), len(SEGMENTS)), np.nan)
    known = batch >= 0
    per_post[known] = segments(send_s[known], visible[known], points[batch[known]])
    steps = prepare_steps(points, trace)
    p40, p60, p99 = np.percentile(lat, [40, 60, 99])
    out: dict[str, Any] = {"p99_s": float(p99), "posts": len(lat),
                           "posts_in_a_kept_batch": int(known.sum())}
    for group, sel in (("slow", lat > p99), ("typical", (lat >= p40) & (lat <= p60))):
        rows = per_post[sel & known & np.isfinite(per_post).all(axis=1)]
        out[group] = {"posts": int(sel.sum()), "with_life": len(rows),
                      "latency_ms": round(1000 * float(np.mean(lat[sel])), 1) if sel.any()
                      else None,
                      "ms": {s: round(1000 * float(np.mean(rows[:, j])), 1) if len(rows) else None
                             for j, s in enumerate(SEGMENTS)},
                      "prepare_ms": {s: round(1000 * float(np.mean(
                          steps[batch[sel & known], j])), 1) if (sel & known).any() else None
                          for j, s in enumerate(PREPARE_STEPS)}}
    # The tail's batches, most slow posts first: what each of them waited on.
    slow_batches = batch[(lat > p99) & known]
    ids, counts = np.unique(slow_batches, return_counts=True)
    out["slow_batches"] = []
    for i, n in sorted(zip(ids.tolist(), counts.tolist(), strict=True), key=lambda x: -x[1])[:8]:
        size = sum(hi - lo + 1 for _, lo, hi in lives[i]["ranges"])
        seg = np.diff(points[i])
        out["slow_batches"].append({
            "slow_posts": n, "batch_posts": size,
            "ms": {s: round(1000 * float(v), 1) for s, v in zip(SEGMENTS[1:5], seg, strict=True)},
            "prepare_ms": {s: round(1000 * float(v), 1)
                           for s, v in zip(PREPARE_STEPS, steps[i], strict=True) if v > 0}})
    return out


def markdown_rows(runs: list[dict[str, Any]]) -> list[str]:
    """One row per run: slow / typical mean ms of each segment."""
    lines = ["| repeat | variant | p99 | " + " | ".join(SEGMENTS)
             + " | of prepare: score / build / parse / loop_late |",
             "|---|---|---|" + "---|" * (len(SEGMENTS) + 1)]
    for r in runs:
        w = r.get("latency", {}).get("tail_waits") or {}
        if not w:
            continue
        slow, typ = w["slow"], w["typical"]
        cells = [f"{slow['ms'][s]} / {typ['ms'][s]}" for s in SEGMENTS]
        prep = " / ".join(f"{slow['prepare_ms'][s]}:{typ['prepare_ms'][s]}"
                          for s in ("score", "build", "parse", "loop_late"))
        lines.append(f"| {r['repeat']} | {r['variant']} | {w['p99_s']:.3f} | "
                     + " | ".join(cells) + f" | {prep} |")
    return lines
