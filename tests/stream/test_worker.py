"""`sentistream worker` for real: Kafka, Redis and the shipped model; aggregates must be exact.

Each test compares every bucket (1m, 1h, 1d and the all-time totals of every brand) with a ground
truth computed offline from the same input, the same model and the same brands file.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import TopicPartition

from sentistream.harness import Child, start_worker, wait_until
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from tests.replies import hash_fields, stream_entries
from tests.replies import scored as scored_members
from tests.stream.workers import (
    HOUR0,
    applied_count,
    bad_values,
    ground_truth,
    make_input,
    produce,
    read_aggregates,
    read_dead_letters,
    read_topic,
    top_truth,
)

pytestmark = pytest.mark.integration
_ports = itertools.count(0)
Start = Callable[[], Child]  # the `start` fixture: one more worker on this test's topics


@pytest.fixture
def start(isolated: Settings, tmp_path: Path) -> Iterator[Start]:
    """Starts workers on this test's topics and prefix; stops them all at the end."""
    started: list[Child] = []

    def _start() -> Child:
        worker = start_worker(isolated, tmp_path,
                              isolated.worker_web_port + 100 + next(_ports) % 50)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()


def assert_exact(settings: Settings, values: list[bytes]) -> None:
    truth, dead, _ = ground_truth(settings, values)
    got = read_aggregates(settings)
    assert set(got) == set(truth)
    wrong = {k: (got[k], truth[k]) for k in truth if got[k] != truth[k]}
    assert not wrong, f"{len(wrong)} buckets differ, e.g. {list(wrong.items())[:3]}"
    counts = hash_fields(redis.Redis.from_url(settings.redis_url).hgetall(
        KeyScheme(settings.redis_prefix).dead_letters))
    assert {k: int(v) for k, v in counts.items()} == dead


def test_ten_thousand_posts_with_bad_input_are_exact(isolated: Settings, start: Start) -> None:
    values = make_input(12_000, seed=1, bad_every=100)
    _, dead, valid = ground_truth(isolated, values)
    assert valid >= 11_000 and set(dead) == {reason for _, reason in bad_values()}
    produce(isolated, values)
    worker = start()
    wait_until(lambda: applied_count(isolated) >= valid, 240, "all posts applied", [worker])
    time.sleep(1.0)  # anything counted twice would show up now
    assert_exact(isolated, values)
    # Every bad record is in the dead-letter topic with its reason and its original bytes.
    letters = read_dead_letters(isolated, sum(dead.values()))
    expected = Counter((v, r) for v, r in bad_values() for v2 in values if v2 == v)
    assert Counter((x["value"], x["reason"]) for x in letters) == expected
    assert all(x["topic"] == isolated.topic_posts and x["offset"] >= 0 for x in letters)
    # Replayed 2009 posts give a 2009 timeline.
    assert (("_all", "h", HOUR0) in read_aggregates(isolated))
    assert worker.metric("sentistream_posts_scored_total") == valid
    assert worker.metric("sentistream_consumer_lag") == 0
    health = json.loads(urllib.request.urlopen(
        f"http://127.0.0.1:{worker.web_port}/health", timeout=5).read())
    assert health["status"] == "ok" and health["partitions"] == list(range(isolated.partitions))
    # Every applied batch was announced on the live stream with its increments.
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    entries = [json.loads(fields["data"])
               for _, fields in stream_entries(client.xrange(keys.live))]
    assert sum(e["brands"]["_all"]["n"] for e in entries if "_all" in e["brands"]) == valid
    # The top posts per brand and hour are the best of their hour, bounded.
    for (brand, polarity, hour), scores in top_truth(isolated, values).items():
        got = scored_members(client.zrange(keys.top(brand, polarity, hour), 0, -1, withscores=True))
        assert sorted((s for _, s in got), reverse=polarity == "pos") == scores
        assert {json.loads(m)["label"] for m, _ in got} == {
            "positive" if polarity == "pos" else "negative"}
    # Every valid post is on the scored topic with the same label as the offline scoring.
    scored = read_topic(isolated, isolated.topic_scored, valid)
    assert len(scored) == valid and len({s["id"] for s in scored}) == valid
    labels = Counter((b, s["label"]) for s in scored for b in [*s["brands"], "_all"])
    truth, _, _ = ground_truth(isolated, values)
    # Posts in a language the model does not score count in n only, as unsupported_language.
    assert labels == Counter({(b, lab): count for (b, res, _), agg in truth.items()
                              if res == "total" for lab, count in
                              (("negative", agg["neg"]), ("neutral", agg["neu"]),
                               ("positive", agg["pos"]),
                               ("unsupported_language",
                                agg["n"] - agg["neg"] - agg["neu"] - agg["pos"]))
                              if count})


