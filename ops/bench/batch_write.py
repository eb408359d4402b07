"""A batch's Redis write alone, as the worker makes it at 2,000 posts/s, side by side.

Usage (from the repository root; starts and stops its own Redis, ``appendfsync always``, on
SENTISTREAM_REDIS_PORT):
    .venv/bin/python -m ops.bench.batch_write [--posts-per-batch 100] [--batches 200]
        [--rounds 3] [--code NAME=DIR ...]

Each variant (this tree, and each ``--code`` checkout, e.g. ``git archive`` of main) runs in a
process of its own: the worker's ``BatchProcessor`` (the real scorer, drivers and language ID as
the settings say) prepares batches of TweetEval posts stamped with the current time, as at
2,000 posts/s (~100 posts, ~70 brand groups a batch), and times ``write_redis`` of each, one
after the other: the Redis round trip a post waits for before it is visible, and the whole
write (with the produces and the live announcement: what the batch's ack waits for). Variants
alternate per round; reports p50 / p99 per variant (medians of the rounds) and Redis's fsyncs
per batch when strace is there. Writes batch-write.json/.md to --out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
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

RESULTS = Path(__file__).resolve().parent / "results"

# Runs in the variant's own tree.
CHILD = """
import asyncio, json, sys, time
from sentistream.settings import Settings
from stream.worker.metrics import WorkerMetrics
from stream.worker.pipeline import BatchProcessor
from stream.worker.posts import RawRecord
from stream.worker.scoring import load_scorer
from stream.worker.sink import RedisSink

async def main(job):
    settings = Settings.from_env({**job["env"]}).replace(redis_prefix=job["prefix"])

    async def produce(topic, records):
        return None

    proc = BatchProcessor(settings, load_scorer(settings), RedisSink(settings), produce,
                          WorkerMetrics())
    texts, brands, n = job["texts"], job["brands"], job["per_batch"]
    times, wholes = [], []
    for b in range(job["batches"] + 3):
        now = time.time()
        records = [RawRecord(json.dumps({"id": f"{job['prefix']}-{b}-{i}",
                                         "text": texts[(b * n + i) % len(texts)],
                                         "brand": brands[(b * n + i) % len(brands)],
                                         "created_at": now}).encode(),
                             "bench.posts", i % 4, b * n + i, now) for i in range(n)]
        prepared = await proc.prepare(records)
        t = time.perf_counter()
        rest = await proc.write_redis(prepared)
        if b >= 3:  # the first batches admit the brands
            times.append(time.perf_counter() - t)
        await rest
        if b >= 3:
            wholes.append(time.perf_counter() - t)
    await proc.alerts.idle()
    await proc.sink.close()
    print(json.dumps({"write_s": times, "whole_s": wholes,
                      "groups": len(prepared.parts[0].calls)}))

