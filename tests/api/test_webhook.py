"""Alert webhook delivery against real local HTTP servers: signed, idempotent, retried, bounded.

Each test starts an aiohttp server on 127.0.0.1 that records what it receives and answers as
told (200, 503 twice then 200, 400, or never). The last test runs the real alert path: minute
buckets in the test Redis, the worker's ``BackgroundAlerts``, the alert store and the webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from sentistream.settings import Secret, Settings
from stream.schema.keys import KeyScheme
from stream.schema.live import BrandChange
from stream.worker.alerts.detector import Alert
from stream.worker.alerts.hook import BackgroundAlerts
from stream.worker.alerts.store import save_new_alerts
from stream.worker.alerts.webhook import (
    WebhookConfig,
    WebhookConfigError,
    WebhookSender,
    retry_after_s,
    slack_text,
)
from tests.replies import stream_entries

SECRET = "s3cret-key"
ALERT = Alert("at&t {x}", "sentiment_drop", 1_764_622_800, "nss", -0.62, 0.18, -7.25, 140,
              1_764_622_830.0).to_json()


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Hook:
    url: str
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


Answer = Callable[[int], int | None]  # request number (1-based) -> status, None = never answer
Headers = Callable[[int], dict[str, str]]  # request number -> headers of the answer


async def _serve(answer: Answer, headers: Headers = lambda n: {}) -> AsyncIterator[Hook]:
    hook = Hook("")

    async def handle(request: web.Request) -> web.Response:
        hook.requests.append(Received(await request.read(), dict(request.headers),
                                      time.monotonic()))
        n = len(hook.requests)
        status = answer(n)
        if status is None:
            await hook.release.wait()
            status = 200
        return web.Response(status=status, text="ok", headers=headers(n))

    app = web.Application()
    app.router.add_post("/hook/{token}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hook/T0K3N"
    try:
        yield hook
    finally:
        hook.release.set()
        await runner.cleanup()


@pytest.fixture
async def ok_hook() -> AsyncIterator[Hook]:
    async for hook in _serve(lambda n: 200):
        yield hook


@pytest.fixture
async def flaky_hook() -> AsyncIterator[Hook]:
    async for hook in _serve(lambda n: 503 if n <= 2 else 200):
        yield hook


@pytest.fixture
async def silent_hook() -> AsyncIterator[Hook]:
    async for hook in _serve(lambda n: None):
        yield hook


def config(url: str, **changes: Any) -> WebhookConfig:
    values: dict[str, Any] = {"secret": Secret(SECRET), "timeout_s": 2.0, "attempts": 4,
                              "backoff_s": 0.05, "backoff_max_s": 0.1, "queue": 10}
    values.update(changes)
    return WebhookConfig(url, **values)


def check_signature(request: Received) -> None:
    """What a receiver does: HMAC-SHA256 over "<timestamp>." + body, with the shared secret."""
    timestamp = request.headers["X-Sentistream-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Sentistream-Signature"], "v1=" + expected)
    assert abs(int(timestamp) - time.time()) < 60


async def test_an_alert_is_posted_as_signed_json_with_slack_text(ok_hook: Hook) -> None:
    sender = WebhookSender(config(ok_hook.url))
    await sender.send(ALERT)
    assert len(ok_hook.requests) == 1 and sender.delivered == 1
    request = ok_hook.requests[0]
    check_signature(request)
    assert request.headers["Idempotency-Key"] == "at%26t%20%7Bx%7D:sentiment_drop:1764622800"
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert {k: v for k, v in payload.items() if k != "text"} == ALERT
    assert payload["text"] == ("sentistream: at&amp;t {x} sentiment drop at "
                               "2025-12-01T21:00:00Z: nss -0.62 vs baseline +0.18, 140 posts "
                               "(z -7.2)")


async def test_a_tampered_body_fails_the_signature(ok_hook: Hook) -> None:
    sender = WebhookSender(config(ok_hook.url))
    await sender.send(ALERT)
    request = ok_hook.requests[0]
    tampered = Received(request.body.replace(b"-0.62", b"-0.01"), request.headers, request.at)
    with pytest.raises(AssertionError):
        check_signature(tampered)


async def test_without_a_secret_there_is_no_signature(ok_hook: Hook) -> None:
    sender = WebhookSender(config(ok_hook.url, secret=Secret("")))
    await sender.send(ALERT)
    assert "X-Sentistream-Signature" not in ok_hook.requests[0].headers
    assert ok_hook.requests[0].headers["Idempotency-Key"] == ALERT["id"]


async def test_a_webhook_that_fails_at_first_gets_the_same_alert_until_it_answers(
        flaky_hook: Hook) -> None:
    sender = WebhookSender(config(flaky_hook.url))
    await sender.send(ALERT)
    assert len(flaky_hook.requests) == 3 and sender.delivered == 1 and sender.given_up == 0
    assert len({r.body for r in flaky_hook.requests}) == 1
    assert {r.headers["Idempotency-Key"] for r in flaky_hook.requests} == {ALERT["id"]}
    for request in flaky_hook.requests:
        check_signature(request)
    gaps = [b.at - a.at for a, b in zip(flaky_hook.requests, flaky_hook.requests[1:],
                                        strict=False)]
    assert gaps[0] >= 0.05 * 0.9 and gaps[1] >= 0.1 * 0.9  # backoff 0.05, then 0.1


async def test_a_webhook_that_never_answers_is_tried_up_to_the_cap_then_given_up(
        silent_hook: Hook) -> None:
    sender = WebhookSender(config(silent_hook.url, timeout_s=0.3, attempts=3))
    started = time.monotonic()
    await sender.send(ALERT)
    assert len(silent_hook.requests) == 3 and sender.given_up == 1 and sender.delivered == 0
    # 3 timeouts of 0.3 s and the delays 0.05 + 0.1: about 1.05 s, never open-ended.
    assert 0.9 <= time.monotonic() - started < 3.0
    await asyncio.sleep(0.3)
    assert len(silent_hook.requests) == 3  # nothing after the cap


async def test_a_refusal_is_not_retried() -> None:
    async for hook in _serve(lambda n: 401):
        sender = WebhookSender(config(hook.url))
        await sender.send(ALERT)
        assert len(hook.requests) == 1 and sender.given_up == 1


@pytest.mark.integration
async def test_a_dead_webhook_never_blocks_detection_or_grows_its_outbox(
        isolated: Settings, silent_hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    settings = isolated.replace(alert_webhook_url=silent_hook.url, alert_webhook_queue=3,
                                alert_webhook_timeout_s=5.0)
    client = aioredis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    minute = (int(time.time()) // 60 - 2) * 60
    try:
        alerts = BackgroundAlerts(client, settings)
        started = time.monotonic()
        checked = asyncio.ensure_future(alert_on_a_drop(client, settings, "acme", minute, alerts))
        await asyncio.wait_for(alerts.idle(), 5.0)  # the check is done ...
        assert time.monotonic() - started < 4.0
        while not silent_hook.requests:
            await asyncio.sleep(0.02)
        assert not checked.done()  # ... while its alert waits on the webhook, in the outbox
        assert await client.xlen(keys.alert_outbox) == 1
        # Ten more new alerts while the webhook hangs: the outbox keeps the newest 3.
        more = [Alert(f"b{i}", "volume_spike", minute, "posts", 99.0, 1.0, 9.0, 99, 0.0)
                for i in range(10)]
        assert len(await save_new_alerts(client, keys, more, 1000, 100, outbox=3)) == 10
        assert await client.xlen(keys.alert_outbox) == 3
        kept = stream_entries(await client.xrange(keys.alert_outbox))
        assert [json.loads(f["alert"])["brand"] for _, f in kept] == ["b7", "b8", "b9"]
        assert "dropped its 8 oldest undelivered" in caplog.text
        assert alerts.webhook is not None
        await alerts.webhook.close()
        checked.cancel()
        await asyncio.gather(checked, return_exceptions=True)
    finally:
        await client.aclose()


async def gap_after(status: int, retry_after: Callable[[], str], **changes: Any) -> float:
    """Seconds between a POST answered ``status`` with that ``Retry-After`` and the retry."""
    async for hook in _serve(lambda n: status if n == 1 else 200,
                             lambda n: {"Retry-After": retry_after()} if n == 1 else {}):
        sender = WebhookSender(config(hook.url, **changes))
        await asyncio.wait_for(sender.send(ALERT), 30)
        assert len(hook.requests) == 2 and sender.delivered == 1
        return hook.requests[1].at - hook.requests[0].at
    raise AssertionError("no server")


async def test_a_429_waits_the_seconds_its_retry_after_asks_for() -> None:
    """The retry came after the backoff (0.05 s here) whatever the webhook asked: a rate
    limiter that says "Retry-After: 1" was hit again at once, and again, until given up."""
    gap = await gap_after(429, lambda: "1", backoff_max_s=5.0)
    assert 0.95 <= gap < 2.5


async def test_a_503_waits_until_the_http_date_of_its_retry_after() -> None:
    # Two seconds ahead, at the date's one-second resolution: a wait of 1 to 2 s.
    gap = await gap_after(503, lambda: formatdate(time.time() + 2, usegmt=True),
                          backoff_max_s=5.0)
    assert 0.95 <= gap < 3.0


@pytest.mark.parametrize("value", ["9" * 400, "86400", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_retry_after_beyond_the_backoff_cap_waits_the_cap(value: str) -> None:
    gap = await gap_after(429, lambda: value, backoff_max_s=1.0)
    assert 0.95 <= gap < 2.5


@pytest.mark.parametrize("value", ["-5", "soon", "1e9", "0", "Wed, 21 Oct 2015 07:28:00 GMT",
                                   "Wed, 99 Oct 2015 07:28:00 GMT"])
async def test_a_retry_after_of_no_use_leaves_the_backoff(value: str) -> None:
    gap = await gap_after(503, lambda: value, backoff_max_s=1.0)
    assert 0.045 <= gap < 0.8


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None), ("", None), ("  ", None), ("120", 120.0), (" 7 ", 7.0), ("0", 0.0),
    ("-1", None), ("+3", None), ("1.5", None), ("1e3", None), ("0x10", None), ("٣", None),
    ("nan", None), ("inf", None), ("3 4", None), ("9" * 5000, float("inf")),
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0), ("Wednesday, 21-Oct-15 07:29:00 GMT", 60.0),
    ("Wed Oct 21 07:28:10 2015", 10.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ("Wed, 21 Oct 99999 07:28:00 GMT", None), ("Wed, 32 Oct 2015 07:28:00 GMT", None),
    ("Wed, 21 Oct 2015 07:28:00 +0200", 0.0), ("\x00\xff" * 100, None), ("1" * 50 + "x", None),
])
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_s(value, now) == seconds


def test_retry_delays_double_up_to_the_cap() -> None:
    cfg = WebhookConfig("https://hooks.example.com/x", attempts=6, backoff_s=0.5,
                        backoff_max_s=3.0)
    assert cfg.delays() == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(("url", "changes", "problem"), [
    ("ftp://example.com/x", {}, "http"), ("https:///nohost", {}, "host"),
    ("https://example.com", {"attempts": 0}, "ATTEMPTS"),
    ("https://example.com", {"queue": 0}, "QUEUE"),
    ("https://example.com", {"timeout_s": 0}, "TIMEOUT"),
    ("https://example.com", {"backoff_s": 2.0, "backoff_max_s": 1.0}, "BACKOFF"),
])
def test_bad_settings_say_which_variable_to_fix(url: str, changes: dict[str, Any],
                                                problem: str) -> None:
    with pytest.raises(WebhookConfigError, match=problem):
        WebhookConfig(url, **changes)


def test_settings_turn_the_webhook_on_and_the_secret_stays_hidden() -> None:
    assert WebhookConfig.from_settings(Settings()) is None
    settings = Settings.from_env({"SENTISTREAM_ALERT_WEBHOOK_URL": "https://h.example/x",
                                  "SENTISTREAM_ALERT_WEBHOOK_SECRET": SECRET,
                                  "SENTISTREAM_ALERT_WEBHOOK_ATTEMPTS": "3"})
    cfg = WebhookConfig.from_settings(settings)
    assert cfg is not None and cfg.attempts == 3 and cfg.secret.reveal() == SECRET
    assert SECRET not in repr(settings) and SECRET not in repr(cfg)


def test_slack_text_of_a_volume_spike_and_of_an_alert_with_drivers() -> None:
    spike = Alert("acme", "volume_spike", 1_764_622_800, "posts", 420.0, 35.5, 12.04, 420,
                  0.0).to_json()
    assert slack_text(spike) == ("sentistream: acme volume spike at 2025-12-01T21:00:00Z: 420 "
                                 "posts in the minute vs 35.5 usual (z +12.0)")
    with_drivers = {**ALERT, "drivers": {"negative": [{"term": "battery"}, {"term": "update"}]}}
    assert slack_text(with_drivers).endswith("; drivers: battery, update")
    assert slack_text({"id": "x", "kind": "odd"}).endswith("see `sentistream alerts`")
    # Brands come from posts: one named "<!channel>" must not notify a Slack channel.
    hostile = {**ALERT, "brand": "<!channel> & <@U123>",
               "drivers": {"negative": [{"term": "<!here>"}]}}
    text = slack_text(hostile)
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text and text.endswith("&lt;!here&gt;")


@pytest.mark.integration
async def test_the_worker_alert_path_posts_each_new_alert_once(isolated: Settings,
                                                                ok_hook: Hook) -> None:
    settings = isolated.replace(alert_webhook_url=ok_hook.url,
                                alert_webhook_secret=Secret(SECRET))
    client = aioredis.Redis.from_url(settings.redis_url)
    minute = (int(time.time()) // 60 - 2) * 60
    try:
        await alert_on_a_drop(client, settings, "acme", minute)
        assert len(ok_hook.requests) == 1
        check_signature(ok_hook.requests[0])
        payload = json.loads(ok_hook.requests[0].body)
        assert payload["kind"] == "sentiment_drop" and payload["bucket"] == minute
        assert ok_hook.requests[0].headers["Idempotency-Key"] == f"acme:sentiment_drop:{minute}"
        # The same minute checked again (a redelivered batch, a second worker): not new, so
        # not posted again.
        again = BackgroundAlerts(client, settings)
        again.submit({"acme": BrandChange(minutes=[minute])})
        await again.idle()
        assert again.webhook is not None
        await again.webhook.idle()
        assert len(ok_hook.requests) == 1
    finally:
        await client.aclose()


async def alert_on_a_drop(client: aioredis.Redis, settings: Settings, brand: str,
                          minute: int, alerts: BackgroundAlerts | None = None) -> None:
    """Ten ordinary minutes of ``brand``, then one of nearly only complaints at ``minute``, through
    the worker's alert path; returns when its webhook has posted what it will."""
    keys = KeyScheme(settings.redis_prefix)
    for i in range(1, 11):
        await client.hset(keys.bucket(brand, "m", minute - 60 * i),
                          mapping={"n": 60, "neg": 12, "neu": 24, "pos": 24, "isum_e6": 0})
    await client.hset(keys.bucket(brand, "m", minute),
                      mapping={"n": 60, "neg": 55, "neu": 5, "pos": 0, "isum_e6": 0})
    alerts = alerts or BackgroundAlerts(client, settings)
    assert alerts.webhook is not None
    alerts.submit({brand: BrandChange(minutes=[minute])})
    await alerts.idle()
    await alerts.webhook.idle()
