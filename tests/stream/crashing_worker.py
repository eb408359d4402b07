"""`sentistream worker` with a part that raises at its first batch, for the lifeline tests.

Usage: python -m tests.stream.crashing_worker agent|fetcher [worker options]

``agent``: the batch processor raises preparing a batch (as a bug in the scoring agent would);
``fetcher``: the consumer's delivery raises (a bug in the fetch loop). Prints
``INDUCED <part> <unix time>`` first.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from sentistream.cli import main
from stream.worker.batch_consumer import LeanConsumer
from stream.worker.pipeline import BatchProcessor


class InducedCrash(RuntimeError):
    """The failure this harness injects."""


def _raise(part: str) -> Any:
    async def crash(*args: Any, **kwargs: Any) -> None:
        print(f"INDUCED {part} {time.time():.3f}", flush=True)
        raise InducedCrash(f"induced {part} crash")

    return crash


if __name__ == "__main__":
    part = sys.argv.pop(1)
    if part == "agent":
        BatchProcessor.prepare = _raise(part)  # type: ignore[method-assign]
        BatchProcessor.begin = _raise(part)  # type: ignore[method-assign]  # scoring process
    elif part == "fetcher":
        LeanConsumer._deliver = _raise(part)  # type: ignore[method-assign]
    else:
        sys.exit(f"unknown part {part!r}: agent or fetcher")
    sys.exit(main(["worker", *sys.argv[1:]]))
