"""A worker whose fetcher or scoring agent dies exits at once, non-zero, saying why.

The worker runs for real (Kafka, Redis, the shipped model) with one part made to raise at its
first batch (tests/stream/crashing_worker.py); lingering half-alive (alive, partitions held,
nothing processed) is the failure.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from sentistream.harness import Child, free_port, start_worker
from sentistream.settings import Settings
from stream.errors import WorkerCrashedError
from stream.worker.lifeline import HARD_EXIT_AFTER_S
from tests.stream.workers import make_input, produce

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("part", "name"), [("agent", "scoring agent"), ("fetcher", "fetcher")])
def test_worker_exits_nonzero_at_once_when_a_part_dies(isolated: Settings, tmp_path: Path,
                                                       part: str, name: str) -> None:
    produce(isolated, make_input(200, seed=31))
    worker = start_worker(isolated, tmp_path, free_port(),
                          argv=[sys.executable, "-m", "tests.stream.crashing_worker", part])
    try:
        induced = _wait_induced(worker, 120)
        worker.proc.wait(HARD_EXIT_AFTER_S + 10)  # raises TimeoutExpired if it lingers
        exited_after = time.time() - induced
    finally:
        worker.stop()
    log = worker.log.read_text(errors="replace")
    assert worker.proc.returncode == WorkerCrashedError.exit_code, log[-3000:]
    assert f"the {name} died (InducedCrash('induced {part} crash'))" in log
    assert "exiting with status 70 so that a supervisor restarts it" in log
    # Faust's clean shutdown, not the hard-exit backstop, got there.
    assert exited_after < HARD_EXIT_AFTER_S and "exiting now" not in log, log[-3000:]


def _wait_induced(worker: Child, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exited = worker.proc.poll() is not None
        found = re.search(r"INDUCED \w+ ([\d.]+)", worker.log.read_text(errors="replace"))
        if found:
            return float(found.group(1))
        assert not exited, worker.tail()
        time.sleep(0.2)
    raise AssertionError(f"no batch reached the induced crash in {timeout}s:\n{worker.tail()}")
