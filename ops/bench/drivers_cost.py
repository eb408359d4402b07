"""What the "why" writer costs the worker: throughput with SENTISTREAM_DRIVERS on vs off, side by
side in one run, and the Redis bytes of its keys per brand-day (MEMORY USAGE on the real keys).

Usage: .venv/bin/python -m ops.bench.drivers_cost [--posts N] [--rounds R] [--no-memory]
       [--layouts shared,pinned,concurrent,concurrent-pinned] [--out FILE]
       .venv/bin/python -m ops.bench.drivers_cost --report FILE [FILE ...] [--out FILE]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`). Each
round runs one worker with the drivers off and one with them on (alternating which goes first,
so a drift of the shared machine's load hits both), each on fresh topics and a fresh prefix
holding the same ``sentistream generate --max --seed 1`` posts (ops/bench/sustained.py times
each run, as for worker_throughput.py). The ratio on/off is reported for the sustained rate and
for posts per worker CPU-second, the figure that a busy shared machine disturbs least.
``per_round`` pairs each round's on and off runs (back to back) and gives the median, quartiles
and range over the rounds of their ratio and of the on-minus-off CPU microseconds per post, per
thread from the scheduler's nanosecond clock: the main thread (event loop: parse, deltas, the
drivers, the script calls), the other threads (scorer, Kafka client) and Redis.
``ratio_interval`` adds a 90% paired bootstrap interval of the pooled ratio over the rounds.

``--layouts shared,pinned`` runs each round in each layout, alternating their order: "shared"
(every process on every CPU, the only layout before) and "pinned" (Redis and the broker on the
last CPU, the worker, this process and its children on the others, restored after: the
layout of the capacity plan, where Redis does not share the worker's cores). Shared, on a
2-vCPU box, the drivers' extra Redis work (~14 us a post) runs on the worker's cores too.
"concurrent" starts the off and the on worker at once, each on its own topics holding the same
posts, and times both over the seconds they drain together (``sustained.time_workers_together``):
the host's speed drifts by +-25% between runs a minute apart here (off runs of one tree gave
17,800-27,200 posts per worker CPU-second in one hour), and side by side in time both workers
meet the same drift. They share the CPUs and Redis with each other, alike. "concurrent-pinned"
gives each worker a CPU of its own (which side gets the first alternates by round), the layout
of a worker that has a core; Redis and the broker run where the scheduler puts them.
``--report`` pools the rounds of earlier results files (one tree, one kind of run) into one
pooled ratio with its interval: one run of 9 rounds spans +-0.05 on this machine.

Memory, two inputs:
* the generated posts of the first "on" run (a heavy hour: every brand has thousands of posts,
  so the term sets are full): bytes per brand-hour of each kind of key, and the brand-day they
  make (24 hours of hourly keys plus the daily ones; fingerprint sets expire after 2 h, so at
  most 2 live at once: counted apart);
* the real Sanders tweets (../shared/data/sanders-brands/posts.csv, 4 brands over 6 days,
  replayed): driver bytes per brand-day, measured as they are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from ops.bench.harness import run_settings
from ops.bench.machine import cpu_model
from ops.bench.measure import ratio_interval, spread
from ops.bench.report import print_json
from ops.bench.sustained import (
    WorkerRun,
    cleanup,
    counted,
    pin,
    redis_us_per_post,
    sentistream_run,
    time_worker,
    time_workers_together,
)
from sentistream.harness import start_worker
from sentistream.infra.kafka import KafkaBroker
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings, get_settings
from sentistream.topics import ensure_topics
from stream.schema.keys import unescape_brand

SANDERS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sanders-brands" / "posts.csv"
DRIVER_KINDS = ("terms", "ex", "authors", "fp")
LAYOUTS = ("shared", "pinned", "concurrent", "concurrent-pinned")


def fresh(settings: Settings, drivers: bool) -> Settings:
    return run_settings(settings, "dc").replace(drivers=drivers)


def run_worker(settings: Settings, posts: int) -> dict[str, float]:
    """Start a worker, wait until ``_all`` holds ``posts`` posts; rates of the sustained phase."""
    timed = time_worker(settings, posts, f"drivers-cost-{settings.redis_prefix}")
    return figures(timed, timed.redis_cpu_us_per_post)


def figures(timed: WorkerRun, redis_us: float) -> dict[str, float]:
    """One run's figures, as every layout reports them."""
    threads = timed.thread_us_per_post
    return {"sustained_posts_per_s": timed.sustained_posts_per_s,
            "posts_per_worker_cpu_s": timed.posts_per_worker_cpu_s,
            "worker_cpu_s": timed.worker_cpu_s, "redis_cpu_us_per_post": redis_us,
            "main_thread_us_per_post": threads["main"],
            "other_threads_us_per_post": threads["other"],
            "worker_us_per_post": threads["all"]}


