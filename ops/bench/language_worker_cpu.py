"""Where language ID's worker CPU goes: the worker's scoring and bucket-building steps timed
in-process (this thread's CPU clock) with language ID on and off, on the same batches.

Usage: .venv/bin/python -m ops.bench.language_worker_cpu [--posts 20480] [--batch 2048]
       [--passes 4] [--input english-detect|umsab|english]

The posts of ``ops.bench.language_throughput`` (same input names), parsed by the worker's
``validate``, then per batch: ``score_here`` (with language ID on: detection, routing, the
models, the token rows; off: the English model and its rows), ``batch_deltas`` (per-language
bucket fields when on) and each group's ``CallBuilder.group_call`` plus redis-py's
``pack_command``. With language ID on, also the detection's parts alone: ``route``, the noise
regex (``strip``) and bare ``pycld2.detect`` calls. Passes alternate off/on; the first is a
warm-up; best of the others, microseconds per post. No Kafka or Redis is needed. Run it as a
file with ``PYTHONPATH=<another tree>`` to time that tree's code with this harness.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

import pycld2
from redis.asyncio.connection import Connection

from model.languages import _strip_batch
from model.scorer import SentimentScorer
from ops.bench.language_throughput import posts as bench_posts
from ops.bench.machine import cpu_model
from sentistream.settings import Settings, get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.pipeline import validate
from stream.worker.posts import Posts, RawRecord
from stream.worker.scoring import score_here
from stream.worker.sink import CallBuilder

STEPS = ("score", "deltas", "calls", "route", "strip", "cld2")
Batch = tuple[Posts, list[tuple[str, ...]]]


def validated_batches(values: list[bytes], batch: int, settings: Settings) -> list[Batch]:
    """The worker's validated posts and brand matches of ``values`` in batches of ``batch``,
    as the worker's first step leaves them (records of 4 partitions, stamped now)."""
    matcher = BrandsFile().current()
    now = time.time()
    batches: list[Batch] = []
    for start in range(0, len(values), batch):
        records = [RawRecord(v, "bench", i % 4, i // 4, now)
                   for i, v in enumerate(values[start:start + batch], start)]
        posts, brands, _ = validate(records, settings, matcher)
        batches.append((posts, brands))
    return batches


def bench_batches(doc: str | None) -> tuple[argparse.Namespace, Settings, list[Batch], int]:
    """The in-process language benches' command line (--posts, --batch, --passes, --input) and
    its validated batches: (arguments, settings, batches, posts in them)."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=20_480)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--input", choices=("english-detect", "umsab", "english"),
                   default="english-detect")
    args = p.parse_args()
    settings = get_settings()
    batches = validated_batches(bench_posts(args.input, args.posts), args.batch, settings)
    return args, settings, batches, sum(len(b[0]) for b in batches)


def one_pass(batches: list[Batch], scorer: SentimentScorer, builder: CallBuilder, on: bool,
             n: int) -> dict[str, float]:
    """Microseconds of CPU per post of each step over every batch."""
    spent = dict.fromkeys(STEPS, 0.0)
    conn = Connection()
    clock = time.thread_time
    for posts, brands in batches:
        t0 = clock()
        routed = score_here(scorer, posts, on).routed
        t1 = clock()
        deltas = batch_deltas(posts, brands, routed.labels, routed.intensity, 8)
        t2 = clock()
        for delta in deltas:
            call = builder.group_call("bench", delta)
            conn.pack_command("EVALSHA", "0" * 40, len(call.keys), *call.keys, *call.args)
        t3 = clock()
        spent["score"] += t1 - t0
        spent["deltas"] += t2 - t1
        spent["calls"] += t3 - t2
        if on:  # the detection's parts, again, alone
            langs = [doc.get("lang") for doc in posts.docs]
            t4 = clock()
            scorer.router.route(posts.texts, langs)
            t5 = clock()
            stripped = _strip_batch(posts.texts)
            t6 = clock()
            for text in stripped:
                # UMSAB holds a text CLD2 rejects (invalid UTF-8 after a surrogate)
                with contextlib.suppress(pycld2.error):
                    pycld2.detect(text, isPlainText=True, bestEffort=True)
            t7 = clock()
            spent["route"] += t5 - t4
            spent["strip"] += t6 - t5
            spent["cld2"] += t7 - t6
    return {k: v * 1e6 / n for k, v in spent.items()}


def main() -> None:
    args, settings, batches, n = bench_batches(__doc__)
    scorer = SentimentScorer(num_threads=1)
    builder = CallBuilder(settings)
    best: dict[str, dict[str, float]] = {"off": {}, "on": {}}
    for i in range(args.passes + 1):
        for side in (("off", "on") if i % 2 == 0 else ("on", "off")):
            got = one_pass(batches, scorer, builder, side == "on", n)
            got["worker_steps"] = got["score"] + got["deltas"] + got["calls"]
            if i:  # the first pass warms the tables and the interpreter
                for k, v in got.items():
                    best[side][k] = min(best[side].get(k, v), v)
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "load_avg_1m": round(os.getloadavg()[0], 2), "input": args.input, "posts": n,
        "us_per_post_best": {s: {k: round(v, 2) for k, v in d.items()} for s, d in best.items()},
        "on_minus_off_us": round(best["on"]["worker_steps"] - best["off"]["worker_steps"], 2),
    }))


if __name__ == "__main__":
    main()
