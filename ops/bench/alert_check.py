"""The worker's once-a-second alert check alone: its CPU in the worker and in Redis, side by side.

Usage (from the repository root; starts and stops its own Redis on SENTISTREAM_REDIS_PORT):
    .venv/bin/python -m ops.bench.alert_check [--brands 139] [--judged 2] [--checks 30]
        [--rounds 3] [--code NAME=DIR ...]

Writes ``--brands`` brands' minute buckets (``--judged`` judged minutes and the 31 before each,
~900 posts a minute, TweetEval's 139 brands at 2,000 posts/s), then times
``stream.worker.alerts.hook.evaluate`` on them, ``--checks`` times per round, in a process of
its own per variant (this tree, and each ``--code`` checkout, e.g. ``git archive`` of main),
alternating; a tree with the worker's baseline cache checks through it as the worker does (a full
read of every brand once per BASELINE_TTL_S of checks, the judged minutes read every check).
It runs on the worker's event loop, so its CPU there is how long every batch waits behind it
(in pieces: one per round trip). Reports medians of the rounds; writes alert-check.json/.md
to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ops.bench import harness as h
from ops.bench.machine import cpu_model
from ops.bench.report import write_report
from sentistream.infra.redis_server import RedisServer
from stream.schema.counts import BucketCounts
from stream.schema.keys import KeyScheme

RESULTS = Path(__file__).resolve().parent / "results"
MINUTE = 60

# Runs in the variant's own tree: times evaluate() on the buckets the parent wrote.
CHILD = """
import asyncio, json, sys, time
import redis.asyncio as aioredis
from stream.schema.keys import KeyScheme
from stream.worker.alerts.detector import AlertRules
from stream.worker.alerts import hook
from stream.worker.alerts.hook import evaluate

async def main(url, prefix, touched, checks):
    client = aioredis.Redis.from_url(url)
    keys, rules = KeyScheme(prefix), AlertRules()
    alerts = await evaluate(client, keys, rules, touched, 0.0)  # warm: scripts loaded
    # Trees with the worker's baseline cache (BackgroundAlerts) check as the worker does: the
    # cache reads a brand in full once per BASELINE_TTL_S, i.e. once every that many checks at
    # one check a second; the judged minutes are written between checks (forgotten).
    cache_of = getattr(hook, "BaselineCache", None)
    full_every = round(getattr(hook, "BASELINE_TTL_S", 1) / hook.CHECK_INTERVAL_S)
    cache = None

    async def check(k):
        nonlocal cache
        if cache_of is None:
            return await evaluate(client, keys, rules, touched, 0.0)
        if k % full_every == 0:
            cache = cache_of()
        cache.begin()
        try:
            return await evaluate(client, keys, rules, touched, 0.0, cache)
        finally:
            cache.end()
            for brand, minutes in touched.items():
                cache.forget(brand, minutes)
    gaps = []

    async def ticker():  # what a batch waiting on the loop sees: the longest gap between ticks
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.0005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    gaps.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    found = set()
    for k in range(checks):
        found.add(tuple(sorted(a.id for a in await check(k))))
    assert found == {tuple(sorted(a.id for a in alerts))}, found  # the cache changes nothing
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tick.cancel()
    print(json.dumps({"wall_ms": 1000 * wall / checks, "cpu_ms": 1000 * cpu / checks,
                      "loop_block_max_ms": 1000 * max(gaps),
                      "loop_block_p99_ms": 1000 * sorted(gaps)[int(0.99 * (len(gaps) - 1))],
                      "alerts": sorted([a.id for a in alerts])}))

