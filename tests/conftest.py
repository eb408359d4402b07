"""Shared fixtures: the real Kafka and Redis that `make test` starts, one topic/prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from sentistream.harness import Child
from sentistream.infra.kafka import metadata_ok
from sentistream.redact import redact_url
from sentistream.settings import Settings, get_settings

# Set by ops/test.sh: missing services are then a failure with a reason, never a skip.
REQUIRE_SERVICES = os.environ.get("SENTISTREAM_TEST_REQUIRE_SERVICES") == "1"


def _services_problem(settings: Settings) -> str | None:
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {redact_url(settings.redis_url)} is not reachable ({exc})"
    if not metadata_ok(settings.kafka_bootstrap):
        return f"Kafka at {settings.kafka_bootstrap} does not answer a metadata request"
    return None


@pytest.fixture(scope="session")
def services() -> Settings:
    """The running test services; fails (in CI) or skips (elsewhere) when they are absent."""
    settings = get_settings()
    problem = _services_problem(settings)
    if problem:
        message = f"{problem}. Run the tests with `make test`, which starts them."
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return settings


@pytest.fixture
def unique() -> str:
    """A short unique suffix for one test's topics and Redis key prefix."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """The child processes a test starts (it appends them); each is stopped at the test's end."""
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


@pytest.fixture
def isolated(services: Settings, unique: str) -> Iterator[Settings]:
    """Settings with topics and a Redis key prefix of this test's own."""
    settings = services.replace(
        topic_posts=f"t{unique}.posts",
        topic_scored=f"t{unique}.scored",
        topic_dead_letters=f"t{unique}.dead-letters",
        redis_prefix=f"t{unique}",
    )
    yield settings
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=1000):
        client.delete(key)
    for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000):
        client.delete(key)
