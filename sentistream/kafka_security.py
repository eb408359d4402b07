"""SASL/TLS options of every Kafka client we build, from the ``kafka_*`` security settings.

One place turns the settings into the options of each client library (kafka-python for the
producers, topic admin and health checks; aiokafka for the batch producer and the smoke test;
Faust's credentials for the worker), and turns their authentication failures into an error that
says which settings to check.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from sentistream.errors import InfraError
from sentistream.settings import Settings

SASL_HINT = ("check SENTISTREAM_KAFKA_SASL_USERNAME, SENTISTREAM_KAFKA_SASL_PASSWORD and "
             "SENTISTREAM_KAFKA_SASL_MECHANISM (the broker must enable that mechanism)")


class KafkaAuthError(InfraError):
    """The broker refused our SASL credentials or TLS handshake; the settings say which to fix."""


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer/KafkaConsumer/KafkaAdminClient."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if uses_sasl(settings):
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.reveal())
    if uses_tls(settings):
        options.update(ssl_cafile=settings.kafka_ssl_cafile or None,
                       ssl_certfile=settings.kafka_ssl_certfile or None,
                       ssl_keyfile=settings.kafka_ssl_keyfile or None,
                       ssl_password=settings.kafka_ssl_key_password.reveal() or None)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of aiokafka and Faust clients (None without TLS): hostnames verified."""
    if not uses_tls(settings):
        return None
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile or None,
        certfile=settings.kafka_ssl_certfile or None,
        keyfile=settings.kafka_ssl_keyfile or None,
        password=settings.kafka_ssl_key_password.reveal() or None)
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaProducer/AIOKafkaConsumer."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol,
                               "ssl_context": ssl_context(settings)}
    if uses_sasl(settings):
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                       sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=settings.kafka_sasl_password.reveal())
    return options


def faust_credentials(settings: Settings) -> Any:
    """Faust's ``broker_credentials`` (None for PLAINTEXT): SASL, SASL over TLS, or TLS."""
    import faust

    context = ssl_context(settings)
    if uses_sasl(settings):
        return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                     password=settings.kafka_sasl_password.reveal(),
                                     mechanism=settings.kafka_sasl_mechanism,
                                     ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def is_auth_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (from either client, possibly wrapped) is an authentication failure."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        text = str(seen).lower()
        if "Authentication" in name or "authentication failed" in text or \
                ("sasl" in text and "fail" in text):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_failure(settings: Settings, exc: BaseException) -> str:
    """What went wrong talking to Kafka, and which settings or commands fix it."""
    where = settings.kafka_bootstrap
    if is_auth_failure(exc):
        return (f"Kafka at {where} refused the SASL credentials of user "
                f"{settings.kafka_sasl_username!r} (mechanism {settings.kafka_sasl_mechanism}, "
                f"{exc}): {SASL_HINT}")
    if isinstance(exc, ssl.SSLError):
        return (f"the TLS handshake with Kafka at {where} failed ({exc}): check "
                "SENTISTREAM_KAFKA_SSL_CAFILE (the CA of the broker's certificate) and the "
                "client certificate/key settings")
    return (f"cannot reach Kafka at {where} with {settings.kafka_security_protocol} ({exc}). Is "
            "it running? `sentistream infra up` starts a local one; SENTISTREAM_KAFKA_BOOTSTRAP "
            "and SENTISTREAM_KAFKA_SECURITY_PROTOCOL point elsewhere")


def probe(settings: Settings, timeout_s: float = 10.0) -> BaseException | None:
    """Open one connection to the first bootstrap server, authenticated as configured; the
    error, or None.

    Both client libraries retry a refused login until their bootstrap times out and then report
    only "unable to bootstrap"; one direct connection shows the broker's actual answer at once.
    Runs its own event loop in a thread, so it may be called from anywhere.
    """
    from concurrent.futures import ThreadPoolExecutor

    from aiokafka.conn import create_conn

    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")

    async def connect() -> None:
        conn = await asyncio.wait_for(create_conn(
            host.strip("[]"), int(port), request_timeout_ms=int(timeout_s * 1000),
            **aiokafka_options(settings)), timeout_s)
        conn.close()

    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, connect()).result()
    except Exception as exc:
        return exc
    return None


def preflight(settings: Settings, timeout_s: float = 10.0) -> None:
    """With SASL or TLS configured, fail at once with a clear error when the broker refuses our
    credentials or certificates (instead of after a bootstrap timeout with a vague one)."""
    if not (uses_sasl(settings) or uses_tls(settings)):
        return
    problem = probe(settings, timeout_s)
    if problem is not None and (is_auth_failure(problem) or isinstance(problem, ssl.SSLError)):
        raise KafkaAuthError(describe_failure(settings, problem)) from problem
