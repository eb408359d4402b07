"""Produce and consume through the real broker with both Kafka clients the project uses."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from sentistream.infra.smoke import round_trip
from sentistream.settings import Settings


def test_kafka_python_to_aiokafka(services: Settings, unique: str) -> None:
    topic = f"t{unique}.rt"
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap, acks="all")
    sent = [f"m{i}".encode() for i in range(50)]
    for value in sent:
        producer.send(topic, value=value, key=b"k")  # one key: one partition, ordered
    producer.flush()
    producer.close()

    async def consume() -> list[bytes]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=services.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        got: list[bytes] = []
        try:
            while len(got) < len(sent):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                got.extend(r.value for records in batch.values() for r in records)
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(consume()) == sent


def test_aiokafka_to_kafka_python(services: Settings, unique: str) -> None:
    topic = f"t{unique}.rt2"

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, f"a{i}".encode(), key=b"k")
        finally:
            await producer.stop()

    asyncio.run(produce())
    consumer = KafkaConsumer(topic, bootstrap_servers=services.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=15000)
    got = [r.value for _, r in zip(range(20), consumer, strict=False)]
    consumer.close()
    assert got == [f"a{i}".encode() for i in range(20)]


def test_smoke_round_trip(services: Settings) -> None:
    result = round_trip(services)
    assert result.payload.startswith("smoke-")
    assert result.kafka_ms > 0


def test_smoke_on_a_new_topic_logs_no_error(services: Settings, unique: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    # `make demo` printed "ERROR kafka.cluster: Topic sentistream.smoke not found" on a healthy
    # start: the producer asked for a topic that broker auto-creation had not made yet.
    with caplog.at_level(logging.WARNING):
        round_trip(services, topic=f"t{unique}.smoke")
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [f"{r.levelname} {r.name}: {r.getMessage()}" for r in noisy]
