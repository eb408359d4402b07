"""What the scoring process costs per post: its IPC, next to scoring in the worker's thread.

Usage: .venv/bin/python -m ops.bench.scoring_ipc [--batches N] [--batch-size B] [--json]

The same TweetEval batches (SENTISTREAM_BATCH_SIZE posts, language ID on, as the worker scores
them) are scored alternately by ``score_here`` (the thread path, in this process) and by
``ProcessScoring.score`` (one batch at a time, no pipelining). Reported per post: wall time of
each, this process's CPU for each (for the process path: pickling the texts, unpickling the
scores and token rows, in the executor's threads), and the child's CPU. Writes
ops/bench/results/scoring-ipc.json (and .md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from ops.bench import harness as h
from ops.bench.machine import cpu_model
from ops.bench.report import write_report
from stream.worker.posts import Posts
from stream.worker.scoring import ProcessScoring, load_scorer, score_here

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    texts = [post["text"] for post in h.tweeteval().posts]
    batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    batches = [b for b in batches if len(b) == args.batch_size] or batches
    # Both paths from the same settings and load_scorer, as in the worker.
    settings = h.bench_settings().replace(model_threads=1, scorer_timeout_s=120.0,
                                          scorer_attempts=1)
    here = load_scorer(settings)
    remote = ProcessScoring(settings)
    remote.start()
    child = psutil.Process(remote.pids()[0])
    rows: dict[str, list[tuple[float, float, float]]] = {"thread": [], "process": []}
    loadavg_start = os.getloadavg()
    try:
        for b in batches + batches:  # warm both (token caches) before timing
            score_here(here, _posts(b), True)
            asyncio.run(remote.score(_posts(b), True))
        for i in range(args.batches):
            b = batches[i % len(batches)]
            for name in ("thread", "process") if i % 2 else ("process", "thread"):
                posts = _posts(b)
                c0, w0, k0 = time.process_time(), time.perf_counter(), _cpu(child)
                if name == "thread":
                    score_here(here, posts, True)
                else:
                    asyncio.run(remote.score(posts, True))
                rows[name].append((time.perf_counter() - w0, time.process_time() - c0,
                                   _cpu(child) - k0))
    finally:
        remote.close()
    n = args.batch_size
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m ops.bench.scoring_ipc " + " ".join(argv or sys.argv[1:]),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "batch_size": n,
        "batches": args.batches, "loadavg_start": loadavg_start, "loadavg_end": os.getloadavg(),
        "us_per_post": {name: {"wall": 1e6 * float(np.median([r[0] for r in v])) / n,
                               "this_process_cpu": 1e6 * float(np.median([r[1] for r in v])) / n,
                               "child_cpu": 1e6 * float(np.median([r[2] for r in v])) / n}
                        for name, v in rows.items()}}
    md = _markdown(result)
    write_report(result, md, args.out, "scoring-ipc")
    print(md)
    return result


def _posts(texts: list[str]) -> Posts:
    return Posts(texts=list(texts), docs=[{"text": t} for t in texts],
                 ids=[str(i) for i in range(len(texts))])


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _markdown(r: dict[str, Any]) -> str:
    u = r["us_per_post"]
    return "\n".join([
        f"# Scoring in a thread vs in the scoring process, {r['date']}", "",
        f"Machine: {r['cpus']} CPUs ({r['cpu_model']}), load average "
        f"{' '.join(f'{x:.1f}' for x in r['loadavg_start'])} at start, "
        f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])} at end. Batches of "
        f"{r['batch_size']} TweetEval posts, language ID on; medians of {r['batches']} batches "
        "each, alternating.", "", f"Command: `{r['command']}`", "",
        "| path | wall us/post | worker-process CPU us/post | child CPU us/post |",
        "|---|---|---|---|",
        *(f"| {name} | {v['wall']:.1f} | {v['this_process_cpu']:.1f} | {v['child_cpu']:.1f} |"
          for name, v in u.items()), ""])


if __name__ == "__main__":
    main()