args = json.loads(sys.argv[1])
asyncio.run(main(args["url"], args["prefix"], args["touched"], args["checks"]))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--brands", type=int, default=139)
    p.add_argument("--judged", type=int, default=2, help="judged minutes per brand")
    p.add_argument("--checks", type=int, default=30, help="checks timed per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--code", action="append", default=[], metavar="NAME=DIR",
                   help="another checkout to time side by side (git archive of a commit)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="alert-check")
    return p.parse_args(argv)


def populate(client: redis.Redis, keys: KeyScheme, brands: int, judged: int, now: int
             ) -> dict[str, list[int]]:
    """Minute buckets of ~900 posts (a few brands swing, so some minutes alert)."""
    rng = random.Random(7)
    pipe = client.pipeline(transaction=False)
    touched = {}
    for b in range(brands):
        brand = f"brand{b}"
        for m in range(judged + 31):
            n = rng.randint(600, 1200)
            tilt = -0.3 if (b % 40 == 0 and m >= 31) else 0.0
            pos = int(n * (0.4 + tilt))
            neg = int(n * (0.3 - tilt))
            c = BucketCounts(n, neg, n - pos - neg, pos, (pos - neg) * 600_000)
            pipe.hset(keys.bucket(brand, "m", now - (judged + 30 - m) * MINUTE),
                      mapping=c.fields())  # type: ignore[arg-type]
        touched[brand] = [now - (judged - 1 - j) * MINUTE for j in range(judged)]
    pipe.execute()
    return touched


def redis_cpu_s(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = h.bench_settings()
    variants = [("this tree", str(Path.cwd()))] + [(name, code) for name, _, code in
                                                   (c.partition("=") for c in args.code)]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m ops.bench.alert_check " + " ".join(argv or sys.argv[1:]),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
        "brands": args.brands, "judged": args.judged, "checks": args.checks, "rounds": []}
    server = RedisServer(settings)
    started = server.up() == "started"
    try:
        client = redis.Redis.from_url(settings.redis_url)
        prefix = f"alertbench{int(time.time())}"
        touched = populate(client, KeyScheme(prefix), args.brands, args.judged,
                           int(time.time()) // MINUTE * MINUTE)
        job = {"url": settings.redis_url, "prefix": prefix, "touched": touched,
               "checks": args.checks}
        for r in range(args.rounds):
            for name, code in variants:
                cpu0 = redis_cpu_s(client)
                out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], cwd=code,
                                     env={**os.environ, "PYTHONPATH": code}, check=True,
                                     capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                # The warm-up check counts too: checks + 1 evaluate calls in Redis.
                row["redis_cpu_ms"] = 1000 * (redis_cpu_s(client) - cpu0) / (args.checks + 1)
                row.update(round=r, variant=name)
                print(json.dumps({k: v for k, v in row.items() if k != "alerts"}), flush=True)
                result["rounds"].append(row)
        client.delete(*client.keys(f"*{prefix}*"))
    finally:
        if started:
            server.down()
    result["loadavg_end"] = os.getloadavg()
    result["summary"] = {
        name: {f: float(np.median([r[f] for r in result["rounds"] if r["variant"] == name]))
               for f in ("wall_ms", "cpu_ms", "redis_cpu_ms", "loop_block_max_ms",
                         "loop_block_p99_ms")}
        | {"alerts": next(r["alerts"] for r in result["rounds"] if r["variant"] == name)}
        for name, _ in variants}
    write_report(result, markdown(result), args.out, args.name)
    print(markdown(result))
    return result


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# The alert check alone, {r['date']}", "",
             f"Machine: {r['cpus']} CPUs ({r['cpu_model']}), shared with other work (load "
             f"average {' '.join(f'{x:.1f}' for x in r['loadavg_start'])} at start, "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])} at end). {r['brands']} brands, "
             f"{r['judged']} judged minutes each with their 31 trailing buckets; "
             f"{r['checks']} checks a round, medians of {len(r['rounds']) // len(r['summary'])}"
             " alternating rounds (the ticker's gaps include the time the machine's load kept "
             "the process off a CPU).", "", f"Command: `{r['command']}`", "",
             "| variant | wall ms per check | worker CPU ms per check (its event loop) | "
             "the loop held, ms: a 0.5 ms ticker's p99 / largest gap | "
             "Redis CPU ms per check | alerts found |", "|---|---|---|---|---|---|"]
    for name, s in r["summary"].items():
        lines.append(f"| {name} | {s['wall_ms']:.1f} | {s['cpu_ms']:.1f} | "
                     f"{s['loop_block_p99_ms']:.1f} / {s['loop_block_max_ms']:.1f} | "
                     f"{s['redis_cpu_ms']:.1f} | "
                     f"{len(s['alerts'])} |")
    same = len({json.dumps(s["alerts"]) for s in r["summary"].values()}) == 1
    lines += ["", f"Same alerts in every variant: {same}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
