"""Sustained end-to-end throughput of ONE worker, in posts/s: Kafka -> model -> Redis.

Usage: .venv/bin/python ops/bench/worker_throughput.py [--posts N] [--json]

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
import subprocess
import sys
import time
import uuid
from dataclasses import fields
from pathlib import Path

import redis

from sentistream.settings import Settings, env_name, get_settings
from sentistream.topics import ensure_topics
from stream.schema.keys import KeyScheme


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update({env_name(f.name): str(getattr(settings, f.name)) for f in fields(Settings)})
    return env


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (Linux /proc)."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = get_settings().replace(
        topic_posts=f"bench{run}.posts", topic_scored=f"bench{run}.scored",
        topic_dead_letters=f"bench{run}.dead-letters", redis_prefix=f"bench{run}")
    ensure_topics(settings)
    exe = str(Path(sys.executable).parent / "sentistream")
    produced = time.monotonic()
    subprocess.run([exe, "generate", "--max", "--limit", str(args.posts), "--seed", "1",
                    "--quiet", "--key", "id"], env=_env(settings), check=True)
    produce_s = time.monotonic() - produced

    client = redis.Redis.from_url(settings.redis_url)
    total_key = KeyScheme(settings.redis_prefix).total("_all")
    log = settings.state_dir / f"bench-worker-{run}.log"
    started = time.monotonic()
    with log.open("wb") as out:
        worker = subprocess.Popen([exe, "worker"], env=_env(settings), stdout=out,
                                  stderr=subprocess.STDOUT)
    first = None
    try:
        while True:
            n = int(client.hget(total_key, "n") or 0)
            if n and first is None:
                first, first_n, first_cpu = time.monotonic(), n, _cpu_s(worker.pid)
            if n >= args.posts:
                done, done_cpu = time.monotonic(), _cpu_s(worker.pid)
                break
            if worker.poll() is not None:
                sys.exit(f"the worker exited with {worker.returncode}; see {log}")
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)
        for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000):
            client.delete(key)
    assert first is not None
    result = {
        "posts": args.posts, "produce_s": round(produce_s, 2),
        "wall_s": round(done - started, 2),
        "sustained_posts_per_s": round((args.posts - first_n) / max(done - first, 1e-9)),
        "wall_posts_per_s": round(args.posts / (done - started)),
        "worker_cpu_s": round(done_cpu - first_cpu, 2),
        "posts_per_worker_cpu_s": round((args.posts - first_n) / max(done_cpu - first_cpu, 1e-9)),
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
