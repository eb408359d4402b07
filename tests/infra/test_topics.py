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