def run_together(base: Settings, posts: int, on_first: bool,
                 pinned: bool = False) -> dict[str, dict[str, float]]:
    """The "concurrent" layout: a drivers-off and a drivers-on worker started at once, each on
    its own fresh topics holding the same posts, timed over the seconds both drain
    (``time_workers_together``). Redis serves both: its CPU per post is the server's over the
    posts of both, the same figure on each side (so Redis's on-minus-off reads 0 here).
    ``pinned`` ("concurrent-pinned"): each worker on a CPU of its own, the first started on the
    first CPU (which side starts first alternates by round); Redis and the broker unpinned."""
    sides = ("on", "off") if on_first else ("off", "on")
    settings = {side: fresh(base, side == "on") for side in sides}
    for s in settings.values():
        ensure_topics(s)
        sentistream_run(s, "generate", "--max", "--limit", str(posts), "--seed", "1",
                        "--key", "id")
    every = sorted(os.sched_getaffinity(0))
    if pinned and len(every) < 2:
        raise SystemExit("the concurrent-pinned layout needs at least 2 CPUs")
    try:
        timed = time_workers_together(
            [(settings[side], f"drivers-cost-{settings[side].redis_prefix}") for side in sides],
            posts, [{every[0]}, {every[1]}] if pinned else None)
    finally:  # a failed round leaves no keys behind either (language_throughput does the same)
        for s in settings.values():
            cleanup(s)
    redis_us = redis_us_per_post(timed)
    return {side: {**figures(t, redis_us), "window_posts": t.sustained_posts}
            for side, t in zip(sides, timed, strict=True)}


