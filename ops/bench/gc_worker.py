"""``sentistream <args>`` with the garbage collector's work counted: for benchmarks only.

Usage: python -m ops.bench.gc_worker OUT.json worker [...]

Installs a ``gc.callbacks`` hook that adds up, per generation, the collections and the thread
CPU time (``time.thread_time``) between each collection's start and stop, and rewrites OUT.json
with the running totals every 0.5 s (the worker is stopped by a signal, so no exit hook is
relied on). Then runs the ``sentistream`` entry point with the remaining arguments.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

_started: dict[int, float] = {}
totals: dict[str, list[float]] = {str(g): [0, 0.0, 0] for g in range(3)}  # count, cpu s, objects


def _hook(phase: str, info: dict[str, Any]) -> None:
    me = threading.get_ident()
    if phase == "start":
        _started[me] = time.thread_time()
        return
    row = totals[str(info["generation"])]
    row[0] += 1
    row[1] += time.thread_time() - _started.pop(me, time.thread_time())
    row[2] += info.get("collected", 0)


def _dump(out: Path) -> None:
    while True:
        time.sleep(0.5)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generations": totals}))
        tmp.replace(out)


def main() -> None:
    out = Path(sys.argv[1])
    gc.callbacks.append(_hook)
    threading.Thread(target=_dump, args=(out,), daemon=True).start()
    sys.argv = ["sentistream", *sys.argv[2:]]
    from sentistream.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
