"""Term counting (``BatchTerms.group_ranked``) for brands outside the brands file, old code
against new, interleaved in one process: what leaving such a brand's own name out of its terms
costs (``stream.drivers.terms.own_names``; README, the fuzz's find).

Usage: .venv/bin/python -m ops.bench.own_names_ab --against REF [--rounds 9] [--out FILE]

Two cases, each timed on this thread's CPU clock as the least of ``--loops`` calls per batch,
summed over the batches, per round old then new:

* ``tweeteval``: the TweetEval test set in batches of 2,048, one group per topic (~130 a batch,
  each a brand outside the file, as the worker sees them: its ``brand`` field is the topic);
* ``one_brand``: 2,048 ``sentistream generate --seed 1`` posts about ``zorblax`` (outside the
  file), in 8 groups.

``stream`` of ``REF`` is loaded as ``old_stream`` (``ops.bench.drivers_build_ab.extract_old``).
Reported: per case and version the median and range over rounds in us a post, the per-round
new minus old, and the term counts each sends (new leaves the brands' own names out).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ops.bench.drivers_build_ab import extract_old
from ops.bench.harness import TWEETEVAL_TEST
from ops.bench.measure import spread

BATCH = 2048
Case = list[tuple[list[str], Any, Any, list[str | None]]]  # texts, pair_post, pair_group, brands


def tweeteval_case() -> Case:
    with TWEETEVAL_TEST.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out: Case = []
    for lo in range(0, len(rows) - BATCH + 1, BATCH):
        part = rows[lo:lo + BATCH]
        topics = sorted({r.get("topic") or "" for r in part})
        code = {t: i for i, t in enumerate(topics)}
        out.append(([r["text"] for r in part], np.arange(len(part), dtype=np.int64),
                     np.asarray([code[r.get("topic") or ""] for r in part], np.int64),
                     [t.strip().lower() or None for t in topics]))
    return out


def one_brand_case() -> Case:
    from producers.generator import generate_posts

    texts = [p["text"] for p in generate_posts(["zorblax"], seed=1, limit=BATCH)]
    return [(texts, np.arange(BATCH, dtype=np.int64),
             (np.arange(BATCH) % 8).astype(np.int64), ["zorblax"] * 8)]


def timed(prepared: list[Any], posts: int, loops: int) -> float:
    total = 0.0
    for batch, pair_post, pair_group, brands in prepared:
        best = float("inf")
        for _ in range(loops):
            t0 = time.thread_time()
            batch.group_ranked(pair_post, pair_group, brands)
            best = min(best, time.thread_time() - t0)
        total += best
    return total / posts * 1e6


def main(argv: list[str] | None = None) -> int:
    from ops.bench.machine import cpu_model
    from ops.bench.report import print_json
    from stream.worker.brands import BrandsFile

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--against", required=True, help="git ref of the old code")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--loops", type=int, default=30)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = [float(Path("/proc/loadavg").read_text().split()[0])]
    definitions = BrandsFile().current().definitions
    cases = {"tweeteval": tweeteval_case(), "one_brand": one_brand_case()}
    with tempfile.TemporaryDirectory() as tmp:
        extract_old(args.against, Path(tmp))
        sys.path.insert(0, tmp)
        try:
            versions = {"old": importlib.import_module("old_stream.drivers.terms"),
                        "new": importlib.import_module("stream.drivers.terms")}
        finally:
            sys.path.remove(tmp)
        result: dict[str, Any] = {}
        for name, case in cases.items():
            posts = sum(len(texts) for texts, *_ in case)
            prepared = {v: [(m.TermExtractor(definitions).extract(texts), pp, pg, b)
                            for texts, pp, pg, b in case] for v, m in versions.items()}
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                for v in ("old", "new"):
                    times[v].append(timed(prepared[v], posts, args.loops))
            sent = {v: sum(len(flat) // 2 for batch, pp, pg, b in prepared[v]
                           for flat in batch.group_ranked(pp, pg, b)) for v in prepared}
            result[name] = {
                "posts": posts, "groups_a_batch": [len(b) for *_, b in case],
                "us_per_post": {v: spread(t) for v, t in times.items()},
                "new_minus_old_per_round": [round(n - o, 3) for o, n in
                                            zip(times["old"], times["new"], strict=True)],
                "term_counts_sent": sent}
    load.append(float(Path("/proc/loadavg").read_text().split()[0]))
    command = "python -m ops.bench.own_names_ab " + " ".join(argv or sys.argv[1:])
    print_json({"date": started, "cpu": cpu_model(), "load_avg_1m_start_end": load,
                "command": command, "against": args.against, "rounds": args.rounds,
                "loops": args.loops, **result}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
