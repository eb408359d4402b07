"""Read-side latency with many brands: GET /api/brands (top 20) and /api/query of a busy brand.

Usage: .venv/bin/python -m ops.bench.read_side [--brands 10000,100000] [--requests 100] [--json]

Uses the running Redis of the SENTISTREAM_* environment (`sentistream infra up`) under a fresh
key prefix, removed at the end. For each brand count N it writes one post for each of N brands
plus ``--busy`` brands with ``--busy-posts`` posts each, all within the last hour, through the
worker's own write path (``batch_deltas`` -> ``CallBuilder`` -> ``RedisSink.apply``, the apply
script itself; only the model is replaced by random labels, which the read side never looks
at). Then it starts the real API (`sentistream serve`) and times sequential requests over one
keep-alive connection, after a few warm-up requests: p50, p99 and max in milliseconds.
Results go to ops/bench/results/read_side.{json,md} with the date, the CPU and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ops.bench.machine import cpu_model
from sentistream.settings import Settings, env_name, get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.posts import RawRecord, parse_batch
from stream.worker.sink import CallBuilder, RedisSink

RESULTS = Path(__file__).resolve().parent / "results"
ENDPOINTS = {"brands": "/api/brands?window=1h&limit=20",
             "query": "/api/query?brand=busy1&window=1h"}
BATCH = 2048  # the worker's default batch size


def records(brands: int, busy: int, busy_posts: int, now: float,
            partitions: int = 4) -> list[RawRecord]:
    rng = np.random.default_rng(1)
    names = [f"brand{i:06d}" for i in range(brands)]
    names += [f"busy{b + 1}" for b in range(busy) for _ in range(busy_posts - b)]
    order = rng.permutation(len(names))
    ages = rng.uniform(0, 3300, len(names))  # inside the last hour (55 minutes)
    out, offsets = [], [0] * partitions
    for i in order.tolist():
        part = i % partitions
        value = json.dumps({"id": f"p{i}", "text": f"a post about {names[i]}",
                            "brand": names[i], "created_at": now - float(ages[i])})
        out.append(RawRecord(value.encode(), "bench.posts", part, offsets[part], now))
        offsets[part] += 1
    return out


async def load(settings: Settings, recs: list[RawRecord]) -> float:
    """Apply the records like the worker does; returns the seconds it took."""
    sink, calls = RedisSink(settings), CallBuilder(settings)
    rng = np.random.default_rng(2)
    started = time.monotonic()
    try:
        for i in range(0, len(recs), BATCH):
            posts, rejected = parse_batch(recs[i:i + BATCH], settings.max_text_chars)
            assert not rejected, rejected[:1]
            brands = [names or () for names in posts.explicit_brands]
            labels = rng.integers(0, 3, len(posts)).astype(np.int64)
            intensity = rng.uniform(-1, 1, len(posts)).astype(np.float32)
            deltas = batch_deltas(posts, brands, labels, intensity, settings.top_posts)
            seen: dict[str, float] = {}
            for d in deltas:
                seen[d.brand] = max(seen.get(d.brand, d.newest_event_s), d.newest_event_s)
            outcomes = await sink.apply([calls.group_call(posts.topic, d) for d in deltas], seen)
            assert all(o.status == 0 for o in outcomes)  # fresh prefix: everything applies
    finally:
        await sink.close()
    return time.monotonic() - started


def serve(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update({env_name(f.name): str(getattr(settings, f.name)) for f in fields(Settings)})
    exe = str(Path(sys.executable).parent / "sentistream")
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", settings.api_port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"the API did not start; see {log}")
        time.sleep(0.2)


def _cpu_ms(pid: int) -> float:
    """User + system CPU milliseconds of a process so far (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timings(port: int, path: str, requests: int, pids: dict[str, int],
            warmup: int = 5) -> dict[str, Any]:
    """Wall latency percentiles, plus CPU ms per request of the API and Redis processes (on a
    shared machine the CPU figures are the steadier ones)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    ms: list[float] = []
    body: Any = None
    cpu: dict[str, float] = {}
    for i in range(warmup + requests):
        if i == warmup:
            cpu = {name: _cpu_ms(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        raw = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            sys.exit(f"GET {path} answered {response.status}: {raw[:300]!r}")
        if i >= warmup:
            ms.append(elapsed)
        body = json.loads(raw)
    conn.close()
    a = np.asarray(ms)
    per_request = {f"{name}_cpu_ms": round((_cpu_ms(pid) - cpu[name]) / requests, 1)
                   for name, pid in pids.items()}
    return {"p50_ms": round(float(np.percentile(a, 50)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1), "max_ms": round(float(a.max()), 1),
            **per_request, "requests": requests, "answer": _short(body)}


def _short(body: Any) -> dict[str, Any]:
    if "brands" in body:
        return {"total": body["total"], "first": body["brands"][0]["brand"],
                "first_n": body["brands"][0]["n"], "rows": len(body["brands"])}
    return {"n": body["n"], "brands_in_window": body["brands_in_window"],
            "share_of_voice": body["share_of_voice"]}


def run_one(base: Settings, brands: int, args: argparse.Namespace) -> dict[str, Any]:
    settings = base.replace(redis_prefix=f"rbench{uuid.uuid4().hex[:8]}")
    recs = records(brands, args.busy, args.busy_posts, time.time())
    load_s = asyncio.run(load(settings, recs))
    log = settings.state_dir / f"read-bench-{settings.redis_prefix}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    api = serve(settings, log)
    client = redis.Redis.from_url(settings.redis_url)
    pids = {"api": api.pid, "redis": int(client.info("server")["process_id"])}
    try:
        result = {name: timings(settings.api_port, path, args.requests, pids)
                  for name, path in ENDPOINTS.items()}
    finally:
        api.terminate()
        api.wait(20)
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=5000):
            batch.append(key)
            if len(batch) == 1000:
                client.unlink(*batch)  # one slot per call would be needed on a cluster
                batch = []
        if batch:
            client.unlink(*batch)
    return {"brands": brands, "busy": args.busy, "posts": len(recs),
            "load_s": round(load_s, 1), "endpoints": result}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Read side with many brands ({report['date']})", "",
             f"CPU: {report['cpu']}; load average at start {report['load']}.",
             f"Command: `{report['command']}`", "",
             "| brands | posts | endpoint | p50 ms | p99 ms | max ms | API CPU ms/req | "
             "Redis CPU ms/req | answer |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for run in report["runs"]:
        for name, path in ENDPOINTS.items():
            t = run["endpoints"][name]
            lines.append(f"| {run['brands']:,} + {run['busy']} busy | {run['posts']:,} | "
                         f"`{path}` | {t['p50_ms']} | {t['p99_ms']} | {t['max_ms']} | "
                         f"{t['api_cpu_ms']} | {t['redis_cpu_ms']} | "
                         f"{json.dumps(t['answer'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brands", default="10000,100000",
                        help="comma-separated brand counts (one post each)")
    parser.add_argument("--busy", type=int, default=20)
    parser.add_argument("--busy-posts", type=int, default=100)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-save", action="store_true", help="do not write results/")
    args = parser.parse_args()
    base = get_settings()
    runs: list[dict[str, Any]] = []
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "cpu": f"{cpu_model()}, {os.cpu_count()} vCPUs",
              "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
              "command": "python -m ops.bench.read_side " + " ".join(sys.argv[1:]),
              "runs": runs}
    for n in args.brands.split(","):
        runs.append(run_one(base, int(n), args))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # progress
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "read_side.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / "read_side.md").write_text(markdown(report))
    print(json.dumps(report, indent=2) if args.json else markdown(report))


if __name__ == "__main__":
    main()
