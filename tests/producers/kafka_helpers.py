"""Reading back what a producer sent, from the real broker."""

from __future__ import annotations

import time
from typing import Any

import orjson
from kafka import KafkaConsumer

from sentistream.settings import Settings


def consume(settings: Settings, topic: str, expected: int, timeout_s: float = 30.0,
            settle_s: float = 1.0) -> list[Any]:
    """All records of ``topic``: waits for ``expected``, then ``settle_s`` more for extras."""
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if len(records) >= expected:
                deadline = min(deadline, time.monotonic() + settle_s)
    finally:
        consumer.close()
    return records


def payloads(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]
