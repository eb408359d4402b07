"""Workers joining and leaving a busy consumer group: nobody dies, nothing is lost or doubled.

Issue 11: two `sentistream worker` processes started at the same moment on a backlog; the first
rebalance cancelled a batch's hand-over to the agent and that cancellation killed the worker.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sentistream.settings import Settings
from tests.stream.test_worker import assert_exact, assigned
from tests.stream.workers import (
    Worker,
    applied_count,
    free_port,
    make_input,
    produce,
    wait_for,
)

pytestmark = pytest.mark.integration


def test_workers_started_together_on_a_backlog_survive(isolated: Settings,
                                                       tmp_path: Path) -> None:
    values = make_input(60_000, seed=21)
    produce(isolated, values)
    started: list[Worker] = []
    try:
        for _ in range(3):  # each round: two workers at the same moment, on the remaining backlog
            pair = [Worker(isolated, tmp_path, free_port()) for _ in range(2)]
            started += pair
            wait_for(lambda p=pair: all(assigned(w) for w in p), 120,
                     "both workers assigned", pair)
            resumed = min(len(values), applied_count(isolated) + 500)
            wait_for(lambda n=resumed: applied_count(isolated) >= n, 60,
                     "posts applied after the rebalance", pair)
            for worker in pair:
                worker.stop()
                assert worker.proc.returncode == 0, worker.tail()
        assert applied_count(isolated) < len(values), "the backlog ran out: nothing was tested"
        last = Worker(isolated, tmp_path, free_port())
        started.append(last)
        wait_for(lambda: applied_count(isolated) >= len(values), 180, "all applied", [last])
        time.sleep(1.0)
        assert_exact(isolated, values)
    finally:
        for worker in started:
            worker.stop()
