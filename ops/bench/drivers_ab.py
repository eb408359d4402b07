"""Before/after of a change to the drivers' cost: workers with the drivers on running code A (a
source tree put first on PYTHONPATH, e.g. ``git archive <commit> stream model sentistream |
tar -x -C /tmp/base``) and code B (this tree), alternating, plus one with the drivers off (this
tree) per round for the on/off ratio.

Usage: .venv/bin/python -m ops.bench.drivers_ab --base /tmp/base [--posts N] [--rounds R]
       [--out FILE]

Same posts, topics and timing as ``ops.bench.drivers_cost`` (fresh topics and prefix per run);
reports posts per worker CPU-second, the sustained rate and Redis CPU per post of each side,
and per round (median, quartiles, range) the on/off ratios and the main thread's microseconds
per post from the scheduler's per-thread clock (``drivers_cost.paired``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ops.bench.drivers_cost import fresh, run_worker
from ops.bench.machine import cpu_model
from ops.bench.measure import spread
from ops.bench.report import print_json
from ops.bench.sustained import cleanup, sentistream_run
from sentistream.settings import get_settings
from sentistream.topics import ensure_topics

SIDES = ("off", "on_a", "on_b")


def one_run(side: str, base: Path, posts: int) -> dict[str, float]:
    settings = fresh(get_settings(), side != "off")
    ensure_topics(settings)
    sentistream_run(settings, "generate", "--max", "--limit", str(posts), "--seed", "1",
                    "--key", "id")
    saved = os.environ.get("PYTHONPATH")
    if side == "on_a":  # the worker child inherits it: code A is imported first
        os.environ["PYTHONPATH"] = str(base)
    try:
        return {**run_worker(settings, posts), "load_avg_1m": round(os.getloadavg()[0], 2)}
    finally:
        if side == "on_a":
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
        cleanup(settings)


def per_round(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Median, quartiles and range over the rounds (each round's three runs ran back to back)
    of on/off (posts per worker CPU-second, from the per-thread clock), of the main thread's
    on-minus-off microseconds per post, and of B against A."""
    rounds = list(zip(runs["off"], runs["on_a"], runs["on_b"], strict=True))
    out: dict[str, Any] = {}
    for i, side in ((1, "on_a"), (2, "on_b")):
        out[f"ratio_{side}_off_per_cpu_s"] = spread(
            [r[0]["worker_us_per_post"] / r[i]["worker_us_per_post"] for r in rounds])
        out[f"main_thread_{side}_minus_off_us_per_post"] = spread(
            [r[i]["main_thread_us_per_post"] - r[0]["main_thread_us_per_post"] for r in rounds], 2)
        out[f"worker_{side}_minus_off_us_per_post"] = spread(
            [r[i]["worker_us_per_post"] - r[0]["worker_us_per_post"] for r in rounds], 2)
        out[f"redis_{side}_minus_off_us_per_post"] = spread(
            [r[i]["redis_cpu_us_per_post"] - r[0]["redis_cpu_us_per_post"] for r in rounds], 2)
    out["main_thread_b_minus_a_us_per_post"] = spread(
        [r[2]["main_thread_us_per_post"] - r[1]["main_thread_us_per_post"] for r in rounds], 2)
    out["main_thread_us_per_post"] = {side: spread([r["main_thread_us_per_post"]
                                                    for r in runs[side]], 2) for side in SIDES}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--posts", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for r in range(args.rounds):
        order = SIDES if r % 2 == 0 else tuple(reversed(SIDES))
        for side in order:
            runs[side].append(one_run(side, args.base, args.posts))
            print(f"round {r} {side}: {runs[side][-1]}", flush=True)

    def mean(side: str, name: str) -> float:
        return sum(x[name] for x in runs[side]) / len(runs[side])

    names = ("posts_per_worker_cpu_s", "sustained_posts_per_s", "redis_cpu_us_per_post")
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "command": "python -m ops.bench.drivers_ab " + " ".join(sys.argv[1:]),
        "posts": args.posts, "rounds": runs,
        "mean": {side: {n: round(mean(side, n), 2) for n in names} for side in SIDES},
        "ratio_on_off_per_cpu_s": {s: round(mean(s, names[0]) / mean("off", names[0]), 3)
                                   for s in ("on_a", "on_b")},
        "ratio_on_off_sustained": {s: round(mean(s, names[1]) / mean("off", names[1]), 3)
                                   for s in ("on_a", "on_b")},
        "per_round": per_round(runs),
    }
    print_json(result, args.out)


if __name__ == "__main__":
    main()
