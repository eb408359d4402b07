"""``ops.bench.cpu_budget``'s results as Markdown: the box's budget per post, the worker's own
split by part and thread, and the ceilings they set."""

from __future__ import annotations

from typing import Any

ROWS = (("worker", "worker (all its threads; the naive consumer for naive)"),
        ("broker", "Kafka broker (java)"), ("redis", "redis-server"),
        ("bench producer", "bench producer (kafka-python thread; idle in a drain)"),
        ("bench main", "bench main thread (its 10 ms wait loop)"),
        ("poller", "bench 2 ms offset poller (a process)"),
        ("py-spy (measuring)", "measurement: py-spy, the gc counter's file thread"))


def _f(x: float | None, fmt: str = "{:,.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def render(r: dict[str, Any]) -> str:
    reps = r["repeats"]
    lines = [f"# The whole box's CPU per post during a backlog drain, {r['date']}", "",
             f"Machine: {r['cpus']} vCPUs ({r['cpu_model']}), Kafka, Redis, the worker and the "
             "benchmark on it, **shared with other engineers' jobs** (load average "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_start'])} at start, "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])} at end; per repeat: "
             + ", ".join(' '.join(f'{x:.1f}' for x in row['loadavg']) for row in reps)
             + f"). Data: {r['data']}; batch size {r['batch_size']}, {r['partitions']} "
             "partitions.", "", f"Command: `{r['command']}`", "",
             "Window: from 10% to 90% of the drain's posts in the aggregates (start-up and the "
             "last batches left out); CPU from /proc (processes, threads) and /proc/stat (box).",
             "", "## Budget: us of CPU per post, by process", "",
             "| process | " + " | ".join(
                 [f"repeat {x['repeat']}: worker drain"
                  + (f" ({x['variant']})" if "variant" in x else "") for x in reps]
                 + [f"repeat {x['repeat']}: naive drain" for x in reps if "naive" in x]) + " |",
             "|---|" + "---|" * (len(reps) + sum("naive" in x for x in reps))]
    drains = [x["worker"]["drain"] for x in reps] + [x["naive"]["drain"] for x in reps
                                                      if "naive" in x]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(
            _f(d["us_per_post"].get(key)) for d in drains) + " |")
    lines += [
        "| **the drain's own processes (the rows above but py-spy)** | " + " | ".join(
            f"**{_own(d):,.1f}**" for d in drains) + " |",
        "| other processes on the box (other engineers' jobs) | " + " | ".join(
            _f(d["other_processes_us_per_post"]) for d in drains) + " |",
        "| box busy not in any process seen at both ends (kernel, short-lived) | " + " | ".join(
            _f(d["unaccounted_us_per_post"]) for d in drains) + " |",
        "| of which irq + softirq (kernel: loopback traffic) / processes started in the "
        "window | " + " | ".join(
            f"{_f(d.get('irq_us_per_post'))} / {_f(d.get('started_processes_us_per_post'))}"
            for d in drains) + " |",
        "| box busy, all CPUs (/proc/stat) | " + " | ".join(
            _f(d["box_busy_us_per_post"]) for d in drains) + " |",
        "| box idle + iowait share / steal share | " + " | ".join(
            f"{100 * (d['box_share']['idle'] + d['box_share']['iowait']):.0f}% / "
            f"{100 * d['box_share']['steal']:.0f}%" for d in drains) + " |",
        "| posts in the window / posts per s | " + " | ".join(
            f"{d['posts']:,} / {d['posts_per_s']:,.0f}" for d in drains) + " |", ""]
    lines += ["Preload (the bench producer sending the backlog as fast as it goes; the broker "
              "taking it in), us of CPU per post:", "",
              "| repeat | drain | bench process (producer) | broker | redis | posts/s |",
              "|---|---|---|---|---|---|"]
    for x in reps:
        for which in ("worker", "naive"):
            if which in x:
                p = x[which]["preload"]
                bench = p["us_per_post"]["bench producer"] + p["us_per_post"]["bench main"]
                lines.append(f"| {x['repeat']} | {which} | {bench:.1f} | "
                             f"{p['us_per_post'].get('broker', 0):.1f} | "
                             f"{p['us_per_post'].get('redis', 0):.1f} | "
                             f"{p['posts_per_s']:,.0f} |")
    lines += ["", "## The worker's own CPU per post, by part (py-spy on-CPU samples of each "
              "thread x that thread's /proc CPU; GC from gc callbacks)", "",
              "| part | " + " | ".join(f"repeat {x['repeat']}" for x in reps) + " |",
              "|---|" + "---|" * len(reps)]
    parts: list[str] = []
    for x in reps:
        parts += [p for p in x["worker"]["parts_us_per_post"] if p not in parts]
    for part in parts:
        lines.append(f"| {part} | " + " | ".join(
            _f(x["worker"]["parts_us_per_post"].get(part), "{:.1f}") for x in reps) + " |")
    lines.append("| **worker, all threads** | " + " | ".join(
        f"**{x['worker']['drain']['us_per_post']['worker']:.1f}**" for x in reps) + " |")
    lines.append("| py-spy samples | " + " | ".join(
        f"{x['worker']['pyspy_samples']:,}" for x in reps) + " |")
    lines += ["", "By thread (us of CPU per post, /proc/<pid>/task):", ""]
    for x in reps:
        lines.append(f"- repeat {x['repeat']}: " + "; ".join(
            f"{name} {us:.1f}" for name, us in x["worker"]["worker_threads_us_per_post"][:6]))
    lines += ["", "Stage timers (`sentistream_stage_seconds`, wall us per post; overlapping):", ""]
    for x in reps:
        st = sorted(x["worker"]["stages_wall_us_per_post"].items(), key=lambda kv: -kv[1])
        lines.append(f"- repeat {x['repeat']} ({x['worker']['batches']:.0f} batches): "
                     + "; ".join(f"{k} {v:.1f}" for k, v in st if v > 0.05))
    lines += ["", "Redis: us inside each command per post (INFO commandstats; the rest of its "
              "CPU is protocol, fsync and the event loop):", ""]
    for x in reps:
        for which in ("worker", "naive"):
            if which in x:
                got = dict(x[which]["redis_command_us_per_post"])
                calls = got.pop("_calls", 0.0)
                cmds = sorted(got.items(), key=lambda kv: -kv[1])[:6]
                lines.append(f"- repeat {x['repeat']}, {which}: "
                             + "; ".join(f"{k} {v:.1f}" for k, v in cmds)
                             + (f" (commands per post, scripts' inner ones included, the "
                                f"pollers' left out: {calls:.1f})" if calls else ""))
    lines += ["", "## Ceilings", "", "| figure | " + " | ".join(
        f"repeat {x['repeat']}" for x in reps) + " |", "|---|" + "---|" * len(reps)]
    for label, fmt, get in _CEILINGS:
        lines.append(f"| {label} | " + " | ".join(
            _f(get(x["derived"]), fmt) for x in reps) + " |")
    lines += ["", "Other busy processes (pid, command, us per post), worker drain:", ""]
    for x in reps:
        lines.append(f"- repeat {x['repeat']}: " + "; ".join(
            f"`{' '.join(cmd.split())[:60]}` {us}"
            for _, cmd, us in x["worker"]["drain"]["top_others"][:5]))
    return "\n".join(lines) + "\n"


