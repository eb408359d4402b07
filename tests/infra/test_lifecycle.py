"""`infra up` -> `status` -> `down` -> `status`, on ports and a state dir of this test's own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sentistream.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentistream.cli", "infra", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def private_env(tmp_path: Path, services: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SENTISTREAM_STATE_DIR": str(tmp_path / "state"),
        # Share the jar cache: the test is about lifecycle, not about downloading.
        "SENTISTREAM_CACHE_DIR": str(services.cache_dir),
        "SENTISTREAM_KAFKA_PORT": str(_free_port()),
        "SENTISTREAM_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "SENTISTREAM_REDIS_PORT": str(_free_port()),
        "SENTISTREAM_KAFKA_HEAP": "256m",
    })
    return env


def test_up_status_down_status(private_env: dict[str, str]) -> None:
    try:
        up = _run(private_env, "up")
        assert up.returncode == 0, up.stderr
        assert "kafka  started" in up.stdout and "redis  started" in up.stdout

        again = _run(private_env, "up")  # idempotent: reuses what runs
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("already running") == 2

        status = _run(private_env, "status")
        assert status.returncode == 0
        assert status.stdout.count("healthy") == 2
        assert f"localhost:{private_env['SENTISTREAM_KAFKA_PORT']}" in status.stdout
    finally:
        down = _run(private_env, "down")
    assert down.returncode == 0
    assert "kafka  stopped" in down.stdout and "redis  stopped" in down.stdout

    after = _run(private_env, "status")
    assert after.returncode == 1
    assert after.stdout.count("DOWN") == 2
    state = Path(private_env["SENTISTREAM_STATE_DIR"])
    assert not list(state.rglob("*.pid")), "down must leave no pid files behind"


def test_foreign_process_on_port_is_reported(private_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(private_env["SENTISTREAM_REDIS_PORT"])))
        squatter.listen()
        result = _run(private_env, "up")
    assert result.returncode == 3
    assert "already in use by a process that sentistream did not start" in result.stderr
    assert "SENTISTREAM_REDIS_PORT" in result.stderr


def test_two_services_given_one_port_are_refused_before_anything_starts(
        private_env: dict[str, str]) -> None:
    """The SASL listener defaults to the Kafka port + 2: a Redis port chosen there (19692 and
    19694, say) made `infra up --sasl` start Redis, then fail the broker without saying why."""
    kafka_port = int(private_env["SENTISTREAM_KAFKA_PORT"])
    env = {k: v for k, v in private_env.items()  # the listeners at their defaults
           if k not in ("SENTISTREAM_KAFKA_SASL_PORT", "SENTISTREAM_KAFKA_TLS_PORT")}
    env.update({"SENTISTREAM_REDIS_PORT": str(kafka_port + 2),
                "SENTISTREAM_KAFKA_SASL_USERNAME": "alice",
                "SENTISTREAM_KAFKA_SASL_PASSWORD": "a-long-enough-password"})
    try:
        result = _run(env, "up", "--sasl")
        status = _run(env, "status")
    finally:
        _run(env, "down")
    assert result.returncode == 3
    assert "SENTISTREAM_REDIS_PORT" in result.stderr
    assert "SENTISTREAM_KAFKA_SASL_PORT" in result.stderr
    assert str(kafka_port + 2) in result.stderr
    assert status.stdout.count("DOWN") == 2, "nothing may be started on a clash"


def test_storage_formats_with_a_cluster_id_that_looks_like_an_option(
        tmp_path: Path, services: Settings) -> None:
    # base64url cluster ids start with "-" once in 64 starts; the storage tool must not take it
    # for an option.
    from sentistream.infra.kafka import KafkaBroker

    broker = KafkaBroker(services.replace(state_dir=tmp_path))
    broker.write_config()
    assert broker.format_storage(cluster_id="-" + "A" * 21)
    meta = (broker.paths.data / "meta.properties").read_text()
    assert "cluster.id=-AAAAAAAAAAAAAAAAAAAAA" in meta
    assert not broker.format_storage()  # once only
