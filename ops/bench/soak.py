"""Soak: one worker at a steady offered load for a long time; is lag bounded and RSS flat?

Usage (from the repository root; starts and stops its own Kafka + Redis):
    .venv/bin/python -m ops.bench.soak [--rate 800] [--minutes 10] [--out ops/bench/results]

Posts: the TweetEval test set (brands from its topic field) with created_at = send time, sent at
--rate for --minutes. Per minute: posts sent and aggregated, the largest lag (records sent but not
yet in the aggregates), latency p50/p99 (send -> aggregate visible, as in e2e.py), worker CPU and
RSS. Verdict: lag bounded = the last minute's largest lag is at most max(2x the first full
minute's, 1 s of input) and below 10 s of input; RSS flat = growth over the last half below 10%.
Writes soak-<rate>.json and .md (with the CPU model and the command) to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ops.bench import harness as h
from ops.bench.e2e import RESULTS, machine
from producers.sink import SinkOptions
from sentistream.harness import start_worker
from sentistream.topics import ensure_topics


def minute_rows(stamped: np.ndarray, visible: np.ndarray, samples: list[Any], pid: int,
                t0: float, minutes: int) -> list[dict[str, Any]]:
    send_s = stamped[:, 2] / 1000.0
    order_s, order_v = np.sort(send_s), np.sort(np.where(np.isfinite(visible), visible, np.inf))
    rows = []
    for m in range(minutes):
        lo, hi = t0 + 60 * m, t0 + 60 * (m + 1)
        sel = (send_s >= lo) & (send_s < hi)
        lat = visible[sel] - send_s[sel]
        lat = lat[np.isfinite(lat)]
        grid = np.arange(lo, hi, 0.25)
        lag = (np.searchsorted(order_s, grid, side="right")
               - np.searchsorted(order_v, grid, side="right"))
        res = [(c, r) for t, p, c, r in samples if p == pid and lo <= t < hi]
        rows.append({
            "minute": m + 1, "sent": int(sel.sum()), "aggregated": len(lat),
            "lag_max": int(lag.max()), "lag_end": int(lag[-1]),
            "p50_s": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_s": float(np.percentile(lat, 99)) if len(lat) else None,
            "cpu_mean_pct": float(np.mean([c for c, _ in res])) if res else None,
            "rss_mib": float(res[-1][1] / 2**20) if res else None})
    return rows


def verdict(rows: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    rss = [r["rss_mib"] for r in rows if r["rss_mib"]]
    half = rss[len(rss) // 2:]
    growth = (half[-1] - half[0]) / half[0] if len(half) > 1 else 0.0
    bounded = last["lag_max"] <= max(2 * first["lag_max"], rate) and last["lag_max"] < 10 * rate
    return {"lag_bounded": bool(bounded), "rss_growth_last_half": growth,
            "rss_flat": bool(growth < 0.10), "rss_first_mib": rss[0] if rss else None,
            "rss_last_mib": rss[-1] if rss else None,
            "lag_max_overall": max(r["lag_max"] for r in rows)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=800.0)
    p.add_argument("--minutes", type=int, default=10)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    base = h.bench_settings()
    corpus = h.tweeteval()
    log_dir = base.state_dir / "logs" / time.strftime("soak-%Y%m%d-%H%M%S")
    window = 10  # seconds of input per send call
    result: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "machine": machine(), "rate": args.rate, "minutes": args.minutes,
                              "loadavg_start": os.getloadavg()}
    with h.services(base):
        rs = h.run_settings(base, "soak")
        ensure_topics(rs)
        sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
        worker = start_worker(rs, log_dir, rs.worker_web_port)
        try:
            h.wait_assigned([worker], rs.partitions)
            with h.Observer(rs, [worker.pid]) as obs:
                t0, cursor = time.time(), 0
                per = int(args.rate * window)
                for _ in range(args.minutes * 60 // window):
                    posts = h.repeated(corpus.posts, per, cursor)
                    h.send_paced(sink, posts, args.rate)
                    cursor += per
                    if not worker.alive():
                        raise h.BenchError(f"worker exited:\n{worker.tail()}")
                time.sleep(5.0)
                progress, samples = obs.finish()
        finally:
            worker.stop()
            sink.close()
    stamped = sink.stamped()
    rows = minute_rows(stamped, h.visible_times(stamped, progress), samples, worker.pid, t0,
                       args.minutes)
    result.update({"loadavg_end": os.getloadavg(), "minutes_table": rows,
                   "verdict": verdict(rows, args.rate)})
    args.out.mkdir(parents=True, exist_ok=True)
    result["command"] = "python -m ops.bench.soak " + " ".join(
        sys.argv[1:] if argv is None else argv)
    name = f"soak-{args.rate:.0f}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    (args.out / f"{name}.md").write_text(md)
    print(md)
    return result


def _fmt(value: float | None, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def markdown(r: dict[str, Any]) -> str:
    v = r["verdict"]
    lines = [f"# Soak, {r['date']}: {r['rate']:.0f} posts/s offered for {r['minutes']} min",
             "", f"Machine: {r['machine']['cpus']} CPUs ({r['machine']['cpu_model']}), Kafka "
             f"and Redis on it too. Load average start/end: "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_start'])} /"
             f" {' '.join(f'{x:.1f}' for x in r['loadavg_end'])}. Command: "
             f"`{r.get('command', 'python -m ops.bench.soak')}`.", "",
             "| minute | sent | aggregated | lag max | lag at end | p50 | p99 | worker CPU | "
             "worker RSS |", "|---|---|---|---|---|---|---|---|---|"]
    for row in r["minutes_table"]:
        cells = [f"{row[k]:,}" for k in ("minute", "sent", "aggregated", "lag_max", "lag_end")]
        cells += [_fmt(row["p50_s"], "{:.3f} s"), _fmt(row["p99_s"], "{:.3f} s"),
                  _fmt(row["cpu_mean_pct"], "{:.0f}%"), _fmt(row["rss_mib"], "{:.0f} MiB")]
        lines.append("| " + " | ".join(cells) + " |")
    rows = r["minutes_table"]
    first = rows[1] if len(rows) > 1 else rows[0]
    lines += ["", f"Lag bounded: {v['lag_bounded']} (the last minute's peak, "
              f"{rows[-1]['lag_max']:,} records, against max(2 x the first full minute's "
              f"{first['lag_max']:,}, 1 s of input = {r['rate']:,.0f}) and 10 s of input; "
              f"largest over the run {v['lag_max_overall']:,} records)."
              f" RSS flat: {v['rss_flat']} ({v['rss_first_mib']:.0f} -> {v['rss_last_mib']:.0f}"
              f" MiB; {100 * v['rss_growth_last_half']:+.1f}% over the last half).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
