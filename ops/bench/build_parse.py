"""The worker's per-post Python outside scoring, on one real batch: "parse" (records -> valid
posts: ``posts.parse_batch``; their brands: ``BrandMatcher.brands_of``) and "build" (a scored
batch -> its group deltas, driver increments, scored-topic records and Redis script calls: the
"build" stage of ``BatchProcessor._finish``), in us of CPU per post, without Kafka or Redis.

A batch is ``--batch`` TweetEval test posts as the drain benchmarks send them (``created_at``
the send time, keyed by brand over 4 partitions), scored once by the worker's own scorer.

``--against REF``: the modules of that git commit that build and parse (``MODULES``) are loaded
too, with the rest of its ``stream`` package, as ``old_stream``, and each part is timed old,
new, old, new... in this one process, so that both see the same machine at the same moments (on
a shared machine, separate runs differed by 40% with the same code). Each figure is the least of
``--loops`` timings of this thread's CPU time (noise only adds), per round; the table gives the
median and the range over ``--rounds`` rounds. Parts whose module did not change are timed both
ways too: their two columns show the noise.

    .venv/bin/python -m ops.bench.build_parse --against e0d1768 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from ops.bench.drivers_build_ab import extract_old

REPO = Path(__file__).resolve().parents[2]
TWEETEVAL_TEST = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test.csv"
PARTITIONS = 4
# The modules of the two stages, loaded from --against in dependency order.
MODULES = ("posts", "brands", "aggregates", "driver_deltas", "sink", "pipeline")
PARTS = ("parse: records", "parse: brands", "build: deltas", "build: drivers",
         "build: scored records", "build: calls")


def tweeteval_batch(n: int, start: int = 0) -> Any:
    """``n`` TweetEval posts as one ``RecordBatch``: the drain benchmark's records (live
    ``created_at``, keyed by brand; crc32 of the key stands in for Kafka's partitioner)."""
    import csv

    from producers.records import encode_keys, encode_values
    from stream.worker.posts import RecordBatch

    with TWEETEVAL_TEST.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    now = round(time.time(), 3)
    posts = []
    for i in range(start, start + n):
        row = rows[i % len(rows)]
        post = {"id": f"te{row['semeval_id']}~{i // len(rows)}", "text": row["text"],
                "created_at": now}
        if row.get("topic"):
            post["brand"] = row["topic"]
        posts.append(post)
    keys, values = encode_keys(posts, "brand"), encode_values(posts)
    partitions = [zlib.crc32(k) % PARTITIONS for k in keys]
    next_offset = [1000] * PARTITIONS
    offsets = []
    for p in partitions:
        offsets.append(next_offset[p])
        next_offset[p] += 1
    return RecordBatch("bench.posts", list(values), partitions, offsets, [now] * n)


def load_old(ref: str, into: Path) -> dict[str, ModuleType]:
    """``stream.worker.<name>`` of git ``ref`` for each of ``MODULES``, from the whole ``stream``
    package of ``ref`` loaded as ``old_stream`` (``drivers_build_ab.extract_old``): the modules
    they import (``stream.drivers``, ``stream.schema``...) are the old ones too. (Loading the
    worker's modules alone left them on this tree's drivers, so a change to ``stream/drivers``
    was timed as itself on both sides.) ``into`` stays on ``sys.path`` while it exists."""
    extract_old(ref, into)
    sys.path.insert(0, str(into))
    return {name: importlib.import_module(f"old_stream.worker.{name}") for name in MODULES}

def current() -> dict[str, ModuleType]:
    return {name: importlib.import_module(f"stream.worker.{name}") for name in MODULES}


def _cpu_us(fn: Callable[[], Any], posts: int) -> float:
    gc.collect()
    t0 = time.thread_time()  # CPU, not wall: the machine is shared, waits would count
    fn()
    return (time.thread_time() - t0) * 1e6 / posts


