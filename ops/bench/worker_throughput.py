"""Sustained end-to-end throughput of ONE worker, in posts/s: Kafka -> model -> Redis.

Usage: .venv/bin/python -m ops.bench.worker_throughput [--posts N] [--json]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`), fresh
topics and a fresh Redis prefix of its own. It pre-produces N posts with `sentistream generate
--max`, starts `sentistream worker`, and times until the global `_all` aggregate in Redis holds
all N posts. "Sustained" runs from the first aggregate write to the last (no start-up);
"wall" includes the worker's start-up and consumer-group join. On a shared machine the wall
figures depend on what else runs, so the CPU seconds the worker process used in the sustained
phase are reported too (posts per worker CPU-second: the rate of a worker that has a core).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from ops.bench.harness import run_settings
from ops.bench.sustained import cleanup, sentistream_run, time_worker
from sentistream.settings import get_settings
from sentistream.topics import ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = run_settings(get_settings(), "throughput")
    ensure_topics(settings)
    produced = time.monotonic()
    sentistream_run(settings, "generate", "--max", "--limit", str(args.posts), "--seed", "1",
                    "--key", "id")
    produce_s = time.monotonic() - produced
    try:
        timed = time_worker(settings, args.posts, f"worker-{settings.redis_prefix}")
    finally:
        cleanup(settings)
    done = timed.done.wall
    result = {
        "posts": args.posts, "produce_s": round(produce_s, 2),
        "wall_s": round(done - timed.started, 2),
        "sustained_posts_per_s": round(timed.sustained_posts_per_s),
        "wall_posts_per_s": round(args.posts / (done - timed.started)),
        "worker_cpu_s": round(timed.worker_cpu_s, 2),
        "posts_per_worker_cpu_s": round(timed.posts_per_worker_cpu_s),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "batch_size": settings.batch_size, "model_threads": settings.model_threads,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:<24} {value}")


if __name__ == "__main__":
    main()
