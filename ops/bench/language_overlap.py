"""Language ID on vs off with the worker's two threads overlapping, in-process: does detection
cost more CPU when it runs beside the main thread's batch building (the live worker) than
alone (``language_breakdown``, one thread)?

Usage: .venv/bin/python -m ops.bench.language_overlap [--posts 20480] [--passes 4]
       [--input english-detect|umsab|english]

The batches of ``language_breakdown``; per pass and side (language ID off / on), the same steps
run two ways: ``serial`` (score a batch, then build it: deltas, drivers, records, calls) and
``overlap`` (as ``stream.worker.pipeline`` runs them: a one-thread executor scores batch k+1
while this thread builds batch k). Process CPU (``time.process_time``, every thread) and wall
time per post;
best of the passes after a warm-up, sides and ways alternating. With SENTISTREAM_DRIVERS=false
in the environment the drivers are off, so drivers x language ID shows as on - off of each.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

from redis.asyncio.connection import Connection

from model.scorer import SentimentScorer
from ops.bench.language_worker_cpu import Batch, bench_batches
from ops.bench.machine import cpu_model
from sentistream.settings import get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.driver_deltas import BatchDrivers
from stream.worker.pipeline import BatchProcessor
from stream.worker.scoring import BatchScores, TokenRowsOf, score_here
from stream.worker.sink import CallBuilder


class Builder:
    """The main thread's steps after scoring, as ``language_breakdown.worker_steps`` runs them."""

    def __init__(self, scorer: SentimentScorer) -> None:
        settings = get_settings()
        self.calls, self.drivers = CallBuilder(settings), BatchDrivers(settings)
        self.matcher = BrandsFile().current()
        self.conn = Connection()
        self.scorer = scorer
        self.me = cast(Any, SimpleNamespace(scorer=scorer))

    def build(self, batch: Batch, scores: BatchScores) -> None:
        posts, brands = batch
        routed = scores.routed
        deltas = batch_deltas(posts, brands, routed.labels, routed.intensity, 8)
        self.drivers.attach(deltas, posts, brands, routed.labels, routed.intensity,
                            TokenRowsOf(posts.texts, scores) if scores.rows is not None
                            else self.scorer, self.matcher)
        BatchProcessor._scored_records(self.me, posts, brands, routed.labels, routed.probs,
                                       routed.intensity)
        for delta in deltas:
            call = self.calls.group_call("bench", delta)
            self.conn.pack_command("EVALSHA", "0" * 40, len(call.keys), *call.keys, *call.args)


def serial(batches: list[Batch], scorer: SentimentScorer, builder: Builder, on: bool
           ) -> tuple[float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    for batch in batches:
        builder.build(batch, score_here(scorer, batch[0], on))
    return time.process_time() - t0, time.perf_counter() - w0


def overlap(batches: list[Batch], scorer: SentimentScorer, builder: Builder, on: bool,
            pool: ThreadPoolExecutor) -> tuple[float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    pending: Future[BatchScores] = pool.submit(score_here, scorer, batches[0][0], on)
    for k, batch in enumerate(batches):
        scores = pending.result()
        if k + 1 < len(batches):
            pending = pool.submit(score_here, scorer, batches[k + 1][0], on)
        builder.build(batch, scores)
    return time.process_time() - t0, time.perf_counter() - w0


def main() -> None:
    args, settings, batches, n = bench_batches(__doc__)
    scorer = SentimentScorer(num_threads=1)
    scorer.router.detector.load()  # (not load_detectors: older trees time with this harness)
    builder = Builder(scorer)
    runs: dict[str, list[float]] = {}
    with ThreadPoolExecutor(1) as pool:
        for i in range(args.passes + 1):
            ways = [("serial", "off"), ("serial", "on"), ("overlap", "off"), ("overlap", "on")]
            for way, side in ways if i % 2 == 0 else ways[::-1]:
                on = side == "on"
                cpu, wall = (serial(batches, scorer, builder, on) if way == "serial"
                             else overlap(batches, scorer, builder, on, pool))
                if i:  # the first pass warms the tables and the interpreter
                    runs.setdefault(f"{way}.{side}", []).append(cpu * 1e6 / n)
                    runs.setdefault(f"{way}.{side}.wall", []).append(wall * 1e6 / n)
    best = {k: round(min(v), 2) for k, v in runs.items()}
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "drivers": settings.drivers, "input": args.input, "posts": n, "batch": args.batch,
        "us_per_post_best": best,
        "us_per_post_all": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "on_minus_off": {f"{way}{kind}": round(best[f"{way}.on{kind}"]
                                               - best[f"{way}.off{kind}"], 2)
                         for way in ("serial", "overlap") for kind in ("", ".wall")},
    }, indent=1))


if __name__ == "__main__":
    main()
