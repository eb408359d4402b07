"""Where the drivers' worker CPU goes: the batch-building steps of the worker, timed in-process
(this thread's CPU clock) with SENTISTREAM_DRIVERS on and off, on the same batches.

Usage: .venv/bin/python -m ops.bench.drivers_worker_cpu [--posts 40000] [--passes 5]
       [--data generated|tweeteval] [--by-function] [--out FILE]

For the posts of ``sentistream generate --seed 1`` (or the TweetEval test set, each tweet's topic
as its brand), created now, in batches of 2,048 on 4 partitions, each step the worker runs
after scoring: ``batch_deltas``; ``BatchDrivers.attach`` (``features``: term rows, retweets,
fingerprints, authors; then the per-group deltas); ``CallBuilder.group_call`` (the ops and their
JSON); and redis-py's ``pack_command`` of each EVALSHA (what the client does before the socket
write). Passes alternate off/on; the first pass has cold term tables (reported apart), the
others are warm: best of them, microseconds per post. No Kafka or Redis is needed.
``--by-function`` also times each of the drivers' functions (``BY_FUNCTION``) in the "on"
passes, each call on this thread's CPU clock (a few calls per batch: the wrappers cost nothing
measurable).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.asyncio.connection import Connection

from ops.bench import harness as h
from ops.bench.machine import cpu_model
from ops.bench.report import print_json
from sentistream.settings import get_settings
from stream.worker.aggregates import batch_deltas, intensity_e6
from stream.worker.brands import BrandMatcher, BrandsFile
from stream.worker.driver_deltas import BatchDrivers, FeatureExtractor, attach
from stream.worker.pipeline import validate
from stream.worker.posts import Posts, RawRecord
from stream.worker.sink import CallBuilder

BATCH = 2048
PARTITIONS = 4
STEPS = ("deltas", "features", "attach", "group_call", "pack")
Int64Array = npt.NDArray[np.int64]
# (module, attribute) of each function --by-function times; _ops_json is every op's JSON
# (aggregates too), the rest are the drivers' own.
BY_FUNCTION = (
    ("stream.drivers.reposts", "RowFingerprints.of_rows"),
    ("stream.worker.driver_deltas", "_authors"),
    ("stream.drivers.terms", "TermExtractor.extract_rows"),
    ("stream.worker.driver_deltas", "_pairs"), ("stream.worker.driver_deltas", "_repost_posts"),
    ("stream.worker.driver_deltas", "_add_authors"), ("stream.worker.driver_deltas", "_add_terms"),
    ("stream.worker.driver_deltas", "_add_examples"), ("stream.worker.sink", "driver_ops"),
    ("stream.worker.sink", "_ops_json"))
Prepared = tuple[Posts, list[tuple[str, ...]], Int64Array, npt.NDArray[np.float32], "BatchRows"]


def batches(data: str, posts: int) -> list[list[RawRecord]]:
    corpus = h.generated(posts, seed=1) if data == "generated" else h.tweeteval()
    docs = h.repeated(corpus.posts, posts)
    now = time.time()
    values = [json.dumps({**d, "created_at": now}).encode() for d in docs]
    out = []
    for start in range(0, len(values), BATCH):
        out.append([RawRecord(v, "bench", i % PARTITIONS, i // PARTITIONS, now)
                    for i, v in enumerate(values[start:start + BATCH], start)])
    return out


def one_pass(prepared: list[Prepared], drivers: BatchDrivers, builder: CallBuilder,
             matcher: BrandMatcher) -> dict[str, float]:
    """CPU seconds of each step over every batch (this thread's clock)."""
    spent = dict.fromkeys(STEPS, 0.0)
    conn = Connection()
    clock = time.thread_time
    # An older tree (``--base`` runs, PYTHONPATH) extracts every post's terms: no labels.
    takes_labels = "labels" in inspect.signature(FeatureExtractor.features).parameters
    for batch, brands, labels, intensity, scorer in prepared:
        t0 = clock()
        deltas = batch_deltas(batch, brands, labels, intensity, 8)
        t1 = clock()
        spent["deltas"] += t1 - t0
        if drivers.enabled:
            ext = drivers.extractor_for(matcher)
            t1 = clock()
            features = (ext.features(batch, scorer, labels) if takes_labels
                        else ext.features(batch, scorer))
            t2 = clock()
            attach(deltas, batch, brands, labels, intensity_e6(intensity), features, None,
                   drivers.examples)
            t3 = clock()
            spent["features"] += t2 - t1
            spent["attach"] += t3 - t2
        t3 = clock()
        calls = [builder.group_call("bench", d) for d in deltas]
        t4 = clock()
        for c in calls:
            conn.pack_command("EVALSHA", "0" * 40, len(c.keys), *c.keys, *c.args)
        t5 = clock()
        spent["group_call"] += t4 - t3
        spent["pack"] += t5 - t4
    return spent


def time_functions(spent: dict[str, float]) -> Callable[[], None]:
    """Wrap every function of BY_FUNCTION to add its CPU seconds to ``spent``; returns the
    undo."""
    undo: list[tuple[Any, str, Any]] = []
    for module_name, path in BY_FUNCTION:
        owner: Any = importlib.import_module(module_name)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        original = owner.__dict__[name]

        def timed(*args: Any, _f: Any = original, _name: str = name, **kw: Any) -> Any:
            t0 = time.thread_time()
            try:
                return _f(*args, **kw)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.thread_time() - t0

        setattr(owner, name, timed)
        undo.append((owner, name, original))

    def restore() -> None:
        for owner, name, original in undo:
            setattr(owner, name, original)

    return restore


class BatchRows:
    """The scorer's token rows of one batch, as the worker hands them to the drivers."""

    def __init__(self, rows: Int64Array | None, texts: object, tokenizer: object) -> None:
        self.rows, self.texts, self.tokenizer = rows, texts, tokenizer

    def token_rows(self, texts: object) -> Int64Array | None:
        return self.rows if texts is self.texts else None


def main() -> None:
    from model.scorer import SentimentScorer

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=40_000)
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--data", choices=("generated", "tweeteval"), default="generated")
    p.add_argument("--by-function", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    settings = get_settings()
    matcher = BrandsFile().current()
    scorer = SentimentScorer(num_threads=1)
    prepared: list[Prepared] = []
    for records in batches(args.data, args.posts):
        batch, brands, _ = validate(records, settings, matcher)
        scores = scorer.score(batch.texts)
        rows = BatchRows(scorer.token_rows(batch.texts), batch.texts, scorer.tokenizer)
        prepared.append((batch, brands, np.asarray(scores.labels, np.int64),
                         np.asarray(scores.intensity, np.float32), rows))
    n = sum(len(b[0]) for b in prepared)
    sides = {"off": (BatchDrivers(settings.replace(drivers=False)),
                     CallBuilder(settings.replace(drivers=False))),
             "on": (BatchDrivers(settings.replace(drivers=True)),
                    CallBuilder(settings.replace(drivers=True)))}
    cold: dict[str, dict[str, float]] = {}
    best: dict[str, dict[str, float]] = {"off": {}, "on": {}}
    functions: dict[str, float] = {}
    for i in range(args.passes):
        for side in (("off", "on") if i % 2 == 0 else ("on", "off")):
            spent: dict[str, float] = {}
            undo = time_functions(spent) if args.by_function and side == "on" else None
            try:
                got = {k: v * 1e6 / n
                       for k, v in one_pass(prepared, *sides[side], matcher).items()}
            finally:
                if undo is not None:
                    undo()
            got["total"] = sum(got.values())
            if i and spent:
                for k, v in spent.items():
                    functions[k] = min(functions.get(k, v * 1e6 / n), v * 1e6 / n)
            if i == 0:
                cold[side] = got
            else:
                for k, v in got.items():
                    best[side][k] = min(best[side].get(k, v), v)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "command": "python -m ops.bench.drivers_worker_cpu " + " ".join(sys.argv[1:]),
        "data": args.data, "posts": n,
        "us_per_post_cold_first_pass": {s: {k: round(v, 2) for k, v in d.items()}
                                        for s, d in cold.items()},
        "us_per_post_warm_best": {s: {k: round(v, 2) for k, v in d.items()}
                                  for s, d in best.items()},
        "drivers_us_per_post_warm": round(best["on"]["total"] - best["off"]["total"], 2),
    }
    if functions:
        result["on_us_per_post_by_function_warm_best"] = {k: round(v, 2)
                                                          for k, v in functions.items()}
    print_json(result, args.out)


if __name__ == "__main__":
    main()
