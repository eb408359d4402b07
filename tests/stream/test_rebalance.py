"""Workers joining and leaving a busy consumer group: nobody dies, nothing is lost or doubled.

Issue 11: two `sentistream worker` processes started at the same moment on a backlog; the first
rebalance cancelled a batch's hand-over to the agent and that cancellation killed the worker.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from ops.faults.scenarios import known_input
from ops.faults.storm import run_round
from sentistream.harness import Child, free_port, sentistream_argv, start_worker, wait_until
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
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


# Batches a worker may hold unacked when its partitions are revoked: one being written, one
# being scored, one waiting in the agent's channel and one being handed over (app.py).
IN_FLIGHT_BATCHES = 4


def test_a_rebalance_scores_again_only_the_batches_in_flight(isolated: Settings,
                                                             tmp_path: Path) -> None:
    """A rebalance made every worker give up its partitions without committing what it had
    acked (Faust drops its acks of revoked partitions before anything commits them), so the
    partitions' next owners, itself included, scored again everything acked since the last
    periodic commit. With the commit interval at 60 s that is all of it; each worker now
    commits its acks before it gives its partitions up. A second worker joins and leaves while
    posts keep coming; nothing is lost or counted twice either way (the offsets in Redis)."""
    settings = isolated.replace(batch_size=64, commit_interval_s=60.0)
    values = make_input(9_000, seed=29)  # < Faust's broker_commit_every (10,000 acks)
    ensure_topics(settings)
    argv = sentistream_argv("worker", "--loglevel", "info")  # aiokafka logs each revoke
    first = start_worker(settings, tmp_path, free_port(), name="first", argv=argv)
    second: Child | None = None
    feeder = Feeder(settings, values, per_second=200)
    try:
        feeder.start()
        wait_until(lambda: applied_count(settings) >= 1_000, 120, "posts applied", [first])
        second = start_worker(settings, tmp_path, free_port(), name="second", argv=argv)
        pair = [first, second]
        wait_until(lambda: all(assigned(w) for w in pair), 120, "both workers assigned", pair)
        moving = applied_count(settings) + 300
        wait_until(lambda: applied_count(settings) >= moving, 60, "posts applied", pair)
        consumed = second.metric("sentistream_posts_in_total")  # a lower bound: it goes on
        second.stop()  # leaves: the first takes every partition again
        assert second.proc.returncode == 0, second.tail()
        feeder.finish()
        wait_until(lambda: applied_count(settings) >= feeder.sent, 120, "all applied", [first])
        time.sleep(1.0)
        consumed += first.metric("sentistream_posts_in_total")
        revokes = sum(len(_REVOKED.findall(w.log.read_text(errors="replace"))) for w in pair)
        again = consumed - feeder.sent
        assert again <= revokes * IN_FLIGHT_BATCHES * settings.batch_size, (
            f"{again:.0f} of {feeder.sent} records scored again in {revokes} revokes")
        assert_exact(settings, values[:feeder.sent])
    finally:
        feeder.finish()
        for worker in (first, second):
            if worker is not None:
                worker.stop()


# aiokafka's log line of a revoke (of no partitions at a worker's first join: "set()").
_REVOKED = re.compile(r"Revoking previously assigned partitions (?!set\(\)|frozenset\(\))")


class Feeder(threading.Thread):
    """Sends ``values`` to the posts topic at a steady rate until they run out or ``finish``."""

    def __init__(self, settings: Settings, values: list[bytes], per_second: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.values, self.per_second = settings, values, per_second
        self.sent = 0
        self.done = threading.Event()

    def run(self) -> None:
        producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, linger_ms=5)
        step = max(1, self.per_second // 10)
        try:
            while self.sent < len(self.values) and not self.done.wait(0.1):
                for value in self.values[self.sent:self.sent + step]:
                    producer.send(self.settings.topic_posts, value=value)
                producer.flush(30)
                self.sent = min(len(self.values), self.sent + step)
        finally:
            producer.close()

    def finish(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(60)
