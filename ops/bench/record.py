"""Run a benchmark script that prints JSON and keep its result as a results file.

Usage: .venv/bin/python -m ops.bench.record NAME -- COMMAND [ARGS...]

Writes ops/bench/results/NAME.json: the command, the date, the CPU model, the CPU count and the
load average at start and end (figures only travel between machines with those), and the JSON
the command printed last. Used by ``make bench`` (ops/bench.sh) for the scripts that print their
figures instead of writing files (replay_bench.py, worker_throughput, infra_startup.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ops.bench.machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"


def record(name: str, command: list[str], out: Path = RESULTS) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_start = os.getloadavg()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = {"date": started, "command": " ".join(command), "cpu_model": cpu_model(),
              "cpus": os.cpu_count(), "loadavg_start": load_start,
              "loadavg_end": os.getloadavg(), "result": last_json(done.stdout)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result), flush=True)
    return result


def last_json(text: str) -> Any:
    """The last JSON document of the output: from the last line that opens one at column 0
    (one-line or indented) to the end."""
    starts = [i for i in range(len(text)) if text[i] == "{" and (i == 0 or text[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    raise SystemExit(f"the command printed no JSON:\n{text[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        raise SystemExit(__doc__)
    record(args[0], args[2:])


if __name__ == "__main__":
    main()