def test_sigkill_mid_stream_then_restart_is_exact(isolated: Settings, start: Start) -> None:
    values = make_input(30_000, seed=2)  # a few seconds of work, so the kill lands mid-stream
    produce(isolated, values)
    first = start()
    wait_until(lambda: applied_count(isolated) >= 2_000, 180, "a part applied", [first])
    first.kill()
    killed_at = applied_count(isolated)
    assert killed_at < len(values), "the kill came too late to test anything"
    second = start()
    wait_until(lambda: applied_count(isolated) >= len(values), 180, "all applied", [second])
    time.sleep(1.0)
    assert_exact(isolated, values)
    # The killed worker had applied batches it had not committed: they came back, and were
    # recognised as applied (skipped whole or in part) instead of counted again.
    assert second.metric("sentistream_redelivered_groups_total") > 0


def test_two_workers_sharing_partitions_are_exact(isolated: Settings, start: Start) -> None:
    values = make_input(10_000, seed=3)
    a, b = start(), start()
    # Both in the group before any input: one worker alone drains 5,000 posts in well under the
    # time the second one takes to join.
    wait_until(lambda: sorted(assigned(a) + assigned(b)) == list(range(isolated.partitions))
             and bool(assigned(a)) and bool(assigned(b)), 120, "partitions split", [a, b])
    produce(isolated, values[:5_000])
    wait_until(lambda: applied_count(isolated) >= 1_000, 180, "first posts", [a, b])
    produce(isolated, values[5_000:])
    wait_until(lambda: applied_count(isolated) >= len(values), 180, "all applied", [a, b])
    time.sleep(1.0)
    assert a.metric("sentistream_posts_in_total") > 0 and b.metric("sentistream_posts_in_total") > 0
    assert_exact(isolated, values)


