"""The security settings become the right options of each Kafka client (no broker needed; the
SASL paths run against the real broker in tests/infra/test_sasl.py)."""

from __future__ import annotations

import ssl

import faust
import pytest

from sentistream.errors import ConfigError
from sentistream.kafka_security import (
    aiokafka_options,
    describe_failure,
    faust_credentials,
    kafka_python_options,
)
from sentistream.settings import Secret, Settings


def sasl(protocol: str, mechanism: str = "SCRAM-SHA-256") -> Settings:
    """Settings of a SASL client named app with password pw-1234."""
    return Settings(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism,
                    kafka_sasl_username="app", kafka_sasl_password=Secret("pw-1234"))


def test_plaintext_adds_nothing() -> None:
    s = Settings()
    assert kafka_python_options(s) == {"security_protocol": "PLAINTEXT"}
    assert aiokafka_options(s) == {"security_protocol": "PLAINTEXT", "ssl_context": None}
    assert faust_credentials(s) is None


def test_sasl_plaintext() -> None:
    s = sasl("SASL_PLAINTEXT", "PLAIN")
    assert kafka_python_options(s) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "app", "sasl_plain_password": "pw-1234"}
    assert aiokafka_options(s)["sasl_plain_password"] == "pw-1234"
    creds = faust_credentials(s)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_PLAINTEXT" and creds.mechanism.value == "PLAIN"
    assert "pw-1234" not in repr(creds)


def test_sasl_ssl_verifies_the_broker() -> None:
    s = sasl("SASL_SSL")
    context = aiokafka_options(s)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    creds = faust_credentials(s)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-256"
    assert kafka_python_options(s)["ssl_cafile"] is None  # the system's CAs


def test_ssl_alone_gives_faust_ssl_credentials() -> None:
    s = Settings(kafka_security_protocol="SSL")
    assert isinstance(faust_credentials(s), faust.SSLCredentials)
    assert "sasl_mechanism" not in kafka_python_options(s)


@pytest.mark.parametrize(("env", "message"), [
    ({"SENTISTREAM_KAFKA_SECURITY_PROTOCOL": "SASL"}, "is not one of PLAINTEXT"),
    ({"SENTISTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs SENTISTREAM_KAFKA_SASL_USERNAME"),
    ({"SENTISTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SENTISTREAM_KAFKA_SASL_MECHANISM": "MD5",
      "SENTISTREAM_KAFKA_SASL_USERNAME": "a", "SENTISTREAM_KAFKA_SASL_PASSWORD": "b"},
     "SENTISTREAM_KAFKA_SASL_MECHANISM='MD5'"),
])
def test_bad_security_settings_say_what_to_set(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_a_failure_description_names_the_settings_to_check() -> None:
    s = sasl("SASL_PLAINTEXT")
    auth = RuntimeError("[Error 58] SaslAuthenticationFailed: Authentication failed")
    assert "SENTISTREAM_KAFKA_SASL_PASSWORD" in describe_failure(s, auth)
    assert "pw-1234" not in describe_failure(s, auth)
    down = ConnectionRefusedError("refused")
    assert "`sentistream infra up`" in describe_failure(s, down)
