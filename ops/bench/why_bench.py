"""Latency of `why` (the read behind `sentistream why` and GET /api/why) at its largest keys.

Usage: .venv/bin/python -m ops.bench.why_bench [--window 24h] [--repeat 200] [--days 7]
       [--name why_bench]

Uses the running Redis of the SENTISTREAM_* environment (`sentistream infra up`) under a fresh
key prefix, removed at the end. It writes one brand's driver keys at their caps, the worst case
of a busy brand: every hour set of the window and of the baseline full (128 terms, the
writer's SENTISTREAM_DRIVER_TERMS_HOUR; the baseline is ``--days`` whole days of hour sets plus
the window's first day before it: there are no day sets), and every example list of the window
full (64 posts of ~110 characters, SENTISTREAM_DRIVER_EXAMPLES), terms drawn from a Zipf law
over 5,000 words so the sets overlap as real ones do. Then it times ``Reader.why`` (the brand
check + the one pipelined read + scoring + examples, what the API handler awaits) sequentially
after a few warm-ups:
p50, p95 and max in milliseconds, and this process's CPU per answer. Results go to
ops/bench/results/<--name>.{json,md} with the date, the CPU and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ops.bench.machine import cpu_model
from sentistream.settings import get_settings
from stream.readers.query.params import parse_why_window
from stream.readers.query.reader import Reader, connect
from stream.schema.keys import KeyScheme

RESULTS = Path(__file__).resolve().parent / "results"
BRAND = "busy"
VOCABULARY = 5000
HOUR_K, EXAMPLES = 128, 64


def fill(client: redis.Redis, keys: KeyScheme, end: float, window_s: int, days: int) -> int:
    """Write the brand's keys at their caps; returns how many keys were written."""
    from stream.drivers.why import WhyPlan

    rng = np.random.default_rng(15)
    words = [f"w{i:04d}z" for i in range(VOCABULARY)]  # no word is a prefix of another
    weights = 1 / np.arange(1, VOCABULARY + 1)
    weights /= weights.sum()
    plan = WhyPlan.of(end, window_s, days)
    pipe = client.pipeline(transaction=False)
    written = 0

    def full_set(key: str, k: int) -> None:
        nonlocal written
        chosen = rng.choice(VOCABULARY, size=k, replace=False, p=weights)
        counts = rng.integers(1, 400, size=k)
        pipe.zadd(key, {words[i]: int(c) for i, c in zip(chosen, counts, strict=True)})
        written += 1

    for cls in ("neg", "pos"):
        for hour in plan.hours + plan.base_hours:
            full_set(keys.terms(BRAND, cls, "h", hour), HOUR_K)
        for hour in plan.hours:
            posts = [json.dumps({"id": f"{cls}{hour}-{j}", "text": " ".join(
                words[i] for i in rng.choice(VOCABULARY, size=18, p=weights))})
                for j in range(EXAMPLES)]
            pipe.lpush(keys.examples(BRAND, cls, hour), *posts)
            written += 1
    pipe.hset(keys.total(BRAND), "n", 1)
    pipe.execute()
    return written


async def timed(settings: Any, keys: KeyScheme, window: str, end: float, repeat: int,
                days: int) -> tuple[list[float], list[float], dict[str, Any]]:
    reader = Reader(connect(settings), keys)
    win = parse_why_window(window)
    try:
        for _ in range(5):  # warm-up: connection, script-free, extractor tables
            answer = await reader.why(BRAND, win, end, days, 10)
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            answer = await reader.why(BRAND, win, end, days, 10)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    finally:
        await reader.client.aclose()
    return times, cpu, answer


def redis_usec(client: redis.Redis) -> int:
    """Microseconds Redis has spent in commands since its stats were last reset."""
    stats: dict[str, dict[str, Any]] = client.info("commandstats")
    return sum(int(v["usec"]) for v in stats.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", default="24h")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--days", type=int, default=7, help="baseline days (the setting)")
    parser.add_argument("--whole", action="store_true",
                        help="read every baseline hour set (no sampling: the read before "
                             "MAX_BASELINE_SETS), for side-by-side runs")
    parser.add_argument("--name", default="why_bench",
                        help="results file stem under ops/bench/results/ [why_bench]")
    args = parser.parse_args()
    from stream.drivers import why

    if args.whole:
        why.MAX_BASELINE_SETS = 1 << 30
    settings = get_settings().replace(redis_prefix=f"bench-why-{uuid.uuid4().hex[:8]}")
    keys = KeyScheme(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    end = time.time()
    window_s = parse_why_window(args.window).seconds
    plan = why.WhyPlan.of(end, window_s, args.days)
    try:
        written = fill(client, keys, end, window_s, args.days)
        redis_before = redis_usec(client)
        times, cpu, answer = asyncio.run(timed(settings, keys, args.window, end, args.repeat,
                                          args.days))
        # Redis' own CPU per answer (its commandstats): unlike wall time, not inflated by
        # waiting for a core on a shared machine. Includes the 5 warm-ups.
        redis_ms = (redis_usec(client) - redis_before) / 1000 / (args.repeat + 5)
    finally:
        for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000):
            client.delete(key)
    p50, p95 = (float(np.percentile(times, q)) for q in (50, 95))
    result = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "cpu": cpu_model(),
        "command": "python -m ops.bench.why_bench " + " ".join(sys.argv[1:]),
        "window": args.window, "baseline_days": args.days, "keys_written": written,
        "baseline_sets_read_per_class": len(plan.base_read), "stride": plan.stride,
        "repeat": args.repeat, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2),
        "max_ms": round(max(times), 2),
        # this process's CPU per answer (Redis' own time excluded): steadier on a shared box
        "client_cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "redis_cpu_per_answer_ms": round(redis_ms, 2),
        "drivers": {side: len(answer[side]) for side in ("negative", "positive")},
        # The machine's 1-minute load average as the run ends: wall times mean little above ~2
        # on 2 cores (this benchmark ran at 13-14 once, when other test suites shared the box).
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(
        f"# why latency ({result['date']}, {result['cpu']})\n\n"
        f"`{result['command']}`: window {args.window}, baseline {args.days} days, "
        f"{written} keys at their caps, {len(plan.base_read)} of {len(plan.base_hours)} "
        f"baseline hour sets read per class (stride {plan.stride}), "
        f"{args.repeat} sequential reads.\n\n"
        f"| p50 ms | p95 ms | max ms | client CPU p50 ms | Redis CPU per answer ms |\n"
        f"|---|---|---|---|---|\n"
        f"| {result['p50_ms']} | {result['p95_ms']} | {result['max_ms']} | "
        f"{result['client_cpu_p50_ms']} | {result['redis_cpu_per_answer_ms']} |\n\n"
        f"1-minute load average at the end: {result['load_average_1m']} "
        f"({os.cpu_count()} CPUs).\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
