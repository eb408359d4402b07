"""A worker against a password-protected, full Redis: it waits and drops nothing, its logs never
show the password, and its web server listens on loopback only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from sentistream.harness import Child, sentistream_argv, start_worker, wait_until
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings
from tests.infra.test_redis_security import PASSWORD, private_redis_settings
from tests.stream.test_worker import assert_exact
from tests.stream.workers import applied_count, ground_truth, make_input, produce

pytestmark = pytest.mark.integration


def info_worker(settings: Settings, log_dir: Path, web_port: int) -> Child:
    """A worker that logs at INFO, where it names its Redis URL."""
    return start_worker(settings, log_dir, web_port,
                        argv=sentistream_argv("worker", "--loglevel", "info"))


@pytest.fixture
def full_redis(isolated: Settings, tmp_path: Path) -> Iterator[Settings]:
    """This test's topics and prefix, on a Redis of its own with a password and a 4 MB cap."""
    private = private_redis_settings(isolated, tmp_path, "4mb")
    server = RedisServer(private)
    server.up()
    try:
        yield isolated.replace(redis_url=private.redis_url, redis_port=private.redis_port,
                               redis_password=private.redis_password)
    finally:
        server.down()


def _fill(client: redis.Redis) -> int:
    """Fill Redis until it refuses writes; returns the number of filler keys."""
    for i in range(10_000):
        try:
            client.set(f"filler:{i}", b"x" * 50_000)
        except redis.exceptions.OutOfMemoryError:
            return i
    raise AssertionError("maxmemory is not enforced")


def _listening_addresses(pid: int, port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_a_full_redis_delays_the_worker_and_loses_nothing(full_redis: Settings,
                                                          tmp_path: Path) -> None:
    values = make_input(1_500, seed=21)
    _, _, valid = ground_truth(full_redis, values)
    worker = info_worker(full_redis, tmp_path, full_redis.worker_web_port + 180)
    try:
        wait_until(lambda: worker.metric("sentistream_redis_retries_total") == 0, 120,
                 "the worker's /metrics", [worker])
        # Faust's web server (/metrics, /router, /table) listens on loopback only.
        assert _listening_addresses(worker.proc.pid, worker.web_port) == {"127.0.0.1"}

        client = redis.Redis.from_url(full_redis.redis_url)
        fillers = _fill(client)
        produce(full_redis, values)
        wait_until(lambda: worker.metric("sentistream_redis_retries_total") >= 2, 120,
                 "retries of the refused write", [worker])
        assert applied_count(full_redis) == 0
        client.delete(*[f"filler:{i}" for i in range(fillers)])  # memory is freed
        wait_until(lambda: applied_count(full_redis) >= valid, 180, "all posts applied", [worker])
        time.sleep(1.0)
        assert_exact(full_redis, values)
    finally:
        worker.stop()
    log = worker.log.read_text(errors="replace")
    assert "Redis is full" in log and "SENTISTREAM_REDIS_MAXMEMORY" in log
    assert "answers; scoring with model" in log, "the INFO line naming the Redis URL"
    assert PASSWORD not in log and "local-redis-pw" not in log
    assert ":***@localhost" in log
