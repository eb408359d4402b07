"""The worker's per-post Python outside scoring, on one real batch: "parse" (records -> valid
posts and their brands: ``stream.worker.pipeline.validate``) and "build" (a scored batch -> its
group deltas, driver increments, scored-topic records and Redis script calls: the "build" stage
of ``BatchProcessor._finish``), in us per post, without Kafka or Redis.

A batch is ``--batch`` TweetEval test posts as the drain benchmarks send them (``created_at``
the send time, keyed by brand over 4 partitions), scored once by the worker's own scorer.

``--against REF``: the same measurement on the code of git REF too (its tree exported to a
temporary directory), the two alternating in child processes, so that old and new code are
compared side by side in one run on a shared machine; each figure is the least of ``--loops``
timings (this thread's CPU time) in one child, and the table gives the median and range over
``--rounds`` children.

    .venv/bin/python -m ops.bench.build_parse --against HEAD~3 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TWEETEVAL_TEST = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test.csv"
PARTITIONS = 4
PARTS = ("parse", "deltas", "drivers", "scored", "calls")


def tweeteval_batch(n: int, start: int = 0) -> Any:
    """``n`` TweetEval posts as one ``RecordBatch``: the drain benchmark's records (live
    ``created_at``, brand key, murmur-free stand-in partitioner: crc32 of the key)."""
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


def _least_us(fn: Callable[[], Any], loops: int, posts: int) -> float:
    """The least of ``loops`` timings, in us per post: on a shared machine the noise (another
    job on the other hyperthread, cache misses after a switch) only ever adds."""
    times = []
    for _ in range(loops):
        gc.collect()
        t0 = time.thread_time()  # CPU, not wall: the machine is shared, waits would count
        fn()
        times.append(time.thread_time() - t0)
    return min(times) * 1e6 / posts


def measure(batch_size: int, loops: int) -> dict[str, float]:
    """us per post of each part, on this process' code (run by each child)."""
    from sentistream.settings import Settings
    from stream.worker.aggregates import batch_deltas
    from stream.worker.brands import BrandsFile
    from stream.worker.driver_deltas import BatchDrivers
    from stream.worker.pipeline import BatchProcessor, validate
    from stream.worker.scoring import TokenRowsOf, load_scorer, score_here
    from stream.worker.sink import CallBuilder

    settings = Settings.from_env({})
    matcher = BrandsFile(None).current()
    batch = tweeteval_batch(batch_size)
    scorer = load_scorer(settings)
    posts, brands, _ = validate(batch, settings, matcher)
    scores = score_here(scorer, posts, settings.language_id != "off")
    s = scores.routed
    rows = TokenRowsOf(posts.texts, scores)
    drivers, calls = BatchDrivers(settings), CallBuilder(settings)
    fake = SimpleNamespace(scorer=scorer)
    n = len(posts)
    out = {"posts": float(n)}
    out["parse"] = _least_us(lambda: validate(batch, settings, matcher), loops, len(batch))
    out["deltas"] = _least_us(
        lambda: batch_deltas(posts, brands, s.labels, s.intensity, settings.top_posts), loops, n)
    deltas = batch_deltas(posts, brands, s.labels, s.intensity, settings.top_posts)
    out["drivers"] = _least_us(
        lambda: drivers.attach(deltas, posts, brands, s.labels, s.intensity, rows, matcher),
        loops, n)
    out["scored"] = _least_us(
        lambda: BatchProcessor._scored_records(fake, posts, brands, s.labels,  # type: ignore[arg-type]
                                               s.probs, s.intensity), loops, n)
    out["calls"] = _least_us(lambda: [calls.group_call(posts.topic, d) for d in deltas],
                              loops, n)
    out["groups"] = float(len(deltas))
    return out


def _export(ref: str, into: Path) -> Path:
    """The tree of git ``ref`` in ``into`` (git archive; no checkout of this worktree)."""
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), ref],
                   check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _child(tree: Path, batch: int, loops: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           "--batch", str(batch), "--loops", str(loops)],
                          cwd=tree, env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{statistics.median(values):.1f} ({lo:.1f}-{hi:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2048, help="posts in the batch")
    parser.add_argument("--loops", type=int, default=15, help="timings per child (the least is kept)")
    parser.add_argument("--rounds", type=int, default=3, help="children per code version")
    parser.add_argument("--against", default="", help="git ref of the code to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.batch, args.loops)))
        return 0
    from ops.bench.machine import cpu_model

    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": REPO}
        if args.against:
            trees = {f"{args.against}": _export(args.against, Path(tmp)), **trees}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(_child(tree, args.batch, args.loops))
    load = os.getloadavg()
    print(f"# build and parse, us per post ({args.batch}-record TweetEval batch, "
          f"{runs['this tree'][0]['posts']:.0f} valid posts, "
          f"{runs['this tree'][0]['groups']:.0f} groups); least of {args.loops} timings (thread "
          f"CPU time) per child, median (range) over {args.rounds} children per version")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_model()}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          "(shared machine)")
    print("| part | " + " | ".join(trees) + " |")
    print("|---|" + "---|" * len(trees))
    for part in (*PARTS, "build"):
        cells = []
        for name in trees:
            values = [sum(r[p] for p in PARTS[1:]) if part == "build" else r[part]
                      for r in runs[name]]
            cells.append(_span(values))
        print(f"| {part} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
