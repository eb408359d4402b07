"""The fetch loop goes on fetching while its offset commit is under way.

Faust's fetch loop commits every ``broker_commit_every`` acks and awaited the commit there, so
no record was fetched or handed to the agent for the commit's round trip: at 2,000 posts/s on a
2-core AMD EPYC those commits took 16-51 ms, and the posts that arrived meanwhile were the
slowest 1% (the drain benchmark's ``tail_waits``: 62-68 ms from send to fetched against 9-11 ms
for a typical post, s12p). The worker runs for real (Kafka, Redis, the shipped model) with each
commit made 2 s slower (tests/stream/slow_commit_worker.py) and the periodic commit off, and
posts arriving throughout: some must be delivered inside a commit's 2 s.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from sentistream.harness import free_port, start_worker, wait_until
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from tests.stream.slow_commit_worker import SLOW_COMMIT_S
from tests.stream.workers import applied_count, make_input

pytestmark = pytest.mark.integration


def test_records_are_fetched_while_the_fetch_loops_commit_is_under_way(
        isolated: Settings, tmp_path: Path) -> None:
    settings = isolated.replace(commit_interval_s=600.0)  # only the fetch loop's commits
    values = make_input(600, seed=41)
    ensure_topics(settings)
    worker = start_worker(settings, tmp_path, free_port(),
                          argv=[sys.executable, "-m", "tests.stream.slow_commit_worker"])
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    try:
        producer.send(settings.topic_posts, value=values[0], key=b"0")
        producer.flush(30)
        wait_until(lambda: applied_count(settings) >= 1, 120, "the first post applied", [worker])
        for i, value in enumerate(values[1:], start=1):  # ~12 s of posts, 50 a second
            producer.send(settings.topic_posts, value=value, key=str(i).encode())
            if i % 5 == 0:
                producer.flush(30)
                time.sleep(0.1)
        producer.flush(30)
        wait_until(lambda: applied_count(settings) >= len(values), 120, "all applied",
                   [worker])
    finally:
        producer.close()
        worker.stop()
    log = worker.log.read_text(errors="replace")
    commits = [(float(a), float(b)) for a, b in re.findall(r"COMMIT ([\d.]+) ([\d.]+)", log)]
    delivered = [float(t) for t in re.findall(r"DELIVER ([\d.]+)", log)]
    assert commits, f"no commit of the fetch loop:\n{log[-3000:]}"
    assert all(end - start >= SLOW_COMMIT_S for start, end in commits)
    inside = [t for t in delivered
              if any(start + 0.2 < t < end - 0.2 for start, end in commits)]
    assert inside, (f"no fetch delivered during any of {len(commits)} commits "
                    f"({len(delivered)} deliveries): the fetch loop waited for each commit")
