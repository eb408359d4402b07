"""What stands between a network and the data: Host allow-list, token, headers, quiet logs.

- **Host allow-list** (``api_allowed_hosts``): a page on another site that rebinds its DNS name to
  127.0.0.1 reaches a loopback API with its own name in ``Host``; such requests get a 400.
- **Token** (``api_token``): every ``/api/*`` route needs ``Authorization: Bearer <token>``. The
  token is never read from a URL (URLs land in access logs, browser history and Referer headers);
  only ``/api/live`` also takes a short-lived ``?ticket=`` (stream/readers/api/tickets.py).
- **Headers**: a strict Content-Security-Policy (the dashboard loads only its own files), nosniff,
  no framing, no Referer, and no caching of API answers.
- **Access log**: ticket and token values in query strings are replaced by ``***``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from sentistream.settings import Settings
from stream.readers.api.tickets import Tickets

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
# Paths anyone may fetch: the page itself holds no data, and monitors need /health.
PUBLIC = ("/", "/health", "/openapi.json")
LIVE = "/api/live"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::", "*")
SECRET_PARAMS = ("ticket", "token")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def error_response(status: int, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status,
                             headers=headers)


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """Host names to answer (lower case, no port); None means any (``*``)."""
    names = [n.strip().lower().strip("[]").rstrip(".")
             for n in settings.api_allowed_hosts.split(",") if n.strip()]
    if "*" in names:
        return None
    if not names:
        names = list(LOOPBACK_NAMES)
        if settings.api_host not in WILDCARD_BINDS:
            names.append(settings.api_host.lower().strip("[]"))
    return frozenset(names)


def host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:8000`` -> ``::1``, ``Example.com.:80`` -> ``example.com``.
    """
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def host_check(allowed: frozenset[str] | None) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Host")
        # No Host at all is no browser (browsers always send one), so no DNS rebinding; /health
        # tells nothing, and container probes call it by IP.
        if allowed is None or header is None or request.path == "/health":
            return await handler(request)
        if host_name(header) not in allowed:
            return error_response(
                400, f"this server does not answer to the host name {header[:100]!r}: list it "
                     "in SENTISTREAM_API_ALLOWED_HOSTS (comma-separated, * for any)")
        return await handler(request)
    return check


def _utf8(text: str) -> bytes:
    # aiohttp turns undecodable header bytes into surrogates; they must compare, not crash.
    return text.encode("utf-8", "surrogatepass")


def bearer_ok(request: web.Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(_utf8(given.strip()), token)


def token_auth(token: str, tickets: Tickets) -> Middleware:
    expected = _utf8(token)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC or path.startswith("/static/"):
            return await handler(request)
        if bearer_ok(request, expected):
            return await handler(request)
        if path == LIVE and tickets.valid(request.query.get("ticket", "")):
            return await handler(request)
        if "token" in request.query:
            message = ("the token is never read from the URL (URLs land in logs): send "
                       "'Authorization: Bearer <token>'")
        elif path == LIVE and "ticket" in request.query:
            message = "the ticket is wrong or expired: get a new one from POST /api/live/ticket"
        else:
            message = ("missing or wrong token: send 'Authorization: Bearer <token>' (the value "
                       "of SENTISTREAM_API_TOKEN); an EventSource opens /api/live?ticket=<t>, "
                       "with a ticket from POST /api/live/ticket")
        return error_response(401, message, {"WWW-Authenticate": "Bearer"})
    return auth


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, static files and errors included."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"


def redacted_target(request: web.BaseRequest) -> str:
    """The request target with ticket/token values replaced, for logs."""
    target = request.rel_url.raw_path
    if not request.query_string:
        return target
    pairs = [f"{quote(k, safe='')}={'***' if k.lower() in SECRET_PARAMS else quote(v, safe='')}"
             for k, v in request.query.items()]
    return target + "?" + "&".join(pairs)


class RedactedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line, minus secrets: no ticket or token value is ever written."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %d %.3fs "%s"', request.remote,
                         request.method, redacted_target(request), request.version.major,
                         request.version.minor, response.status, response.body_length, time,
                         request.headers.get("User-Agent", "-")[:200])
