"""Write and read the real Redis."""

from __future__ import annotations

import redis

from sentistream.settings import Settings


def test_transactional_write_and_read(isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    key = f"{isolated.redis_prefix}:counter"
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "count", 3)
        pipe.hincrbyfloat(key, "sum", 1.5)
        pipe.execute()
    assert client.hgetall(key) == {b"count": b"3", b"sum": b"1.5"}


def test_server_is_durable(services: Settings) -> None:
    # Aggregates must survive a Redis restart: the local server runs with an fsynced AOF.
    client = redis.Redis.from_url(services.redis_url)
    config = client.config_get("append*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
