"""Alert delivery: POST each new alert to ``SENTISTREAM_ALERT_WEBHOOK_URL``, signed, retried.

Request (one per alert, the same body on every retry)::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <alert id>              e.g. "apple:sentiment_drop:1764622800"
    X-Sentistream-Timestamp: <unix seconds>  of this attempt
    X-Sentistream-Signature: v1=<hex>        only when SENTISTREAM_ALERT_WEBHOOK_SECRET is set

    {<the alert as `sentistream alerts --json` shows it>, "text": "<one line for humans>"}

``text`` is what a Slack (or Mattermost, Discord /slack) incoming webhook displays. The
signature is HMAC-SHA256 with the secret as key over ``"<timestamp>." + body`` (the raw body
bytes); a receiver recomputes it, compares with ``hmac.compare_digest``, rejects a timestamp
more than a few minutes old (a replayed request), and drops a second request with an
``Idempotency-Key`` it has seen (an alert retried after a lost response).

Retries: a connection error, a timeout (``SENTISTREAM_ALERT_WEBHOOK_TIMEOUT_S``), 408, 429 or
5xx is retried after ``backoff_s``, then twice that, ..., capped at ``backoff_max_s``, for
``SENTISTREAM_ALERT_WEBHOOK_ATTEMPTS`` POSTs in all; then the alert is given up (it stays in
Redis and in `sentistream alerts`). Another 4xx is given up at once: the URL or the secret is
wrong, and retrying will not fix it. A retried answer's ``Retry-After`` (seconds or an
HTTP-date) lengthens that delay to what it asks, never beyond ``backoff_max_s``; a value that is
neither (negative, garbage, an impossible date) is ignored.

Bounds: alert detection never waits for the webhook: new alerts wait in a Redis stream, the
outbox (``stream.worker.alerts.outbox``), of at most ``SENTISTREAM_ALERT_WEBHOOK_QUEUE`` alerts
(the oldest waiting one is dropped, and logged, beyond it). One alert holds its sender at most
``attempts x timeout + the sum of the delays`` (45.5 s with the defaults; 180 s when every
answer asks, with ``Retry-After``, for the cap or more: ``WebhookConfig.longest_send_s``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from sentistream.settings import Secret, Settings
from stream.worker.alerts.detector import AlertConfigError

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Sentistream-Signature"
TIMESTAMP_HEADER = "X-Sentistream-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_STATUSES = frozenset({408, 429})  # and every 5xx
_DELAY_SECONDS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit also takes "٣"


class WebhookConfigError(AlertConfigError):
    """A SENTISTREAM_ALERT_WEBHOOK_* setting is unusable; fix the variable it names."""


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: Secret = Secret("")
    timeout_s: float = 5.0
    attempts: int = 6
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    queue: int = 100

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookConfigError(
                f"SENTISTREAM_ALERT_WEBHOOK_URL must be an http(s) URL with a host, not "
                f"{_where(self.url)!r}")
        if self.timeout_s <= 0 or self.attempts < 1 or self.queue < 1:
            raise WebhookConfigError("SENTISTREAM_ALERT_WEBHOOK_TIMEOUT_S must be > 0, "
                                     "_ATTEMPTS and _QUEUE >= 1")
        if self.backoff_s < 0 or self.backoff_max_s < self.backoff_s:
            raise WebhookConfigError("SENTISTREAM_ALERT_WEBHOOK_BACKOFF_S must be >= 0 and "
                                     "_BACKOFF_MAX_S at least as large")

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig | None:
        """The webhook's configuration, or None when no URL is set."""
        if not settings.alert_webhook_url:
            return None
        return cls(settings.alert_webhook_url, settings.alert_webhook_secret,
                   settings.alert_webhook_timeout_s, settings.alert_webhook_attempts,
                   settings.alert_webhook_backoff_s, settings.alert_webhook_backoff_max_s,
                   settings.alert_webhook_queue)

    @property
    def longest_send_s(self) -> float:
        """The longest one alert can hold its sender: every attempt timing out, every delay at
        the cap (where a ``Retry-After`` can push it)."""
        return self.attempts * self.timeout_s + (self.attempts - 1) * self.backoff_max_s

    def delays(self) -> list[float]:
        """The waits before the 2nd, 3rd, ... POST of one alert."""
        return [min(self.backoff_s * 2 ** i, self.backoff_max_s)
                for i in range(self.attempts - 1)]