def paired(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Each round's on against its own off (run back to back): the ratio of posts per worker
    CPU-second (from the scheduler's per-thread clock) and the on-minus-off microseconds per
    post of the main thread and of the whole worker."""
    pairs = list(zip(runs["on"], runs["off"], strict=True))
    return {
        "ratio_on_off_per_cpu_s": spread([off["worker_us_per_post"] / on["worker_us_per_post"]
                                          for on, off in pairs]),
        "main_thread_us_per_post": {side: spread([r["main_thread_us_per_post"] for r in runs[side]],
                                                 2) for side in ("off", "on")},
        "worker_us_per_post": {side: spread([r["worker_us_per_post"] for r in runs[side]], 2)
                               for side in ("off", "on")},
        "main_thread_on_minus_off_us_per_post": spread(
            [on["main_thread_us_per_post"] - off["main_thread_us_per_post"] for on, off in pairs],
            2),
        "other_threads_on_minus_off_us_per_post": spread(
            [on["other_threads_us_per_post"] - off["other_threads_us_per_post"]
             for on, off in pairs], 2),
        "worker_on_minus_off_us_per_post": spread(
            [on["worker_us_per_post"] - off["worker_us_per_post"] for on, off in pairs], 2),
        "redis_on_minus_off_us_per_post": spread(
            [on["redis_cpu_us_per_post"] - off["redis_cpu_us_per_post"] for on, off in pairs], 2),
    }


def interval(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """The pooled ratios on/off (per worker CPU-second, sustained) with their paired bootstrap
    intervals over the rounds."""
    return {name: ratio_interval([r[name] for r in runs["on"]], [r[name] for r in runs["off"]])
            for name in ("posts_per_worker_cpu_s", "sustained_posts_per_s")}


def report(files: list[Path]) -> dict[str, Any]:
    """Every round of ``files`` (results of this script) pooled per layout: the rounds pair as
    they ran. Files from before ``--layouts`` ran every process on every CPU: "shared"."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    sources = []
    for path in files:
        result = json.loads(path.read_text(encoding="utf-8"))
        parts = {result.get("layout", "shared"): result, **result.get("layouts", {})}
        for name, part in parts.items():
            pooled = runs.setdefault(name, {"off": [], "on": []})
            for side in ("off", "on"):
                pooled[side] += part["rounds"][side]
        sources.append({"file": str(path), "date": result["date"], "command": result["command"],
                        "load_avg_1m": result["load_avg_1m"],
                        "ratio_on_off_per_cpu_s": {name: part["ratio_on_off_per_cpu_s"]
                                                   for name, part in parts.items()}})
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
            "command": "python -m ops.bench.drivers_cost " + " ".join(sys.argv[1:]),
            "sources": sources,
            "layouts": {name: {"pooled": interval(r), "per_round": paired(r)}
                        for name, r in runs.items()}}


def service_pids(settings: Settings) -> dict[str, int]:
    """The pids of the Redis server and Kafka broker that ``sentistream infra up`` started for
    ``settings`` (their ``ManagedProcess``, which checks that each pid is still ours)."""
    pids = {svc.name: svc.process.pid() for svc in (RedisServer(settings), KafkaBroker(settings))}
    missing = [name for name, pid in pids.items() if pid is None]
    if missing:
        raise SystemExit(f"the pinned layout needs this infra's own {' and '.join(missing)}: "
                         "start them with `sentistream infra up` (same SENTISTREAM_* settings)")
    return {name: pid for name, pid in pids.items() if pid is not None}


def split_cpus(cpus: set[int]) -> tuple[set[int], set[int]]:
    """(the worker's CPUs, the services' CPU): the last CPU for Redis and the broker."""
    if len(cpus) < 2:
        raise SystemExit("the pinned layout needs at least 2 CPUs")
    last = max(cpus)
    return cpus - {last}, {last}


@contextlib.contextmanager
def pinned_services(settings: Settings) -> Iterator[dict[str, Any]]:
    """Redis and the broker on the last CPU, this process (and the workers it starts) on the
    rest; everything back on every CPU after."""
    every = os.sched_getaffinity(0)
    worker, services = split_cpus(every)
    pids = service_pids(settings)
    try:
        for pid in pids.values():
            pin(pid, services)
        os.sched_setaffinity(0, worker)
        yield {"worker_cpus": sorted(worker), "service_cpus": sorted(services), **pids}
    finally:
        os.sched_setaffinity(0, every)
        for pid in pids.values():
            with contextlib.suppress(FileNotFoundError):
                pin(pid, every)


def key_bytes(settings: Settings) -> dict[tuple[str, str, str], int]:
    """(brand, kind, bucket) -> MEMORY USAGE summed, for every key of the prefix's brands;
    kind is the key's first part after the tag (terms, ex, authors, fp, m, h, d, total, ...);
    bucket is "<res>:<start>" for bucketed keys, "" otherwise."""
    client = redis.Redis.from_url(settings.redis_url)
    out: dict[tuple[str, str, str], int] = {}
    for raw in client.scan_iter(match=f"{{{settings.redis_prefix}:b:*", count=1000):
        key = raw.decode()
        tag, rest = key[1:].split("}:", 1)
        parts = rest.split(":")
        brand = unescape_brand(tag.split(":b:", 1)[1])
        kind = parts[0] if parts[0] not in ("m", "h", "d") else "bucket"
        bucket = ":".join(parts[-2:]) if parts[-1].isdigit() else ""
        size = int(client.memory_usage(raw, samples=0) or 0)
        out[(brand, kind, bucket)] = out.get((brand, kind, bucket), 0) + size
    return out


def heavy_hour(sizes: dict[tuple[str, str, str], int]) -> dict[str, Any]:
    """Bytes per brand-hour of each driver kind (real brands, the busiest hour of each), and
    the brand-day they make."""
    brands = {b for b, _, _ in sizes if not b.startswith("_")}
    per: dict[str, float] = {}
    for kind, res in (("terms", "h"), ("ex", "h"), ("authors", "m"), ("authors", "h"),
                      ("authors", "d"), ("fp", "h")):
        total = sum(v for (b, k, bucket), v in sizes.items()
                    if b in brands and k == kind and bucket.startswith(res + ":"))
        per[f"{kind}_{res}"] = total / len(brands)
    minutes = len({bucket for (b, k, bucket) in sizes if k == "authors" and bucket[0] == "m"})
    per_minute = per["authors_m"] / max(minutes, 1)
    day = (24 * (per["terms_h"] + per["ex_h"] + per["authors_h"] + 60 * per_minute)
           + per["authors_d"])
    return {"brands": len(brands), "minutes_of_data": minutes,
            "bytes_per_brand_hour": {k: round(v) for k, v in per.items()},
            "brand_day_bytes": round(day), "fingerprint_sets_live_bytes": round(2 * per["fp_h"])}


def real_days(settings: Settings) -> dict[str, Any]:
    ensure_topics(settings)
    sentistream_run(settings, "replay", str(SANDERS), "--max")
    posts = sum(1 for _ in SANDERS.open()) - 1
    client = redis.Redis.from_url(settings.redis_url)
    worker = start_worker(settings, settings.state_dir,
                          name=f"drivers-cost-{settings.redis_prefix}")
    try:  # until the count stops growing for 10 s (dead letters never reach it)
        deadline, last, still = time.monotonic() + 900, -1, time.monotonic()
        while True:
            n = counted(client, settings)
            if n != last:
                last, still = n, time.monotonic()
            if (n and time.monotonic() - still > 10) or n >= posts:
                break
            if time.monotonic() > deadline or not worker.alive():
                sys.exit(f"the Sanders replay did not finish ({n} of {posts} posts applied)")
            time.sleep(0.2)
    finally:
        worker.stop()
    sizes = key_bytes(settings)
    cleanup(settings)
    brands = {b for b, _, _ in sizes if not b.startswith("_")}
    days = {bucket for (_, k, bucket) in sizes if k == "bucket" and bucket.startswith("d:")}
    driver = sum(v for (b, k, _), v in sizes.items() if b in brands and k in DRIVER_KINDS)
    no_fp = sum(v for (b, k, _), v in sizes.items()
                if b in brands and k in DRIVER_KINDS and k != "fp")
    return {"posts": last, "brands": len(brands), "days": len(days),
            "driver_bytes_per_brand_day": round(driver / (len(brands) * len(days))),
            "driver_bytes_per_brand_day_without_fingerprints":
                round(no_fp / (len(brands) * len(days)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory measures (the Sanders replay: ~1 min)")
    parser.add_argument("--layouts", default="shared",
                        help="comma-separated, each round runs each: shared (every process on "
                             "every CPU), pinned (Redis and the broker on the last CPU, the "
                             "worker on the others), concurrent (an off and an on worker "
                             "draining at once, timed over the seconds they share), "
                             "concurrent-pinned (the same, each worker on a CPU of its own)")
    parser.add_argument("--report", type=Path, nargs="+", default=None,
                        help="pool the rounds of these results files; runs nothing")
    args = parser.parse_args()
    if args.report:
        print_json(report(args.report), args.out)
        return
    layouts = args.layouts.split(",")
    if set(layouts) - set(LAYOUTS):
        parser.error(f"--layouts: each of {', '.join(LAYOUTS)}")
    print_json(measure(get_settings(), args, layouts), args.out)


def measure(base: Settings, args: argparse.Namespace, layouts: list[str]) -> dict[str, Any]:
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"off": [], "on": []} for name in layouts}
    heavy: dict[str, Any] = {}
    pinned: dict[str, Any] | None = None
    for r in range(args.rounds):
        for name in (layouts if r % 2 == 0 else layouts[::-1]):
            with contextlib.ExitStack() as stack:
                if name == "pinned":
                    pinned = stack.enter_context(pinned_services(base))
                if name.startswith("concurrent"):
                    for side, got in run_together(base, args.posts, r % 2 == 1,
                                                  name == "concurrent-pinned").items():
                        runs[name][side].append({**got,
                                                 "load_avg_1m": round(os.getloadavg()[0], 2)})
                        print(f"round {r} {name} drivers={side}: {got}", flush=True)
                    continue
                for drivers in ((False, True) if r % 2 == 0 else (True, False)):
                    side = "on" if drivers else "off"
                    settings = fresh(base, drivers)
                    ensure_topics(settings)
                    sentistream_run(settings, "generate", "--max", "--limit", str(args.posts),
                                    "--seed", "1", "--key", "id")
                    runs[name][side].append({**run_worker(settings, args.posts),
                                             "load_avg_1m": round(os.getloadavg()[0], 2)})
                    if drivers and not heavy and not args.no_memory:
                        heavy = heavy_hour(key_bytes(settings))
                    cleanup(settings)
                    print(f"round {r} {name} drivers={side}: {runs[name][side][-1]}", flush=True)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "command": "python -m ops.bench.drivers_cost " + " ".join(sys.argv[1:]),
        "posts": args.posts, "pinned": pinned,
        # The first layout's figures at the top, as before layouts existed (--report reads them).
        **summary(runs[layouts[0]]), "layout": layouts[0],
        "layouts": {name: summary(runs[name]) for name in layouts[1:]},
        "memory_generated_hour": heavy,
        "memory_sanders": (real_days(fresh(base, True))
                           if SANDERS.is_file() and not args.no_memory else None),
    }
    return result


def summary(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """The rounds of one layout and their ratios on/off."""
    def mean(side: str, name: str) -> float:
        return sum(x[name] for x in runs[side]) / len(runs[side])

    return {
        "rounds": runs,
        "ratio_on_off_sustained": round(mean("on", "sustained_posts_per_s")
                                        / mean("off", "sustained_posts_per_s"), 3),
        "ratio_on_off_per_cpu_s": round(mean("on", "posts_per_worker_cpu_s")
                                        / mean("off", "posts_per_worker_cpu_s"), 3),
        "ratios_per_round_per_cpu_s": [round(on["posts_per_worker_cpu_s"]
                                             / off["posts_per_worker_cpu_s"], 3)
                                       for on, off in zip(runs["on"], runs["off"], strict=True)],
        "redis_cpu_us_per_post": {side: round(mean(side, "redis_cpu_us_per_post"), 2)
                                  for side in ("off", "on")},
        "pooled": interval(runs),
        "per_round": paired(runs),
    }


if __name__ == "__main__":
    main()