def assigned(worker: Child) -> list[int]:
    """The partitions a worker reports in /health ([] while it starts or rebalances)."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/health", timeout=5)
        return list(json.loads(body.read())["partitions"])
    except (OSError, ValueError, KeyError):
        return []


@contextmanager
def redis_down_after_first_posts(settings: Settings, worker: Child, values: list[bytes],
                                 split: int) -> Iterator[None]:
    """Send ``values[:split]``, wait until 1,000 are applied, stop the test Redis, send the
    rest; the block runs during the outage, and Redis is started again after it."""
    produce(settings, values[:split])
    wait_until(lambda: applied_count(settings) >= 1_000, 180, "first posts", [worker])
    redis_server = RedisServer(settings)
    redis_server.down()
    try:
        produce(settings, values[split:])
        yield
    finally:
        redis_server.up()


def test_redis_outage_mid_stream_is_exact(isolated: Settings, start: Start) -> None:
    values = make_input(10_000, seed=4)
    worker = start()
    with redis_down_after_first_posts(isolated, worker, values, 4_000):
        time.sleep(4.0)  # the worker retries with backoff, acking nothing
    wait_until(lambda: applied_count(isolated) >= len(values), 180, "all applied", [worker])
    time.sleep(1.0)
    assert worker.metric("sentistream_redis_retries_total") > 0
    assert_exact(isolated, values)


def test_stop_during_redis_outage_is_prompt_and_loses_nothing(isolated: Settings,
                                                              start: Start) -> None:
    values = make_input(6_000, seed=5)
    first = start()
    with redis_down_after_first_posts(isolated, first, values, 3_000):
        time.sleep(2.0)  # a batch is now stuck retrying its Redis write
        stopping = time.monotonic()
        first.stop()  # SIGTERM: must not wait for a batch that cannot be written
        assert first.proc.returncode == 0 and time.monotonic() - stopping < 20
    second = start()
    wait_until(lambda: applied_count(isolated) >= len(values), 180, "all applied", [second])
    time.sleep(1.0)
    assert_exact(isolated, values)


def test_processed_batches_are_committed(isolated: Settings, start: Start) -> None:
    """Acks reach Faust's commits: after a clean stop the group's committed offsets are the ends
    of the partitions, and a new worker has nothing to redo."""
    from kafka import KafkaConsumer

    from stream.worker.app import app_id

    values = make_input(5_000, seed=6)
    produce(isolated, values)
    first = start()
    wait_until(lambda: applied_count(isolated) >= len(values), 180, "all applied", [first])
    # The last batch is acked after its produces and announcement, which follow the Redis write
    # this waited for; a stop before that (seen on the loaded machine) rightly leaves it
    # uncommitted, to be redelivered and skipped.
    time.sleep(2.0)
    first.stop()
    assert first.proc.returncode == 0
    # Not subscribed: committed() only reads the group's offsets from its coordinator.
    consumer = KafkaConsumer(bootstrap_servers=isolated.kafka_bootstrap,
                             group_id=app_id(isolated), enable_auto_commit=False)
    try:
        tps = [TopicPartition(isolated.topic_posts, p) for p in range(isolated.partitions)]
        committed = {tp.partition: consumer.committed(tp) for tp in tps}
        ends = {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
    assert committed == ends and sum(ends.values()) == len(values)
    second = start()
    wait_until(lambda: second.metric("sentistream_posts_in_total") == 0.0, 60, "second worker up",
             [second])
    time.sleep(3.0)
    assert second.metric("sentistream_posts_in_total") == 0.0
    assert_exact(isolated, values)


def test_poison_record_in_a_fetch_of_good_posts(isolated: Settings, start: Start) -> None:
    """Issue 12: a created_at of 400 digits raised OverflowError in parsing, the agent crashed,
    the 400 good posts of its fetch were never counted and the partition never committed."""
    from kafka import KafkaConsumer, KafkaProducer

    from sentistream.topics import ensure_topics
    from stream.worker.app import app_id

    poison = b'{"id":"a","text":"hi","created_at":1' + b"0" * 400 + b"}"
    good = make_input(400, seed=12)
    values = [*good[:150], poison, *good[150:]]
    ensure_topics(isolated)
    producer = KafkaProducer(bootstrap_servers=isolated.kafka_bootstrap, linger_ms=50,
                             batch_size=1 << 20)
    for value in values:  # one partition, one producer batch: the worker gets one fetch
        producer.send(isolated.topic_posts, value=value, partition=0)
    producer.flush(60)
    producer.close()
    _, dead, valid = ground_truth(isolated, values)
    assert (valid, dead) == (400, {"bad_timestamp": 1})
    worker = start()
    wait_until(lambda: applied_count(isolated) >= valid, 120, "the good posts applied", [worker])
    time.sleep(2.0)  # the ack follows the Redis write (see test_processed_batches_are_committed)
    assert worker.metric("sentistream_dead_letters_total") == 1
    worker.stop()
    assert worker.proc.returncode == 0
    assert_exact(isolated, values)
    letters = read_dead_letters(isolated, 1)
    assert [(x["value"], x["reason"], x["offset"]) for x in letters] == [(poison,
                                                                          "bad_timestamp", 150)]
    consumer = KafkaConsumer(bootstrap_servers=isolated.kafka_bootstrap,
                             group_id=app_id(isolated), enable_auto_commit=False)
    try:
        tp = TopicPartition(isolated.topic_posts, 0)
        assert consumer.committed(tp) == consumer.end_offsets([tp])[tp] == len(values)
    finally:
        consumer.close()


def test_heap_is_frozen_after_the_first_batch(isolated: Settings, start: Start) -> None:
    """The start-up heap (model, Faust, aiokafka: ~90k objects) is frozen once the first batch
    is written: a full collection scanned it in 75-90 ms, which every post in flight waited
    out (the drain's ``tail_causes``: gc2 in the slowest 1% of posts)."""
    values = make_input(200, seed=8)
    produce(isolated, values)
    worker = start()
    wait_until(lambda: applied_count(isolated) >= len(values), 120, "all applied", [worker])
    wait_until(lambda: worker.metric("sentistream_gc_frozen_objects") > 10_000, 10,
               "the start-up heap frozen", [worker])
    status, body = worker.get("/stages/trace")
    assert status == 404, "tracing is off: the page must not pass an empty trace off as data"
    assert "SENTISTREAM_STAGE_TRACE" in json.loads(body)["error"]


def test_stage_trace_keeps_each_step_of_each_batch(isolated: Settings, tmp_path: Path) -> None:
    """With SENTISTREAM_STAGE_TRACE the worker keeps its newest step timings for the drain's
    tail attribution: the steps of the written batches are there, and no more than asked."""
    produce(isolated, make_input(300, seed=9))
    worker = start_worker(isolated.replace(stage_trace=5000), tmp_path)
    try:
        wait_until(lambda: applied_count(isolated) >= 300, 120, "all applied", [worker])
        rows: list[list[object]] = []

        def traced_a_batch() -> bool:  # retried: a loaded machine may miss the 3 s GET
            status, body = worker.get("/stages/trace")
            rows[:] = json.loads(body) if status == 200 else []
            return {"score", "redis"} <= {stage for _end, stage, _seconds in rows}

        wait_until(traced_a_batch, 30, "a written batch's steps on /stages/trace", [worker])
        assert len(rows) <= 5000
        assert all(isinstance(seconds, float) and seconds >= 0 for *_, seconds in rows)
    finally:
        worker.stop()


def test_batch_lives_cover_every_post_with_each_await_in_order(isolated: Settings,
                                                               tmp_path: Path) -> None:
    """With SENTISTREAM_STAGE_TRACE the worker keeps each batch's offsets and the wall time of
    each await of its life (/stages/batches), which the drain benchmark joins with its slowest
    posts (ops/bench/batch_life.py): every post is in one kept batch, and each batch passed
    fetched <= taken <= prepared <= writing <= in Redis <= acked."""
    values = make_input(300, seed=10)
    produce(isolated, values)
    worker = start_worker(isolated.replace(stage_trace=5000), tmp_path)
    try:
        wait_until(lambda: applied_count(isolated) >= len(values), 120, "all applied", [worker])
        lives: list[dict[str, Any]] = []

        def all_acked() -> bool:  # the last ack may follow the aggregates by a moment
            status, body = worker.get("/stages/batches")
            lives[:] = json.loads(body) if status == 200 else []
            return sum(hi - lo + 1 for life in lives for _p, lo, hi in life["ranges"]) >= len(
                values) and all("acked" in life["at"] for life in lives)

        wait_until(all_acked, 30, "every batch's life on /stages/batches", [worker])
        carried = [(p, o) for life in lives for p, lo, hi in life["ranges"]
                   for o in range(lo, hi + 1)]
        assert len(carried) == len(set(carried)) == len(values)  # each post in one batch
        points = ("fetched", "delivered", "prepared", "writing", "redis", "acked")
        for life in lives:
            at = [life["at"][p] for p in points]
            assert at == sorted(at), life
    finally:
        worker.stop()


def test_a_fetch_joins_the_batch_waiting_for_the_agent(isolated: Settings,
                                                       tmp_path: Path) -> None:
    """Records that arrive while the agent prepares batch k go into batch k+1, the one waiting
    for the agent, not into a batch k+2 the fetcher holds blocked behind it (which then waited
    a whole further preparation: the drain benchmark's ``tail_waits``, ``queued``). So no
    batch short of the batch size was fetched before the batch ahead of it was taken."""
    from kafka import KafkaProducer

    from sentistream.topics import ensure_topics

    worker = start_worker(isolated.replace(stage_trace=20000), tmp_path)
    try:
        wait_until(lambda: worker.get("/health")[0] == 200, 120, "worker up", [worker])
        ensure_topics(isolated)
        producer = KafkaProducer(bootstrap_servers=isolated.kafka_bootstrap, linger_ms=2)
        values = make_input(1500, seed=11)
        for i, value in enumerate(values):  # ~1,000 posts/s: batches far short of 2,048
            producer.send(isolated.topic_posts, value=value, key=str(i).encode())
            if i % 10 == 9:
                producer.flush(10)
                time.sleep(0.01)
        producer.flush(60)
        producer.close()
        wait_until(lambda: applied_count(isolated) >= len(values), 120, "all applied", [worker])
        status, body = worker.get("/stages/batches")
        lives = json.loads(body)
        assert status == 200 and len(lives) > 10
        early = [(a["at"]["delivered"], b["at"]["fetched"]) for a, b in itertools.pairwise(lives)
                 if b["at"]["fetched"] < a["at"]["delivered"]
                 and sum(hi - lo + 1 for _p, lo, hi in b["ranges"]) < isolated.batch_size]
        assert not early, f"{len(early)} of {len(lives)} batches fetched behind a waiting one"
    finally:
        worker.stop()
