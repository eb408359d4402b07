"""The same sink on aiokafka's batch API: record batches are built in C, not per record in Python.

kafka-python's ``send()`` spends tens of microseconds of Python per record (see the README's
replay figures); aiokafka's ``BatchBuilder`` appends a record in a C extension and ships whole
batches. The event loop runs in a thread of its own, so deliveries progress while the replay
parses, as kafka-python's sender thread does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from producers.delivery import DeliveryLedger
from producers.errors import ProducerError
from producers.partitioning import Partitioner
from producers.sink import SinkOptions
from sentistream.kafka_security import aiokafka_options, describe_failure
from sentistream.settings import Settings
from sentistream.topics import ensure_topics

log = logging.getLogger(__name__)
T = TypeVar("T")


class AioBatchSink(DeliveryLedger):
    """Sends pre-encoded records as whole batches; counts what the broker acknowledged."""

    def __init__(self, settings: Settings, options: SinkOptions | None = None,
                 topic: str | None = None) -> None:
        super().__init__()
        self.options = options or SinkOptions()
        self.topic = topic or settings.topic_posts
        ensure_topics(settings)
        if self.topic != settings.topic_posts:
            ensure_topics(settings, [self.topic])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aiokafka-sink",
                                        daemon=True)
        self._thread.start()
        try:
            self._producer = self._call(self._start(settings))
            partitions = self._call(self._producer.partitions_for(self.topic))
        except Exception as exc:
            self._stop_loop()
            raise ProducerError(f"cannot produce to {self.topic}: "
                                f"{describe_failure(settings, exc)}") from exc
        self._partitioner = Partitioner(partitions)

    async def _start(self, settings: Settings) -> Any:
        from aiokafka import AIOKafkaProducer

        opts = self.options
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
            compression_type=None if opts.compression == "none" else opts.compression,
            linger_ms=opts.linger_ms, max_batch_size=opts.batch_size,
            max_request_size=opts.max_request_size, **aiokafka_options(settings))
        await producer.start()
        return producer

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def send(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """Queue records, a batch per partition; stamped with the append (send) time."""
        by_partition: dict[int, list[int]] = {}
        for i, partition in enumerate(self._partitioner(keys)):
            by_partition.setdefault(partition, []).append(i)
        self.submitted += len(keys)
        self._call(self._send(keys, values, by_partition))

    async def _send(self, keys: Sequence[bytes], values: Sequence[bytes],
                    by_partition: dict[int, list[int]]) -> None:
        producer = self._producer
        for partition, rows in by_partition.items():
            batch, count = producer.create_batch(), 0
            for i in rows:
                if batch.append(key=keys[i], value=values[i], timestamp=None) is None:
                    await self._submit(batch, partition, count)
                    batch, count = producer.create_batch(), 0
                    batch.append(key=keys[i], value=values[i], timestamp=None)
                count += 1
            await self._submit(batch, partition, count)

    async def _submit(self, batch: Any, partition: int, count: int) -> None:
        batch.close()
        try:
            delivery = await self._producer.send_batch(batch, self.topic, partition=partition)
        except Exception as exc:  # e.g. a fatal producer error: the batch never left
            self._failed(count, exc)
            return
        delivery.add_done_callback(lambda fut: self._settled(count, fut))

    def _settled(self, count: int, fut: asyncio.Future[Any]) -> None:
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None:
            self.acked += count
        else:
            self._failed(count, exc)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait for every queued record; False when some are still unconfirmed."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 1e9)
        try:
            self._call(self._producer.flush(), timeout_s)
        except Exception as exc:  # a timeout: what is still pending is reported as such
            log.warning("flush: %r", exc)
        return self._wait_settled(deadline, poll_s=0.02)

    def close(self, timeout_s: float = 10.0) -> None:
        try:
            self._call(self._producer.stop(), timeout_s)
        except Exception as exc:
            log.warning("close: %r", exc)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
