"""Passwords stay out of log lines, error messages and reprs."""

from __future__ import annotations

import logging

import pytest

from sentistream.redact import install_log_redaction, redact_text, redact_url
from sentistream.settings import Secret, Settings


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
    ("rediss://app:hunter2@cache.example:6380/1", "rediss://app:***@cache.example:6380/1"),
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),  # no userinfo: unchanged
    ("kafka://broker:9092", "kafka://broker:9092"),
    ("redis://app@redis:6379", "redis://app@redis:6379"),  # a user without a password
])
def test_redact_url_masks_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_urls_in_prose_and_known_secrets() -> None:
    text = "Redis at redis://:p%40ss@h:1/0 failed; token s3cr3t-token, again redis://:x1@h/0"
    out = redact_text(text, ["s3cr3t-token"])
    assert "p%40ss" not in out and "x1@" not in out and "s3cr3t-token" not in out
    assert "redis://:***@h:1/0" in out


def test_settings_repr_hides_a_password_given_in_the_url_or_as_a_setting() -> None:
    in_url = Settings.from_env({"SENTISTREAM_REDIS_URL": "redis://:hunter2@redis:6379/0"})
    as_setting = Settings.from_env({"SENTISTREAM_REDIS_PASSWORD": "hunter3",
                                    "SENTISTREAM_KAFKA_SASL_PASSWORD": "hunter4"})
    assert "hunter2" not in repr(in_url)
    for secret in ("hunter3", "hunter4"):
        assert secret not in repr(as_setting)
    assert sorted(as_setting.secrets()) == ["hunter3", "hunter4"]


def test_redis_password_setting_goes_into_the_url_percent_encoded() -> None:
    s = Settings.from_env({"SENTISTREAM_REDIS_PORT": "16379",
                           "SENTISTREAM_REDIS_PASSWORD": "p@ss/w:rd"})
    assert s.redis_url == "redis://:p%40ss%2Fw%3Ard@localhost:16379/0"
    import redis

    pool = redis.Redis.from_url(s.redis_url).connection_pool
    assert pool.connection_kwargs["password"] == "p@ss/w:rd"
    # A URL that names its own password wins over the setting.
    own = Settings(redis_url="redis://:mine@h:1/0", redis_password=Secret("other"))
    assert own.redis_url == "redis://:mine@h:1/0"


def test_every_log_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction(["kafka-sasl-pw"])
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        log.info("connected to %s", "redis://:hunter2@redis:6379/0")
        log.warning("auth with kafka-sasl-pw failed")
    text = caplog.text
    assert "hunter2" not in text and "kafka-sasl-pw" not in text
    assert "redis://:***@redis:6379/0" in text


def test_a_logged_traceback_is_redacted_too(caplog: pytest.LogCaptureFixture) -> None:
    # A worker that loses Redis or a webhook logs the exception with its traceback: the record
    # factory masked only the message, while the exception's text (formatted later by each
    # handler) can carry the URL it failed on, or a library's echo of a secret.
    # Built at run time: a traceback also shows the source line that raised.
    password, sasl = "hunter" + str(5), "-".join(("sasl", "pw", "in", "trace"))
    install_log_redaction([sasl])
    log = logging.getLogger("some.library")

    def connect() -> None:
        raise ConnectionError(f"cannot reach redis://:{password}@redis:6379/0")

    with caplog.at_level(logging.INFO):
        try:
            try:
                connect()
            except ConnectionError as exc:
                raise RuntimeError(f"login with {sasl} refused") from exc
        except RuntimeError:
            log.exception("worker stopped")
        log.info("where", stack_info=True, extra={"note": "no secret"})
    text = caplog.text
    assert password not in text and sasl not in text
    assert "redis://:***@redis:6379/0" in text and "ConnectionError" in text
    assert "Traceback" in text and "RuntimeError: login with *** refused" in text
    formatted = logging.Formatter().format(caplog.records[0])  # any handler's formatter
    assert password not in formatted and "in connect" in formatted


def test_the_webhook_url_is_masked_where_a_library_logs_it(
        caplog: pytest.LogCaptureFixture) -> None:
    # A Slack-style webhook URL's path is its credential. The webhook's own lines show only its
    # scheme and host, but aiohttp's errors name the whole URL: a webhook redirecting in a loop
    # logged "TooManyRedirects: 302, message='Found', url='https://hooks.example/services/...'".
    import aiohttp
    import yarl
    from aiohttp.client_reqrep import RequestInfo
    from multidict import CIMultiDict, CIMultiDictProxy

    url = "https://hooks.example/services/T0/B0/" + "x" * 24
    settings = Settings(alert_webhook_url=url)
    assert url in settings.secrets()
    assert Settings(alert_webhook_url="https://hooks.example/").secrets() == []
    install_log_redaction(settings.secrets())
    info = RequestInfo(yarl.URL(url), "POST", CIMultiDictProxy(CIMultiDict()), yarl.URL(url))
    error = aiohttp.TooManyRedirects(info, (), status=302, message="Found")
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").warning("alert failed (%s)", error)
    assert "x" * 24 not in caplog.text and "url='***'" in caplog.text
    assert "x" * 24 not in repr(settings)
