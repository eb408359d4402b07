"""A message round trip through the real broker and Redis: proof that the base works."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from sentistream.kafka_security import aiokafka_options, kafka_python_options, preflight
from sentistream.settings import Settings
from sentistream.topics import ensure_topics

SMOKE_TOPIC = "sentistream.smoke"


@dataclass(frozen=True)
class RoundTrip:
    payload: str
    kafka_ms: float
    redis_ms: float


def round_trip(settings: Settings, timeout_s: float = 30.0,
               topic: str = SMOKE_TOPIC) -> RoundTrip:
    """Send one record with kafka-python, read it back with aiokafka, store and read it in Redis."""
    import redis
    from kafka import KafkaProducer

    payload = f"smoke-{uuid.uuid4()}"
    preflight(settings)  # refused credentials: a clear error now, not a bootstrap timeout
    # Created first: sending to a missing topic makes kafka-python log "ERROR kafka.cluster:
    # Topic ... not found" while the broker auto-creates it, on every healthy first start.
    ensure_topics(settings, [topic])
    started = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             **kafka_python_options(settings))
    try:
        metadata = producer.send(topic, payload.encode()).get(timeout=timeout_s)
    finally:
        producer.close()
    received = asyncio.run(_read_back(settings, topic, metadata.partition, metadata.offset,
                                      timeout_s))
    if received != payload:
        raise RuntimeError(f"round trip returned {received!r}, expected {payload!r}")
    kafka_ms = (time.monotonic() - started) * 1000

    started = time.monotonic()
    client = redis.Redis.from_url(settings.redis_url)
    key = f"{settings.redis_prefix}:smoke"
    client.set(key, payload, ex=60)
    stored = client.get(key)
    if stored != payload.encode():
        raise RuntimeError(f"Redis returned {stored!r}, expected {payload!r}")
    return RoundTrip(payload, kafka_ms, (time.monotonic() - started) * 1000)


async def _read_back(settings: Settings, topic: str, partition: int, offset: int,
                     timeout_s: float) -> str:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, **aiokafka_options(settings))
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(), timeout_s)
        return bytes(record.value).decode()
    finally:
        await consumer.stop()
