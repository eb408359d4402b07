"""`sentistream worker` whose offset commits each take ``SLOW_COMMIT_S`` longer, for the fetch
loop test (tests/stream/test_fetch_commit.py).

Usage: python -m tests.stream.slow_commit_worker [worker options]

Faust's fetch loop commits every ``broker_commit_every`` acks (here ``COMMIT_EVERY``, Faust's
default being 10,000). Each commit prints ``COMMIT <start> <end>`` (unix times) and each
delivery of a fetch to the agent ``DELIVER <time>``, so the test can tell whether records were
fetched while a commit was under way.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from sentistream.cli import main
from stream.worker.batch_consumer import LeanConsumer

SLOW_COMMIT_S = 2.0
COMMIT_EVERY = 20

_commit = LeanConsumer.commit
_deliver = LeanConsumer._deliver
_init = LeanConsumer.__init__


def _init_every(self: LeanConsumer, *args: Any, **kwargs: Any) -> None:
    _init(self, *args, **kwargs)
    self._commit_every = COMMIT_EVERY


async def _slow_commit(self: LeanConsumer, *args: Any, **kwargs: Any) -> bool:
    started = time.time()
    await asyncio.sleep(SLOW_COMMIT_S)  # a broker slow to answer the offset commit
    try:
        return await _commit(self, *args, **kwargs)
    finally:
        print(f"COMMIT {started:.3f} {time.time():.3f}", flush=True)


async def _timed_deliver(self: LeanConsumer, records: Any, active: Any) -> None:
    if any(records.values()):
        print(f"DELIVER {time.time():.3f}", flush=True)
    await _deliver(self, records, active)


if __name__ == "__main__":
    LeanConsumer.__init__ = _init_every  # type: ignore[method-assign]
    LeanConsumer.commit = _slow_commit  # type: ignore[method-assign]
    LeanConsumer._deliver = _timed_deliver  # type: ignore[method-assign]
    sys.exit(main(["worker", *sys.argv[1:]]))