class Case:
    """The parts of one code version on one scored batch, each a no-argument call."""

    def __init__(self, m: dict[str, ModuleType], batch: Any, scorer: Any, settings: Any) -> None:
        from stream.worker.scoring import TokenRowsOf, score_here

        matcher = m["brands"].BrandsFile(None).current()
        batch = m["posts"].RecordBatch(batch.topic, batch.values, batch.partitions,
                                       batch.offsets, batch.timestamps_s)  # its own class
        limits = (settings.max_text_chars,)
        options = {"max_brands": settings.max_brands_per_post,
                   "future_allowance_s": settings.future_allowance_s,
                   "max_post_bytes": settings.max_post_bytes}
        posts, _ = m["posts"].parse_batch(batch, *limits, **options)
        brands = matcher.brands_of(posts.texts, posts.explicit_brands)
        scores = score_here(scorer, posts, settings.language_id != "off")
        s, rows = scores.routed, TokenRowsOf(posts.texts, scores)
        drivers = m["driver_deltas"].BatchDrivers(settings)
        builder = m["sink"].CallBuilder(settings)
        top_k = settings.top_posts
        deltas = m["aggregates"].batch_deltas(posts, brands, s.labels, s.intensity, top_k)
        drivers.attach(deltas, posts, brands, s.labels, s.intensity, rows, matcher)
        fake = SimpleNamespace(scorer=scorer)
        records = m["pipeline"].BatchProcessor._scored_records
        self.posts, self.groups = len(posts), len(deltas)
        self.calls = [builder.group_call(posts.topic, d) for d in deltas]
        self.parts: dict[str, tuple[Callable[[], Any], int]] = {
            "parse: records": (lambda: m["posts"].parse_batch(batch, *limits, **options),
                               len(batch)),
            "parse: brands": (lambda: matcher.brands_of(posts.texts, posts.explicit_brands),
                              len(batch)),
            "build: deltas": (lambda: m["aggregates"].batch_deltas(
                posts, brands, s.labels, s.intensity, top_k), len(posts)),
            "build: drivers": (lambda: drivers.attach(deltas, posts, brands, s.labels,
                                                      s.intensity, rows, matcher), len(posts)),
            "build: scored records": (lambda: records(fake, posts, brands, s.labels, s.probs,
                                                      s.intensity), len(posts)),
            "build: calls": (lambda: [builder.group_call(posts.topic, d) for d in deltas],
                             len(posts)),
        }


def run(args: argparse.Namespace) -> tuple[dict[str, dict[str, list[float]]], Case]:
    from sentistream.settings import Settings
    from stream.worker.scoring import load_scorer

    settings = Settings.from_env({})
    batch = tweeteval_batch(args.batch)
    scorer = load_scorer(settings)
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"this tree": current()}
        if args.against:
            versions = {args.against: load_old(args.against, Path(tmp)), **versions}
        cases = {name: Case(m, batch, scorer, settings) for name, m in versions.items()}
    new = cases["this tree"]
    for name, case in cases.items():  # the same writes, or the comparison means nothing
        if [(c.keys, c.args) for c in case.calls] != [(c.keys, c.args) for c in new.calls]:
            raise SystemExit(f"{name} builds other script calls than this tree")
    times: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PARTS} for n in cases}
    for _ in range(args.rounds):
        least: dict[str, dict[str, float]] = {n: {p: float("inf") for p in PARTS} for n in cases}
        for _ in range(args.loops):
            for part in PARTS:
                for name, case in cases.items():  # old, new, old, new...
                    fn, n = case.parts[part]
                    least[name][part] = min(least[name][part], _cpu_us(fn, n))
        for name in cases:
            for part in PARTS:
                times[name][part].append(least[name][part])
    return times, new


def _span(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2048, help="posts in the batch")
    parser.add_argument("--loops", type=int, default=15,
                        help="timings of each part per round (the least is kept)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", default="", help="git ref of the code to compare with")
    args = parser.parse_args(argv)
    from ops.bench.machine import cpu_model

    start = time.gmtime()
    times, case = run(args)
    load = os.getloadavg()
    print(f"# build and parse, us of CPU per post ({args.batch}-record TweetEval batch, "
          f"{case.posts} valid posts, {case.groups} groups); least of {args.loops} timings "
          f"per round, median (range) over {args.rounds} rounds, versions interleaved")
    print(f"# {time.strftime('%Y-%m-%d %H:%M', start)}-{time.strftime('%H:%M UTC', time.gmtime())}"
          f", {cpu_model()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f} at the end (shared machine)")
    print(f"# command: python -m ops.bench.build_parse {' '.join(argv or sys.argv[1:])}")
    names = list(times)
    print("| part | " + " | ".join(names) + (" | new / old |" if len(names) > 1 else " |"))
    print("|---|" + "---|" * (len(names) + (1 if len(names) > 1 else 0)))
    totals = {"parse": [p for p in PARTS if p.startswith("parse")],
              "build": [p for p in PARTS if p.startswith("build")]}
    rows = {**{p: [p] for p in PARTS}, **{f"**{k}**": v for k, v in totals.items()}}
    for row, parts in rows.items():
        sums = {n: [sum(v) for v in zip(*(times[n][p] for p in parts), strict=True)]
                for n in names}
        cells = [_span(sums[n]) for n in names]
        if len(names) > 1:
            ratio = statistics.median(sums[names[1]]) / statistics.median(sums[names[0]])
            cells.append(f"{ratio:.2f}")
        print(f"| {row} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
