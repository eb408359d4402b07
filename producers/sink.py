"""The Kafka side of every producer: one tuned, idempotent kafka-python producer.

Records carry the send time as their Kafka timestamp (the broker rejects timestamps an hour in
the future and retention deletes old ones); the post's own time is ``created_at`` in the JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from producers.delivery import DeliveryLedger
from producers.errors import ProducerError
from producers.partitioning import Partitioner
from sentistream.kafka_security import describe_failure, kafka_python_options
from sentistream.settings import Settings
from sentistream.topics import ensure_topics

log = logging.getLogger(__name__)
# kafka-python 3 warns when its I/O task runs > 100 ms; a bulk send loop holding the GIL on a busy
# machine trips it constantly without anything being wrong, and the warnings bury the summary.
logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)

Compression = Literal["lz4", "zstd", "gzip", "none"]
COMPRESSIONS: tuple[Compression, ...] = ("lz4", "zstd", "gzip", "none")
Client = Literal["kafka-python", "aiokafka"]
CLIENTS: tuple[Client, ...] = ("kafka-python", "aiokafka")


@dataclass(frozen=True)
class SinkOptions:
    """Producer tuning; large batches and a short linger amortise each request's cost."""

    compression: Compression = "lz4"
    linger_ms: int = 20
    batch_size: int = 512 * 1024
    max_request_size: int = 4 * 1024 * 1024
    delivery_timeout_ms: int = 120_000
    client: Client = "kafka-python"


class Sink(Protocol):
    """What the producers need from a Kafka client: queue records, count, flush, close."""

    topic: str
    submitted: int
    acked: int
    failed: int

    @property
    def pending(self) -> int: ...
    def send(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None: ...
    def flush(self, timeout_s: float | None = None) -> bool: ...
    def error_summary(self) -> str: ...
    def close(self, timeout_s: float = 10.0) -> None: ...


def open_sink(settings: Settings, options: SinkOptions, topic: str | None = None) -> Sink:
    """The sink of the chosen client; both send, key, stamp and count records the same way."""
    if options.client == "aiokafka":
        from producers.aio_sink import AioBatchSink

        return AioBatchSink(settings, options, topic)
    return PostSink(settings, options, topic)


class PostSink(DeliveryLedger):
    """Sends pre-encoded records and counts what the broker acknowledged or refused."""

    def __init__(self, settings: Settings, options: SinkOptions | None = None,
                 topic: str | None = None) -> None:
        super().__init__()
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        options = options or SinkOptions()
        self.topic = topic or settings.topic_posts
        ensure_topics(settings)  # posts/scored/dead-letters with the shared partition count
        if self.topic != settings.topic_posts:
            ensure_topics(settings, [self.topic])
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap,
                acks="all", enable_idempotence=True,
                compression_type=None if options.compression == "none" else options.compression,
                linger_ms=options.linger_ms, batch_size=options.batch_size,
                max_request_size=options.max_request_size,
                delivery_timeout_ms=options.delivery_timeout_ms,
                metrics_enabled=False,  # per-record sensor updates cost ~10% of send()
                **kafka_python_options(settings),
            )
            partitions = self._producer.partitions_for(self.topic)
        except KafkaError as exc:
            raise ProducerError(f"cannot produce to {self.topic}: "
                                f"{describe_failure(settings, exc)}") from exc
        # The default partitioner's choice, computed per batch (see producers.partitioning).
        self._partitioner = Partitioner(partitions)

    def send(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """Queue records; kafka-python sends them in the background, stamped with the send time."""
        from kafka.errors import KafkaError

        send, topic = self._producer.send, self.topic
        ok, fail = self._on_ack, self._on_error
        for key, value, partition in zip(keys, values, self._partitioner(keys), strict=True):
            try:
                future = send(topic, value, key=key, partition=partition)
            except (KafkaError, ValueError) as exc:  # e.g. a record over max_request_size
                fail(exc)
                continue
            future.add_callback(ok)
            future.add_errback(fail)
        self.submitted += len(keys)

    def _on_ack(self, _metadata: Any) -> None:
        self.acked += 1

    def _on_error(self, exc: BaseException) -> None:
        self._failed(1, exc)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait for every queued record; False when some are still unconfirmed."""
        from kafka.errors import KafkaError

        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 1e9)
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            # A timeout, or kafka-python 3.0's flush() giving up ("Future not done") after it
            # split an oversized batch: the per-record callbacks still settle, so wait for them.
            log.warning("flush: %s; waiting for the remaining deliveries to settle", exc)
        return self._wait_settled(deadline, poll_s=0.05)

    def close(self, timeout_s: float = 10.0) -> None:
        from kafka.errors import KafkaError

        try:
            self._producer.close(timeout=timeout_s)
        except KafkaError as exc:  # close() flushes again: the same errors as flush() above
            log.warning("close: %s", exc)