def _where(url: str) -> str:
    """Scheme and host of a URL: enough for a log line (Slack's URL path is its credential)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" if parts.hostname else "<not a URL>"


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (``inf`` for a number too large to
    matter), or None when there is none or it is not one of HTTP's two forms: ASCII digits
    (delay-seconds) or an HTTP-date (IMF-fixdate, RFC 850 or asctime; one without a zone is
    UTC), which counts from ``now`` and is 0 when past. Never raises: the value comes from
    whoever answers at the webhook's URL."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)  # a float, not an int: 5,000 digits are inf, not a ValueError
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``v1=`` + hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "v1=" + mac.hexdigest()


_KIND_TEXT = {"sentiment_drop": "sentiment drop", "sentiment_rise": "sentiment rise",
              "volume_spike": "volume spike"}


def slack_text(alert: Mapping[str, Any]) -> str:
    """One line that says what happened, for a chat channel (Slack's control characters in
    brands and terms escaped)."""
    kind = _KIND_TEXT.get(str(alert.get("kind")), str(alert.get("kind")))
    head = f"sentistream: {_escape(alert.get('brand'))} {_escape(kind)} at {alert.get('time')}"
    try:
        if alert.get("kind") == "volume_spike":
            body = (f"{float(alert['value']):.0f} posts in the minute vs "
                    f"{float(alert['baseline']):.1f} usual")
        else:
            body = (f"{alert.get('metric')} {float(alert['value']):+.2f} vs baseline "
                    f"{float(alert['baseline']):+.2f}, {alert.get('n')} posts")
        body += f" (z {float(alert['z']):+.1f})"
    except (KeyError, TypeError, ValueError):
        body = "see `sentistream alerts`"
    return f"{head}: {body}{_drivers_text(alert.get('drivers'))}"


def _drivers_text(drivers: Any) -> str:
    """"; drivers: battery, screen" once alerts carry their drivers ({"negative": [...]})."""
    if not isinstance(drivers, Mapping):
        return ""
    side = "positive" if drivers.get("side") == "positive" else "negative"
    terms = [str(d["term"]) for d in drivers.get(side) or [] if isinstance(d, Mapping)
             and "term" in d]
    return f"; drivers: {_escape(', '.join(terms[:3]))}" if terms else ""


def _escape(value: Any) -> str:
    """Slack's escaping of &, < and >: a brand named "<!channel>" (brands come from posts)
    must not notify a whole channel."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class WebhookSender:
    """POSTs one alert at a time, retried within the bounds of the module docstring."""

    def __init__(self, config: WebhookConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.delivered = self.given_up = self.posts = 0

    async def send(self, alert: Mapping[str, Any]) -> bool:
        """Deliver one alert; False when it was given up (refused, or out of attempts). Never
        raises but for cancellation: a bug here must not stop the alerts behind it."""
        # A session per alert: an idle sender holds no connection and needs no closing.
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                ok = await self._deliver(session, alert)
        except Exception as exc:
            log.error("alert webhook: cannot send alert %s: %s", alert.get("id"), exc)
            ok = False
        if ok:
            self.delivered += 1
        else:
            self.given_up += 1
        return ok

    async def _deliver(self, session: aiohttp.ClientSession, alert: Mapping[str, Any]) -> bool:
        body = json.dumps({**alert, "text": slack_text(alert)}, ensure_ascii=False).encode()
        alert_id = str(alert.get("id", ""))
        secret = self.config.secret.reveal()
        delays = [*self.config.delays(), None]
        for attempt, delay in enumerate(delays, start=1):
            timestamp = str(int(self._clock()))
            headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: alert_id,
                       TIMESTAMP_HEADER: timestamp}
            if secret:
                headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
            self.posts += 1
            try:
                async with session.post(self.config.url, data=body, headers=headers) as resp:
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if status < 300:
                    return True
                if status < 500 and status not in RETRY_STATUSES:
                    log.error("alert webhook %s refused alert %s with HTTP %d; not retrying "
                              "(check SENTISTREAM_ALERT_WEBHOOK_URL and _SECRET)",
                              _where(self.config.url), alert_id, status)
                    return False
                problem = f"HTTP {status}"
                asked = retry_after_s(retry_after, self._clock())
                if asked is not None and delay is not None:
                    # At least what the webhook asks (a rate limiter hit again at once only
                    # refuses again), at most the cap: the bound of one alert holds.
                    delay = min(max(delay, asked), self.config.backoff_max_s)
                    problem += f", Retry-After {str(retry_after)[:40]!r}"
            if delay is None:
                log.error("alert webhook %s: gave up alert %s after %d attempts (%s)",
                          _where(self.config.url), alert_id, attempt, problem)
                return False
            log.warning("alert webhook %s: attempt %d for alert %s failed (%s); retrying in "
                        "%.1fs", _where(self.config.url), attempt, alert_id, problem, delay)
            await asyncio.sleep(delay)
        return False
