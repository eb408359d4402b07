"""The drivers' part of the worker's batch building, old code against new, interleaved in one
process: what a change to ``stream/drivers`` or ``driver_deltas`` / the sink's call building
saves, on a machine too loaded for separate runs to show it.

Usage: .venv/bin/python -m ops.bench.drivers_build_ab --against REF [--data generated|tweeteval]
       [--posts 16384] [--rounds 7] [--out FILE]

The whole ``stream`` package of git ``REF`` is extracted to a temporary directory as
``old_stream`` (its ``stream.`` imports renamed; ``model`` and ``sentistream`` are shared), so a
change anywhere in the drivers' modules is compared. The batches are those of
``ops.bench.drivers_worker_cpu`` (``sentistream generate --seed 1`` posts, or TweetEval, created
now, 2,048 a batch on 4 partitions), scored once by the worker's scorer. Each version runs the
worker's steps after scoring (``batch_deltas``, ``BatchDrivers.attach``, ``group_call`` of each
group, redis-py's ``pack_command`` of each call) with SENTISTREAM_DRIVERS on and off; per round
each batch is built by each of the four (old/new x on/off) ``--loops`` times in turn, timed on
this thread's CPU clock, and the least of each batch's timings is kept (noise only adds; a
batch is a few ms, so the least of a few is rarely disturbed) and summed over the batches.
Reported per version: the median and range over rounds of on, off and on minus off (the
drivers' share), in us per post, and per round new minus old of the drivers' share. The two
versions must build byte-identical calls (checked first), or the comparison stops, unless
``--calls-may-differ`` (a new form of the script's arguments, whose stored keys
``ops.bench.drivers_state_hash`` showed unchanged).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ops.bench.measure import spread

REPO = Path(__file__).resolve().parents[2]
_IMPORT = re.compile(r"\b(from|import)(\s+)stream\.")


def extract_old(ref: str, into: Path) -> None:
    """``stream/`` of ``ref`` as the package ``old_stream`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "stream"],
                             check=True, capture_output=True).stdout
    tar = into / "old.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    (into / "stream").rename(into / "old_stream")
    for path in (into / "old_stream").rglob("*.py"):
        path.write_text(_IMPORT.sub(r"\1\2old_stream.", path.read_text(encoding="utf-8")),
                        encoding="utf-8")


def modules(package: str) -> dict[str, ModuleType]:
    names = ("worker.aggregates", "worker.driver_deltas", "worker.sink")
    return {n.split(".")[1]: importlib.import_module(f"{package}.{n}") for n in names}


class Side:
    """One version's build of every batch, drivers on or off."""

    def __init__(self, m: dict[str, ModuleType], settings: Any, on: bool,
                 prepared: list[Any], matcher: Any) -> None:
        from redis.asyncio.connection import Connection

        s = settings.replace(drivers=on)
        self.m, self.prepared, self.matcher = m, prepared, matcher
        self.drivers = m["driver_deltas"].BatchDrivers(s)
        self.builder = m["sink"].CallBuilder(s)
        self.conn = Connection()
        self.posts = sum(len(p[0]) for p in prepared)

    def calls(self) -> list[tuple[list[str], list[str]]]:
        out = []
        for batch, brands, labels, intensity, rows in self.prepared:
            deltas = self.m["aggregates"].batch_deltas(batch, brands, labels, intensity, 8)
            self.drivers.attach(deltas, batch, brands, labels, intensity, rows, self.matcher)
            out += [(c.keys, c.args) for c in
                    (self.builder.group_call("bench", d) for d in deltas)]
        return out

    def run(self, i: int) -> float:
        """CPU seconds of this thread to build batch ``i``."""
        batch, brands, labels, intensity, rows = self.prepared[i]
        pack = self.conn.pack_command
        t0 = time.thread_time()
        deltas = self.m["aggregates"].batch_deltas(batch, brands, labels, intensity, 8)
        self.drivers.attach(deltas, batch, brands, labels, intensity, rows, self.matcher)
        for c in [self.builder.group_call("bench", d) for d in deltas]:
            pack("EVALSHA", "0" * 40, len(c.keys), *c.keys, *c.args)
        return time.thread_time() - t0


def prepare(data: str, posts: int) -> tuple[list[Any], Any, Any]:
    import numpy as np

    from model.scorer import SentimentScorer
    from ops.bench.drivers_worker_cpu import BatchRows, batches
    from sentistream.settings import get_settings
    from stream.worker.brands import BrandsFile
    from stream.worker.pipeline import validate

    settings = get_settings()
    matcher = BrandsFile().current()
    scorer = SentimentScorer(num_threads=1)
    prepared = []
    for records in batches(data, posts):
        batch, brands, _ = validate(records, settings, matcher)
        scores = scorer.score(batch.texts)
        rows = BatchRows(scorer.token_rows(batch.texts), batch.texts, scorer.tokenizer)
        prepared.append((batch, brands, np.asarray(scores.labels, np.int64),
                         np.asarray(scores.intensity, np.float32), rows))
    return prepared, settings, matcher


def main(argv: list[str] | None = None) -> int:
    from ops.bench.machine import cpu_model
    from ops.bench.report import print_json

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--against", required=True, help="git ref of the old code")
    p.add_argument("--data", choices=("generated", "tweeteval"), default="generated")
    p.add_argument("--posts", type=int, default=16_384)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--loops", type=int, default=5,
                   help="timings of each batch per round (the least is kept)")
    p.add_argument("--calls-may-differ", action="store_true",
                   help="compare even if the calls differ (a change of the ops' format, whose "
                        "stored keys ops.bench.drivers_state_hash showed the same)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    start, load0 = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.getloadavg()[0]
    prepared, settings, matcher = prepare(args.data, args.posts)
    with tempfile.TemporaryDirectory() as tmp:
        extract_old(args.against, Path(tmp))
        sys.path.insert(0, tmp)
        try:
            versions = {"old": modules("old_stream"), "new": modules("stream")}
        finally:
            sys.path.remove(tmp)
    sides = {(v, on): Side(m, settings, on, prepared, matcher)
             for v, m in versions.items() for on in (False, True)}
    for on in (False, True):  # warms the term tables too
        same = sides[("old", on)].calls() == sides[("new", on)].calls()
        if not same and not args.calls_may_differ:
            raise SystemExit(f"{args.against} builds other calls than this tree "
                             f"(drivers {'on' if on else 'off'})")
    posts = sides[("new", True)].posts
    times: dict[tuple[str, bool], list[float]] = {k: [] for k in sides}
    for r in range(args.rounds):
        total = dict.fromkeys(sides, 0.0)
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        gc.collect()
        for i in range(len(prepared)):
            least = dict.fromkeys(sides, float("inf"))
            for _ in range(args.loops):
                for key in order:
                    least[key] = min(least[key], sides[key].run(i))
            for key in sides:
                total[key] += least[key]
        for key in sides:
            times[key].append(total[key] * 1e6 / posts)
    share = {v: [on - off for on, off in zip(times[(v, True)], times[(v, False)], strict=True)]
             for v in versions}
    load = os.getloadavg()
    result = {
        "date": f"{start}-{time.strftime('%H:%M UTC', time.gmtime())}", "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m_start_end": [round(load0, 2), round(load[0], 2)],
        "command": "python -m ops.bench.drivers_build_ab " + " ".join(argv or sys.argv[1:]),
        "data": args.data, "posts": posts, "rounds": args.rounds, "loops": args.loops,
        "us_per_post": {v: {"off": spread(times[(v, False)]), "on": spread(times[(v, True)]),
                            "drivers_share": spread(share[v])} for v in versions},
        "new_minus_old_drivers_share_per_round": [round(n - o, 3) for n, o in
                                                  zip(share["new"], share["old"], strict=True)],
        "new_minus_old_on_per_round": [round(n - o, 3) for n, o in
                                       zip(times[("new", True)], times[("old", True)],
                                           strict=True)],
    }
    print_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
