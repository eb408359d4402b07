"""Benchmark results as JSON, a Markdown table and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_all(result: dict[str, Any], out: Path) -> None:
    md = markdown(result)
    write_report(result, md, out, "results")
    plot(result, out / "results.png")
    print(md)


def print_json(result: dict[str, Any], out: Path | None) -> None:
    """Print a benchmark's JSON result, and write it to ``out`` when given (the drivers'
    benchmarks: their results file is the JSON itself)."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")


def print_and_write(data: Any, md: str, out: Path | None) -> None:
    """Print a benchmark's Markdown report; with ``out``, also write it to ``<out>.md`` and
    ``data`` to ``<out>.json``."""
    print(md)
    if out:
        out.with_suffix(".md").write_text(md)
        out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")


def write_report(result: dict[str, Any], md: str, out: Path, name: str) -> None:
    """``<out>/<name>.json`` (the result) and ``<out>/<name>.md`` (its Markdown report)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{name}.md").write_text(md)


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def markdown(r: dict[str, Any]) -> str:
    w, n = r["sentistream"], r["naive"]
    acc = r.get("accuracy", {})
    lines = [
        f"# End-to-end benchmark, {r['date']}",
        "",
        f"Machine: {r['machine']['cpus']} CPUs ({r['machine']['cpu_model']}), "
        f"{r['machine']['mem_gib']} GiB, {r['machine']['platform']}; Kafka and Redis on the "
        f"same machine. Load average at start/end: "
        f"{' '.join(f'{x:.1f}' for x in r['loadavg_start'])} / "
        f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])}. Data: {r['data']}.",
        "",
        "| phase | offered target | offered achieved | posts | throughput (posts/s) | "
        "steady 10-90% | p50 | p95 | p99 | max | worker CPU mean | worker RSS peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in [w["drain"], *w["phases"]]:
        lines.append(
            f"| {p['phase']} | {_f(p.get('offered_target'))} | {_f(p.get('offered_achieved'))} "
            f"| {p['posts']:,} | {_f(p.get('throughput'))} | {_f(p.get('steady_throughput'))} "
            + "".join(f"| {_f(p.get(k), '{:.3f} s')} " for k in ("p50_s", "p95_s", "p99_s",
                                                                 "max_s"))
            + f"| {_f(p.get('cpu_mean_pct'), '{:.0f}%')} "
            f"| {_f(p.get('rss_peak_mib'), '{:.0f} MiB')} |")
    nd = n["drain"]
    lines += [
        "",
        "| pipeline | backlog drained | throughput (posts/s) | steady 10-90% | CPU mean | "
        "RSS peak | accuracy | macro-F1 | Redis counts = offline labels |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| sentistream (batched, int8 model) | {w['drain']['posts']:,} "
        f"| {_f(w['drain'].get('throughput'))} | {_f(w['drain'].get('steady_throughput'))} "
        f"| {_f(w['drain'].get('cpu_mean_pct'), '{:.0f}%')} "
        f"| {_f(w['drain'].get('rss_peak_mib'), '{:.0f} MiB')} "
        f"| {_f(acc.get('sentistream', {}).get('accuracy'), '{:.3f}')} "
        f"| {_f(acc.get('sentistream', {}).get('macro_f1'), '{:.3f}')} "
        f"| {w['counts_check']['equal']} |",
        f"| naive (per post, VADER, INCR) | {nd['posts']:,} | {_f(nd.get('throughput'))} "
        f"| {_f(nd.get('steady_throughput'))} | {_f(nd.get('cpu_mean_pct'), '{:.0f}%')} "
        f"| {_f(nd.get('rss_peak_mib'), '{:.0f} MiB')} "
        f"| {_f(acc.get('naive_vader', {}).get('accuracy'), '{:.3f}')} "
        f"| {_f(acc.get('naive_vader', {}).get('macro_f1'), '{:.3f}')} "
        f"| {n['counts_check']['equal']} |",
        "",
        f"Steady drain rates of {len(r['drains']['sentistream'])} alternating runs each "
        f"(posts/s): sentistream {', '.join(_f(x) for x in r['drains']['sentistream'])}; "
        f"naive {', '.join(_f(x) for x in r['drains']['naive'])}. "
        f"Throughput ratio (median drain, sentistream / naive): "
        f"**{_f(r['throughput_ratio'], '{:.1f}x')}**."
        f" Redis fsync: sentistream `appendfsync always`; naive {n['redis_fsync'].split(' ')[0]}"
        " (favourable to the naive one).",
        "",
        *_travelling(r),
        "Latency = time from a post's send (its Kafka record timestamp) to the first poll "
        "(every ~2 ms) of the `_all` offsets hash that shows its offset applied. Throughput = "
        "posts / (last aggregate visible - first send) of the phase.",
        "",
    ]
    lag = w.get("lag", [])
    if lag:
        peak = max(lag, key=lambda x: x[1])
        lines.append(f"Consumer lag (records sent, not yet in the aggregates) over the live "
                     f"phases: peak {peak[1]:,} at t={peak[0]:.1f} s; series in results.json.")
        lines.append("")
    return "\n".join(lines)


def _travelling(r: dict[str, Any]) -> list[str]:
    """The figures that travel between machines: ratios to the bare scorer, per CPU-second."""
    if "scorer" not in r:
        return []
    rates = ", ".join(f"{x['posts_per_s']:,.0f}" for x in r["scorer"])
    per_cpu = r["sentistream"]["drain"].get("posts_per_worker_cpu_s")
    return [f"Bare scorer (`SentimentScorer.score`, batches of the worker's size, one thread) "
            f"right before each drain: {rates} posts/s. **Median drain / median bare scorer: "
            f"{_f(r['drain_to_scorer'], '{:.2f}')}** (same run, same machine). Posts per worker "
            f"CPU-second in the first drain: {_f(per_cpu)}. Command: `{r.get('command', '')}`.",
            ""]


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in r["sentistream"]["phases"] if p.get("throughput")]
    offered = [p.get("offered_achieved") or 0 for p in phases]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.5))
    ax1.plot(offered, [p["throughput"] for p in phases], "o-", label="sentistream")
    ax1.plot(offered, offered, ":", color="grey", label="offered = delivered")
    ax1.axhline(r["naive"]["drain"].get("steady_throughput") or 0, color="red", ls="--",
                label="naive baseline (max, drain)")
    ax1.set(xlabel="offered load (posts/s, achieved)", ylabel="throughput (posts/s)",
            title="Throughput vs offered load")
    ax1.legend()
    for q in ("p50_s", "p95_s", "p99_s"):
        ax2.plot(offered, [p[q] for p in phases], "o-", label=q[:-2])
    ax2.axhline(1.0, color="grey", ls=":", label="1 s target")
    ax2.set(xlabel="offered load (posts/s, achieved)", ylabel="send -> aggregate visible (s)",
            title="End-to-end latency", yscale="log")
    ax2.legend()
    lag = r["sentistream"].get("lag", [])
    ax3.plot([t for t, _ in lag], [n for _, n in lag])
    ax3.set(xlabel="time since first live phase (s)", ylabel="records not yet aggregated",
            title="Lag over the live phases")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