asyncio.run(main(json.loads(sys.stdin.read())))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts-per-batch", type=int, default=100)
    p.add_argument("--batches", type=int, default=200, help="batches timed per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--code", action="append", default=[], metavar="NAME=DIR",
                   help="another checkout to time side by side (git archive of a commit)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="batch-write")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    settings = h.bench_settings()
    corpus = h.tweeteval()
    variants = [("this tree", str(Path.cwd()))] + [(name, code) for name, _, code in
                                                   (c.partition("=") for c in args.code)]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m ops.bench.batch_write " + " ".join(argv or sys.argv[1:]),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
        "posts_per_batch": args.posts_per_batch, "batches": args.batches, "rounds": []}
    env = {k: v for k, v in os.environ.items() if k.startswith("SENTISTREAM_")}
    env.update({"SENTISTREAM_REDIS_PORT": str(settings.redis_port),
                "SENTISTREAM_REDIS_URL": settings.redis_url})
    server = RedisServer(settings)
    started = server.up() == "started"
    try:
        pid = int(redis.Redis.from_url(settings.redis_url).info("server")["process_id"])
        for r in range(args.rounds):
            for name, code in variants:
                job = {"env": env, "prefix": f"bw{r}{len(result['rounds'])}{int(time.time())}",
                       "texts": [p["text"] for p in corpus.posts],
                       "brands": [p.get("brand") or "" for p in corpus.posts],
                       "per_batch": args.posts_per_batch, "batches": args.batches}
                syncs = _strace_fsyncs(pid) if pid else None
                out = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(job),
                                     cwd=code, env={**os.environ, "PYTHONPATH": code},
                                     check=True, capture_output=True, text=True).stdout
                fsyncs = _strace_stop(syncs) if syncs else None
                row = json.loads(out.strip().splitlines()[-1])
                w = np.asarray(row.pop("write_s"))
                whole = np.asarray(row.pop("whole_s"))
                row.update(round=r, variant=name, p50_ms=1000 * float(np.percentile(w, 50)),
                           p99_ms=1000 * float(np.percentile(w, 99)),
                           mean_ms=1000 * float(w.mean()),
                           whole_p50_ms=1000 * float(np.percentile(whole, 50)),
                           whole_p99_ms=1000 * float(np.percentile(whole, 99)),
                           fsyncs_per_batch=(fsyncs / (args.batches + 3)
                                             if fsyncs is not None else None))
                print(json.dumps(row), flush=True)
                result["rounds"].append(row)
    finally:
        if started:
            server.down()
    result["loadavg_end"] = os.getloadavg()
    result["summary"] = {
        name: {f: float(np.median([r[f] for r in result["rounds"] if r["variant"] == name
                                   and r[f] is not None] or [np.nan]))
               for f in ("p50_ms", "p99_ms", "mean_ms", "whole_p50_ms", "whole_p99_ms",
                         "fsyncs_per_batch", "groups")}
        for name, _ in variants}
    write_report(result, markdown(result), args.out, args.name)
    print(markdown(result))
    return result


def _strace_fsyncs(pid: int) -> tuple[subprocess.Popen[bytes], Path] | None:
    exe = shutil.which("strace")
    if exe is None:
        return None
    out = Path(f"/tmp/batch-write-strace-{pid}-{time.time_ns()}.txt")
    proc = subprocess.Popen([exe, "-f", "-c", "-e", "trace=fdatasync,fsync", "-p", str(pid),
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, out


def _strace_stop(started: tuple[subprocess.Popen[bytes], Path]) -> int | None:
    proc, out = started
    proc.send_signal(2)
    proc.wait(10)
    calls = 0
    for line in out.read_text().splitlines() if out.exists() else []:
        parts = line.split()
        if parts and parts[-1] in ("fdatasync", "fsync"):
            calls += int(parts[3])
    out.unlink(missing_ok=True)
    return calls


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# A batch's Redis write alone, {r['date']}", "",
             f"Machine: {r['cpus']} CPUs ({r['cpu_model']}), shared with other work (load "
             f"average {' '.join(f'{x:.1f}' for x in r['loadavg_start'])} at start, "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])} at end). Redis with appendfsync "
             f"always on the same disk. Batches of {r['posts_per_batch']} TweetEval posts, "
             f"{r['batches']} timed per round, medians of "
             f"{len(r['rounds']) // len(r['summary'])} alternating rounds.", "",
             f"Command: `{r['command']}`", "",
             "| variant | script calls per batch | write_redis p50 ms | p99 ms | mean ms | "
             "whole write (Redis, produces, announcement) p50 ms | p99 ms | "
             "Redis fsyncs per batch (strace; the benchmark's other traffic included) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in r["summary"].items():
        lines.append(f"| {name} | {s['groups']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
                     f"{s['mean_ms']:.2f} | {s['whole_p50_ms']:.2f} | {s['whole_p99_ms']:.2f} | "
                     f"{s['fsyncs_per_batch']:.1f} |")
    lines += ["", "Each round:", "", "| round | variant | p50 ms | p99 ms | fsyncs per batch |",
              "|---|---|---|---|---|"]
    for row in r["rounds"]:
        fs = row["fsyncs_per_batch"]
        lines.append(f"| {row['round']} | {row['variant']} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {'-' if fs is None else f'{fs:.1f}'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
