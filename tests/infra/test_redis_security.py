"""The local Redis: an optional password, a memory cap that never evicts, and health checks that
log in with the configured password."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Secret, Settings

pytestmark = pytest.mark.integration
PASSWORD = "local-redis-pw\"with\\odd chars"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_redis_settings(services: Settings, tmp_path: Path, maxmemory: str) -> Settings:
    """A Redis of this test's own (state dir, port), password-protected."""
    port = _free_port()
    return Settings(state_dir=tmp_path / "state", cache_dir=services.cache_dir,
                    kafka_bootstrap=services.kafka_bootstrap, redis_port=port,
                    redis_password=Secret(PASSWORD), redis_maxmemory=maxmemory)


@pytest.fixture
def private_redis(services: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = private_redis_settings(services, tmp_path, "16mb")
    server = RedisServer(settings)
    try:
        assert server.up() == "started"
        yield settings
    finally:
        server.down()


def test_password_memory_cap_and_noeviction_are_configured(private_redis: Settings) -> None:
    with pytest.raises(redis.AuthenticationError):  # NOAUTH without the password
        redis.Redis(port=private_redis.redis_port).set("k", "v")
    client = redis.Redis.from_url(private_redis.redis_url)
    assert client.config_get("maxmemory")["maxmemory"] == str(16 * 1024 * 1024)
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    config = RedisServer(private_redis).config
    assert stat.S_IMODE(config.stat().st_mode) == 0o600, "the config holds the password"


def test_health_logs_in_with_the_configured_password(private_redis: Settings) -> None:
    assert RedisServer(private_redis).healthy()
    # The password only in the URL (SENTISTREAM_REDIS_URL) is used as well.
    url_only = private_redis.replace(redis_password=Secret(""))
    assert RedisServer(url_only).healthy()
    wrong = Settings(redis_port=private_redis.redis_port, redis_password=Secret("wrong"))
    assert not RedisServer(wrong).healthy()

    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update(private_redis.to_env())
    status = subprocess.run([sys.executable, "-m", "sentistream.cli", "infra", "status"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    redis_line = next(line for line in status.stdout.splitlines() if line.startswith("redis"))
    assert "healthy" in redis_line, status.stdout
    assert "local-redis-pw" not in status.stdout + status.stderr


def test_a_full_redis_refuses_writes_and_evicts_nothing(services: Settings,
                                                        tmp_path: Path) -> None:
    settings = private_redis_settings(services, tmp_path, "2mb")
    server = RedisServer(settings)
    try:
        server.up()
        client = redis.Redis.from_url(settings.redis_url)
        written = 0
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for written in range(1000):
                client.set(f"fill:{written}", b"x" * 50_000)
        assert 0 < written < 1000
        assert all(client.exists(f"fill:{i}") for i in range(written)), "nothing evicted"
    finally:
        server.down()
