"""Workers joining and leaving a busy consumer group: nobody dies, nothing is lost or doubled.

Issue 11: two `sentistream worker` processes started at the same moment on a backlog; the first
rebalance cancelled a batch's hand-over to the agent and that cancellation killed the worker.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ops.faults.scenarios import known_input
from ops.faults.storm import run_round
from sentistream.harness import Child, free_port, start_worker, wait_until
from sentistream.settings import Settings
from tests.stream.test_worker import assert_exact, assigned
from tests.stream.workers import applied_count, make_input, produce

pytestmark = pytest.mark.integration


def test_workers_started_together_on_a_backlog_survive(isolated: Settings,
                                                       tmp_path: Path) -> None:
    settings = isolated.replace(batch_size=64)  # busy for longer on the same input
    values = make_input(60_000, seed=21)
    started: list[Child] = []
    try:
        for i in range(3):  # each round: a fresh backlog, then two workers at the same moment
            produce(settings, values[i * 20_000:(i + 1) * 20_000])
            pair = [start_worker(settings, tmp_path, free_port()) for _ in range(2)]
            started += pair
            wait_until(lambda: all(assigned(w) for w in pair), 120,  # noqa: B023 (called now)
                     "both workers assigned", pair)
            resumed = min((i + 1) * 20_000, applied_count(settings) + 500)
            wait_until(lambda: applied_count(settings) >= resumed, 60,  # noqa: B023 (called now)
                     "posts applied after the rebalance", pair)
            for worker in pair:  # one by one: the first leaving rebalances the other, busy
                worker.stop()
                assert worker.proc.returncode == 0, worker.tail()
        last = start_worker(settings, tmp_path, free_port())
        started.append(last)
        wait_until(lambda: applied_count(settings) >= len(values), 180, "all applied", [last])
        time.sleep(1.0)
        assert_exact(settings, values)
    finally:
        for worker in started:
            worker.stop()


def test_rebalance_storm_is_exact_and_nobody_dies(services: Settings, tmp_path: Path) -> None:
    """The storm of `python -m ops.faults.storm` at CI size: 2 rounds of 1 -> 2 -> 4 -> 2 -> 1
    workers (two started at once, then one SIGTERM and one SIGKILL at once, then a SIGTERM in
    round 1 and a SIGKILL in round 2), the backlog topped up through every rebalance. Batches
    of 64 keep the workers busy on a smaller input."""
    values = known_input(30_000, seed=17)
    settings = services.replace(batch_size=64)
    for round_no in (1, 2):
        result = run_round(settings, round_no, values, backlog=5_000, log_dir=tmp_path)
        assert result.self_exits == 0 and not result.notes, result.notes
        v = result.verdict
        assert (v.lost, v.double_counted) == (0, 0) and v.exact, v
        assert result.committed_at_ends
        assert [s.workers for s in result.steps] == [1, 2, 4, 2, 1]