def _own(d: dict[str, Any]) -> float:
    return float(sum(v for k, v in d["us_per_post"].items() if k != "py-spy (measuring)"))


def _target(name: str, key: str) -> Any:
    return lambda d: d["targets"].get(name, {}).get(key)


_CEILINGS: tuple[tuple[str, str, Any], ...] = (
    ("worker drain, posts/s (window)", "{:,.0f}", lambda d: d["drain_posts_per_s"]),
    ("bare scorer, posts/s", "{:,.0f}", lambda d: d["scorer_posts_per_s"]),
    ("drain / scorer", "{:.2f}", lambda d: d["drain_to_scorer"]),
    ("drain's own processes, us/post (worker + rest)", "{:.1f}",
     lambda d: d["pipeline_us_per_post"]),
    ("of which the worker / the rest (broker, Redis, bench)", "{}",
     lambda d: f"{d['worker_us_per_post']:.1f} / {d['rest_of_pipeline_us_per_post']:.1f}"),
    ("**ceiling: all CPUs x 1e6 / own us per post, posts/s**", "{:,.0f}",
     lambda d: d["ceiling_posts_per_s"]),
    ("drain / that ceiling", "{:.2f}", lambda d: d["drain_posts_per_s"]
     / d["ceiling_posts_per_s"]),
    ("box idle share in the window", "{:.0%}", lambda d: d["box_idle_share"]),
    ("0.6 x scorer: posts/s", "{:,.0f}", _target("0.6 x scorer", "posts_per_s")),
    ("0.6 x scorer: box us/post available", "{:.1f}", _target("0.6 x scorer",
                                                             "box_us_per_post")),
    ("**0.6 x scorer: worker us/post allowed** (the rest fixed)", "{:.1f}",
     _target("0.6 x scorer", "worker_us_per_post_allowed")),
    ("0.6 x scorer: worker cut needed", "{:.0%}", _target("0.6 x scorer", "worker_cut_needed")),
    ("naive drain, posts/s (window)", "{:,.0f}", lambda d: d.get("naive_posts_per_s")),
    ("naive: own us/post (its consumer alone)", "{}", lambda d: (
        f"{d['naive_pipeline_us_per_post']:.1f} ({d['naive_worker_us_per_post']:.1f})"
        if "naive_pipeline_us_per_post" in d else None)),
    ("drain / naive drain", "{:.1f}", lambda d: d.get("drain_to_naive")),
    ("naive own us/post / ours (the ratio if both had the whole box)", "{:.1f}",
     lambda d: d.get("per_pipeline_cpu_to_naive")),
    ("8 x naive: posts/s", "{:,.0f}", _target("8 x naive", "posts_per_s")),
    ("**8 x naive: worker us/post allowed** (the rest fixed)", "{:.1f}",
     _target("8 x naive", "worker_us_per_post_allowed")),
    ("8 x naive: worker cut needed", "{:.0%}", _target("8 x naive", "worker_cut_needed")),
)
