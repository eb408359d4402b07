"""Fault injection: replay a known input through the worker while breaking things; exact or not.

Usage (from the repository root; starts and stops its own Kafka + Redis):
    .venv/bin/python -m ops.faults.run [--faults kill-worker,restart-redis,...] [--posts N]
                                       [--rate R] [--json FILE]

Faults: kill-worker (SIGKILL mid-replay, then a restart), restart-redis (SIGKILL of redis-server,
then a start), restart-kafka (broker stopped and started), two-workers-kill-one (SIGKILL one of
two), none (control). Each run compares every bucket, total, top-post set and dead-letter count
in Redis with the offline truth of the same input; exit status 1 unless every run is exact.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ops.bench import harness as h
from ops.faults.scenarios import FAULTS, Outcome, known_input, run_fault
from ops.faults.truth import expected

DEFAULT = "kill-worker,restart-redis,restart-kafka,two-workers-kill-one"


def table(outcomes: list[Outcome]) -> str:
    rows = ["| fault | records | valid posts | lost | double-counted | dead letters "
            "(want/got) | mismatched keys | exact | worker self-exits | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        v = o.verdict
        rows.append(f"| {o.fault} | {o.records:,} | {v.posts:,} | {v.lost} | "
                    f"{v.double_counted} | {v.dead_expected}/{v.dead_actual} | "
                    f"{v.mismatched_cells + v.mismatched_tops + v.mismatched_authors} | "
                    f"{'yes' if v.exact else 'NO'} | {o.worker_exits} | {o.seconds:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faults", default=DEFAULT, help=f"comma list of {', '.join(FAULTS)}")
    p.add_argument("--posts", type=int, default=12_000)
    p.add_argument("--rate", type=float, default=600.0, help="posts/s the replay sends")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", type=Path, default=None, help="also write the outcomes here")
    args = p.parse_args(argv)
    base = h.bench_settings()
    values = known_input(args.posts, args.seed)
    log_dir = base.state_dir / "logs" / time.strftime("faults-%Y%m%d-%H%M%S")
    outcomes = []
    with h.services(base):
        want = expected(base, values)
        for fault in args.faults.split(","):
            print(f"== {fault}: {len(values)} records at {args.rate:.0f}/s", flush=True)
            outcome = run_fault(base, fault, values, args.rate, log_dir, want=want)
            for note in outcome.notes:
                print(f"   {note}", flush=True)
            outcomes.append(outcome)
    print(table(outcomes))
    print(f"worker logs: {log_dir}")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) | {"exact": o.verdict.exact}
                                         for o in outcomes], indent=1) + "\n")
    return 0 if all(o.verdict.exact for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
