from __future__ import annotations

from kafka.admin import KafkaAdminClient

from sentistream.settings import Settings
from sentistream.topics import ensure_topics, topic_names


def test_topics_are_created_once_with_the_shared_partition_count(isolated: Settings) -> None:
    settings = isolated.replace(partitions=3)
    assert sorted(ensure_topics(settings)) == sorted(topic_names(settings))
    assert ensure_topics(settings) == []  # idempotent
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        described = admin.describe_topics(topic_names(settings))
    finally:
        admin.close()
    assert {t["name"]: len(t["partitions"]) for t in described} == {
        name: 3 for name in topic_names(settings)
    }


def test_new_topics_have_a_live_leader_on_every_partition_when_created(isolated: Settings) -> None:
    # CI saw "NotLeaderForPartitionError ... retrying" from the first send to a just-created
    # topic: CreateTopics answers before the broker's replica manager leads every partition.
    # With retries off, any send that lands in that window fails here instead of being retried.
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    settings = isolated.replace(partitions=8)
    names = [f"{settings.topic_posts}.lead{i}" for i in range(4)]
    assert sorted(ensure_topics(settings, names)) == sorted(names)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", retries=0,
                             linger_ms=0)
    try:
        sends = [producer.send(name, b"x", partition=p)
                 for name in names for p in range(settings.partitions)]
        failures = []
        for send in sends:
            try:
                send.get(timeout=30)
            except KafkaError as exc:
                failures.append(repr(exc))
    finally:
        producer.close()
    assert not failures, failures
