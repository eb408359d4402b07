"""Kafka with SASL, without and with TLS: the local broker's SASL_PLAINTEXT and SASL_SSL
listeners (`infra up --sasl`, started by ops/test.sh), used by both producer clients, topic
admin, the smoke test, the health check and a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from producers.sink import SinkOptions, open_sink
from sentistream.harness import Child, start_worker, wait_until
from sentistream.infra.kafka import KafkaBroker, check_kafka, metadata_ok
from sentistream.infra.process import port_open
from sentistream.infra.smoke import round_trip
from sentistream.kafka_security import KafkaAuthError, kafka_python_options
from sentistream.settings import Secret, Settings
from sentistream.topics import ensure_topics
from tests.conftest import REQUIRE_SERVICES
from tests.stream.workers import applied_count, make_input

pytestmark = pytest.mark.integration
WRONG = Secret("not-the-password")


@pytest.fixture
def sasl(isolated: Settings) -> Settings:
    """This test's settings, talking to the broker's SASL listener only."""
    if not (isolated.kafka_sasl_username and isolated.kafka_sasl_password
            and port_open(isolated.kafka_sasl_port)):
        message = (f"no SASL listener on port {isolated.kafka_sasl_port} with a configured user: "
                   "run the tests with `make test`, which starts `sentistream infra up --sasl` "
                   "with SENTISTREAM_KAFKA_SASL_USERNAME/_PASSWORD set")
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return isolated.replace(kafka_bootstrap=f"localhost:{isolated.kafka_sasl_port}",
                            kafka_security_protocol="SASL_PLAINTEXT")


@pytest.fixture
def tls(sasl: Settings) -> Settings:
    """This test's settings, talking to the SASL_SSL listener, trusting the local CA."""
    return sasl.replace(kafka_bootstrap=f"localhost:{sasl.kafka_tls_port}",
                        kafka_security_protocol="SASL_SSL",
                        kafka_ssl_cafile=str(KafkaBroker(sasl).tls.ca))


@pytest.fixture(params=["SASL_PLAINTEXT", "SASL_SSL"])
def secured(request: pytest.FixtureRequest, sasl: Settings) -> Settings:
    return sasl if request.param == "SASL_PLAINTEXT" else request.getfixturevalue("tls")


def _read_back(settings: Settings, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             **kafka_python_options(settings))
    parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            got += [m.value for m in batch]
    consumer.close()
    return got


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_both_producer_clients_round_trip_through_sasl(sasl: Settings, mechanism: str,
                                                       client: str) -> None:
    settings = sasl.replace(kafka_sasl_mechanism=mechanism)
    check_kafka(settings)
    sink = open_sink(settings, SinkOptions(client=client))  # type: ignore[arg-type]
    values = [f"sasl-{i}".encode() for i in range(200)]
    sink.send([str(i).encode() for i in range(200)], values)
    assert sink.flush(30)
    sink.close()
    assert sink.acked == 200 and sink.failed == 0
    assert sorted(_read_back(settings, settings.topic_posts, 200)) == sorted(values)


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])
def test_both_producer_clients_round_trip_through_sasl_over_tls(tls: Settings,
                                                                client: str) -> None:
    test_both_producer_clients_round_trip_through_sasl(tls, "SCRAM-SHA-256", client)


def test_smoke_round_trip_through_sasl(secured: Settings) -> None:
    assert round_trip(secured).payload.startswith("smoke-")


def test_an_untrusted_broker_certificate_fails_at_once_naming_the_ca_setting(
        tls: Settings) -> None:
    untrusted = tls.replace(kafka_ssl_cafile="")  # the system's CAs do not know our local CA
    started = time.monotonic()
    with pytest.raises(KafkaAuthError, match="SENTISTREAM_KAFKA_SSL_CAFILE"):
        ensure_topics(untrusted)
    assert time.monotonic() - started < 10


def test_the_sasl_listener_refuses_a_client_without_credentials(sasl: Settings) -> None:
    # The same port with PLAINTEXT: no metadata without logging in.
    assert not metadata_ok(sasl.kafka_bootstrap, timeout_s=3.0)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_wrong_password_fails_at_once_saying_what_to_check(sasl: Settings,
                                                           mechanism: str) -> None:
    wrong = sasl.replace(kafka_sasl_mechanism=mechanism, kafka_sasl_password=WRONG)
    for attempt in (lambda: check_kafka(wrong), lambda: ensure_topics(wrong),
                    lambda: open_sink(wrong, SinkOptions(client="aiokafka")),
                    lambda: round_trip(wrong)):
        started = time.monotonic()
        with pytest.raises(KafkaAuthError) as caught:
            attempt()
        assert time.monotonic() - started < 10, "must not wait for a bootstrap timeout"
        text = str(caught.value)
        assert "refused the SASL credentials" in text and "SENTISTREAM_KAFKA_SASL_PASSWORD" in text
        assert WRONG.reveal() not in text


def test_cli_with_a_wrong_password_exits_3_without_printing_it(sasl: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update(sasl.replace(kafka_sasl_password=WRONG).to_env())
    result = subprocess.run([sys.executable, "-m", "sentistream.cli", "topics"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 3, result.stderr
    assert "refused the SASL credentials" in result.stderr
    assert WRONG.reveal() not in result.stdout + result.stderr


def test_a_worker_consumes_and_produces_through_sasl(secured: Settings, tmp_path: Path,
                                                     children: list[Child]) -> None:
    sasl = secured
    values = make_input(400, seed=13)
    worker = start_worker(sasl, tmp_path, sasl.worker_web_port + 170)
    children.append(worker)
    sink = open_sink(sasl, SinkOptions())
    sink.send([str(i).encode() for i in range(len(values))], values)
    assert sink.flush(30)
    sink.close()
    wait_until(lambda: applied_count(sasl) >= len(values), 180, "posts applied through SASL",
             [worker])
    # The worker's own produces (scored posts) went through the SASL listener too.
    assert len(_read_back(sasl, sasl.topic_scored, len(values))) == len(values)


def test_infra_up_sasl_refuses_a_running_broker_configured_for_another_password(
        sasl: Settings) -> None:
    from sentistream.errors import InfraError

    other = sasl.replace(kafka_sasl_password=Secret("a-new-password"))
    with pytest.raises(InfraError, match="infra down"):
        KafkaBroker(other, sasl=True).up()
    assert KafkaBroker(sasl, sasl=True).up() == "already running"
    # A restart without the flag (fault injection, benchmarks) keeps the SASL listener.
    assert KafkaBroker(sasl).sasl and not KafkaBroker(sasl, sasl=False).sasl


def test_infra_status_checks_the_configured_login(sasl: Settings) -> None:
    def status(settings: Settings) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
        env.update(settings.to_env())
        return subprocess.run([sys.executable, "-m", "sentistream.cli", "infra", "status"],
                              env=env, capture_output=True, text=True, timeout=60, check=False)

    good = status(sasl)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"as {sasl.kafka_sasl_username} (SASL_PLAINTEXT)" in good.stdout
    bad = status(sasl.replace(kafka_sasl_password=WRONG))
    assert bad.returncode == 1
    assert "login  FAILED" in bad.stdout and "SENTISTREAM_KAFKA_SASL_PASSWORD" in bad.stdout
    assert WRONG.reveal() not in bad.stdout + bad.stderr
