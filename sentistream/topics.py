"""The Kafka topics that producers and workers share, created with one known partition count."""

from __future__ import annotations

import contextlib
import logging
import time

from sentistream.errors import InfraError
from sentistream.kafka_security import describe_failure, kafka_python_options, preflight
from sentistream.settings import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic_posts, settings.topic_scored, settings.topic_dead_letters]


def ensure_topics(settings: Settings, names: list[str] | None = None,
                  timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet with ``settings.partitions``; returns the new ones.

    Producers and workers both call this before they start, so the partition count never depends
    on which of them ran first (broker auto-creation would use the broker's default instead).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    wanted = names if names is not None else topic_names(settings)
    preflight(settings)  # refused credentials: say so now, not after the bootstrap timeout
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                     request_timeout_ms=10_000,
                                     **kafka_python_options(settings))
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise InfraError(describe_failure(settings, exc)) from exc
            time.sleep(1.0)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if missing:
            # Another process may win the race; the topic is then there, which is all we need.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(n, settings.partitions, 1) for n in missing])
            log.info("created topics %s with %d partitions", missing, settings.partitions)
    finally:
        admin.close()
    if missing:
        _wait_for_leaders(settings, missing, deadline)
    return missing


def _wait_for_leaders(settings: Settings, names: list[str], deadline: float) -> None:
    """Return once every partition of ``names`` answers a ListOffsets request from its leader.

    CreateTopics answers before the broker's replica manager leads the new partitions, so the
    first send to one could get NotLeaderForPartitionError: retried, but logged as a warning on
    every healthy first start. ListOffsets goes through the same replica manager, and the
    consumer retries its NotLeader answers quietly.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    partitions = [TopicPartition(name, p) for name in names for p in range(settings.partitions)]
    remaining_ms = max(1_000, int((deadline - time.monotonic()) * 1000))
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             enable_auto_commit=False,  # no group: nothing to commit
                             request_timeout_ms=10_000,
                             **kafka_python_options(settings))
    try:
        consumer.end_offsets(partitions, timeout_ms=remaining_ms)
    except KafkaError as exc:
        raise InfraError(f"topics {names} were created, but their partitions had no live leader "
                         f"after {remaining_ms / 1000:.0f} s ({exc!r}); check the broker's log "
                         f"for controller errors") from exc
    finally:
        consumer.close()


def fit_produce_batch(settings: Settings) -> Settings:
    """``settings`` with SENTISTREAM_PRODUCE_BATCH_BYTES no larger than the record batches the
    scored and dead-letter topics accept (their ``max.message.bytes``, the broker's
    ``message.max.bytes`` unless the topic overrides it).

    A topic made elsewhere may accept less than the setting: the broker then refused every
    batch with MessageSizeTooLargeError and the worker retried the same batch for ever.
    """
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.errors import KafkaError

    names = [settings.topic_scored, settings.topic_dead_letters]
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                 request_timeout_ms=10_000, **kafka_python_options(settings))
        try:
            described = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name,
                                configs={"max.message.bytes": None}) for name in names],
                config_filter="all")
        finally:
            admin.close()
        limits = {name: int(described["topic"][name]["max.message.bytes"]["value"])
                  for name in names}
    except (KafkaError, KeyError, ValueError) as exc:  # e.g. no DescribeConfigs permission
        log.warning("could not read the max.message.bytes of topics %s (%r); the worker sends "
                    "record batches of up to SENTISTREAM_PRODUCE_BATCH_BYTES=%d bytes", names,
                    exc, settings.produce_batch_bytes)
        return settings
    accepted = min(limits.values())
    if accepted >= settings.produce_batch_bytes:
        return settings
    log.warning("topic %s accepts record batches of at most %d bytes (max.message.bytes), "
                "less than SENTISTREAM_PRODUCE_BATCH_BYTES=%d: the worker sends batches of %d "
                "bytes; raise the topic's max.message.bytes to send larger ones",
                min(limits, key=limits.__getitem__), accepted, settings.produce_batch_bytes,
                accepted)
    return settings.replace(produce_batch_bytes=accepted)
