"""The worker's scored-topic record batches as the broker stored them: as large and as compressed
as SENTISTREAM_PRODUCE_BATCH_BYTES and SENTISTREAM_PRODUCE_COMPRESSION ask (README "Throughput of
one worker": at aiokafka's 16 KB a worker batch went as dozens of produce requests, and the
broker's CPU per post followed the request count), with every post still there exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.record import MemoryRecords

from sentistream.harness import start_worker, wait_until
from sentistream.infra.kafka import KafkaBroker
from sentistream.settings import Settings
from tests.stream.workers import applied_count, ground_truth, make_input, produce, read_topic

pytestmark = pytest.mark.integration

# Kafka's record batch attribute codes (DefaultRecordBatch.compression_type).
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
AIOKAFKA_DEFAULT_BATCH = 16_384


def stored_batches(settings: Settings, topic: str) -> list[tuple[int, int]]:
    """(compression code, uncompressed bytes of keys and values) of each record batch in the
    broker's log of ``topic``: what the producer sent, kept as sent (compression.type=producer)."""
    batches = []
    for partition in range(settings.partitions):
        folder = KafkaBroker(settings).paths.data / f"{topic}-{partition}"
        for segment in sorted(folder.glob("*.log")):
            records = MemoryRecords(segment.read_bytes())
            while (batch := records.next_batch()) is not None:
                payload = sum(len(r.key or b"") + len(r.value or b"") for r in batch)
                batches.append((batch.compression_type, payload))
    return batches


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_scored_records_go_in_batches_of_the_configured_size_and_codec(
        isolated: Settings, tmp_path: Path, compression: str) -> None:
    settings = isolated.replace(produce_batch_bytes=1_000_000, produce_compression=compression)
    values = make_input(6_000, seed=3)
    _, _, valid = ground_truth(settings, values)
    produce(settings, values)  # a backlog: the worker's fetches are full batches
    worker = start_worker(settings, tmp_path, settings.worker_web_port + 60)
    try:
        wait_until(lambda: applied_count(settings) >= valid, 240, "all posts applied", [worker])
        scored = read_topic(settings, settings.topic_scored, valid)
    finally:
        worker.stop()
    assert len(scored) == valid and len({s["id"] for s in scored}) == valid
    batches = stored_batches(settings, settings.topic_scored)
    assert batches
    assert {codec for codec, _ in batches} == {CODECS[compression]}
    # At aiokafka's default no batch holds more than 16 KB; here a worker batch's records of one
    # partition (~500 of ~400 bytes) go as one.
    assert max(payload for _, payload in batches) > 4 * AIOKAFKA_DEFAULT_BATCH


def test_a_topic_with_a_smaller_record_batch_limit_still_gets_every_record(
        isolated: Settings, tmp_path: Path) -> None:
    # A scored topic made elsewhere (another team's cluster, a stricter default) may accept
    # smaller record batches than SENTISTREAM_PRODUCE_BATCH_BYTES: the broker then refused each
    # batch with MessageSizeTooLargeError and the worker retried the same batch forever.
    from kafka.admin import KafkaAdminClient, NewTopic

    limit = 32_768
    settings = isolated.replace(produce_batch_bytes=1_000_000)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(settings.topic_scored, settings.partitions, 1,
                                      topic_configs={"max.message.bytes": str(limit)})])
    finally:
        admin.close()
    values = make_input(4_000, seed=5)
    _, _, valid = ground_truth(settings, values)
    produce(settings, values)
    worker = start_worker(settings, tmp_path, settings.worker_web_port + 61)
    try:
        wait_until(lambda: applied_count(settings) >= valid, 240, "all posts applied", [worker])
        scored = read_topic(settings, settings.topic_scored, valid, timeout=60)
    finally:
        worker.stop()
    assert len({s["id"] for s in scored}) == valid
    assert max(payload for _, payload in stored_batches(settings, settings.topic_scored)) <= limit
