"""The aiohttp application: routes, validation, errors as JSON, token, live stream."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from sentistream.settings import Settings
from stream.readers.api import security
from stream.readers.api.appkeys import HUB, METRICS, READER, SETTINGS, TICKETS
from stream.readers.api.errors import LiveLimitError
from stream.readers.api.live import LiveHub, LiveLimits, Throttled
from stream.readers.api.metrics import ApiMetrics
from stream.readers.api.openapi import openapi_document
from stream.readers.api.sse import live
from stream.readers.api.tickets import Tickets
from stream.readers.query.errors import QueryError
from stream.readers.query.params import (
    parse_brand,
    parse_lang,
    parse_limit,
    parse_offset,
    parse_range,
    parse_time,
    parse_why_window,
    parse_window,
)
from stream.readers.query.reader import DEFAULT_PAGE, MAX_PAGE, Reader, connect
from stream.schema.keys import KeyScheme

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)
_warn = Throttled(log)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return security.error_response(status, message, headers)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure is a JSON body with a message that says what to change; never a traceback."""
    try:
        return await handler(request)
    except LiveLimitError as exc:
        return _error(exc.http_status, str(exc), {"Retry-After": str(exc.retry_after_s)})
    except QueryError as exc:
        return _error(exc.http_status, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return _error(exc.status, exc.reason, allow)
        raise
    except ConnectionError:
        raise  # the client went away: nothing to answer
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return _error(500, "internal error (the server log has the details)")


def _reader(request: web.Request) -> Reader:
    return request.app[READER]


def _end(request: web.Request) -> float:
    at = request.query.get("at")
    return parse_time(at) if at else time.time()


def _brand(request: web.Request) -> str:
    return parse_brand(request.query.get("brand"))


def _lang(request: web.Request) -> str | None:
    return parse_lang(request.query.get("lang"))


def _limit(request: web.Request, default: int, most: int) -> int:
    return parse_limit(request.query.get("limit"), default, most)


async def health(request: web.Request) -> web.Response:
    """Public, so it says ok or not and nothing else (no addresses, no counts)."""
    try:
        await _reader(request).ping()
    except QueryError as exc:
        _warn.warning("health", "health check: %s", exc)
        return _json({"status": "unavailable"}, 503)
    return _json({"status": "ok"})


async def brands(request: web.Request) -> web.Response:
    """One page of the busiest brands of the window (``limit``, ``offset``)."""
    window = parse_window(request.query.get("window", "15m"))
    page = await _reader(request).brand_page(window, _end(request),
                                             _limit(request, DEFAULT_PAGE, MAX_PAGE),
                                             parse_offset(request.query.get("offset")),
                                             _lang(request))
    return _json({"window": window.text, "brands": [r.to_json() for r in page.rows],
                  "total": page.total, "offset": page.offset, "limit": page.limit,
                  "next_offset": page.next_offset})


async def query(request: web.Request) -> web.Response:
    window = parse_window(request.query.get("window", "15m"))
    return _json(await _reader(request).summary(_brand(request), window, _end(request),
                                                _lang(request)))


async def timeline(request: web.Request) -> web.Response:
    q = request.query
    trange = parse_range(q.get("resolution", "1m"), q.get("from"), q.get("to"))
    buckets = await _reader(request).timeline(_brand(request), trange, _lang(request))
    return _json({"brand": q["brand"], "resolution": q.get("resolution", "1m"),
                  "buckets": buckets})


async def top(request: web.Request) -> web.Response:
    window = parse_window(request.query.get("window", "1h"))
    posts = await _reader(request).top(_brand(request), window, _end(request),
                                       _limit(request, 5, 100))
    return _json({"brand": request.query["brand"], "window": window.text, **posts})


async def why(request: web.Request) -> web.Response:
    """The brand's driver terms over the window, with example posts (``stream.drivers.why``)."""
    window = parse_why_window(request.query.get("window", "1h"))
    settings = request.app[SETTINGS]
    return _json(await _reader(request).why(_brand(request), window, _end(request),
                                            settings.why_baseline_days, settings.why_terms))


async def alerts(request: web.Request) -> web.Response:
    since, brand = request.query.get("since"), request.query.get("brand")
    rows = await _reader(request).alerts(parse_brand(brand) if brand else None,
                                         _limit(request, 50, 1000),
                                         parse_time(since) if since else None)
    return _json({"alerts": rows})


async def live_ticket(request: web.Request) -> web.Response:
    """A short-lived ticket that opens /api/live (for EventSource, which cannot send headers)."""
    tickets = request.app[TICKETS]
    return _json({"ticket": tickets.issue(), "expires_in": tickets.ttl_s})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(),
                        content_type="text/plain", charset="utf-8")


def static_dir() -> Path:
    return Path(str(resources.files("stream.readers").joinpath("dashboard")))


def static_files() -> dict[str, Path]:
    """The dashboard's files by URL name, listed once: nothing else under /static/ is served."""
    root = static_dir()
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def static_handler(files: dict[str, Path]) -> Handler:
    # aiohttp's add_static answers a missing file with an empty octet-stream 404 of its own,
    # past the middlewares; a lookup in a fixed table gives a JSON 404 and no path to traverse.
    async def static(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
    return static


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html",
                            headers={"Cache-Control": "no-cache"})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(bool(request.app[SETTINGS].api_token)))


def build_app(settings: Settings) -> web.Application:
    token = settings.api_token.reveal() if settings.api_token else ""
    tickets = Tickets.for_token(token, settings.api_ticket_ttl_s)
    middlewares: list[Any] = [errors, security.host_check(security.allowed_hosts(settings))]
    if token:
        middlewares.append(security.token_auth(token, tickets))
    app = web.Application(middlewares=middlewares)
    app.on_response_prepare.append(security.security_headers)
    app[SETTINGS] = settings
    app[TICKETS] = tickets
    app[METRICS] = api_metrics = ApiMetrics()
    keys = KeyScheme(settings.redis_prefix)
    client = connect(settings)
    app[READER] = Reader(client, keys, settings.count_reposts)
    # The hub's blocking XREAD holds a connection of its own for as long as the server runs;
    # it reads raw bytes (orjson parses them without a decode step).
    live_client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=3,
                                          health_check_interval=30)
    app[HUB] = LiveHub(live_client, keys.live, LiveLimits.from_settings(settings), api_metrics)

    async def startup(app: web.Application) -> None:
        await app[HUB].start()

    async def shutdown(app: web.Application) -> None:
        await app[HUB].stop()

    async def cleanup(app: web.Application) -> None:
        await client.aclose()
        await live_client.aclose()

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/api/brands", brands)
    app.router.add_get("/api/query", query)
    app.router.add_get("/api/timeline", timeline)
    app.router.add_get("/api/top", top)
    app.router.add_get("/api/why", why)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_get("/api/live", live)
    app.router.add_post("/api/live/ticket", live_ticket)
    app.router.add_get("/api/metrics", metrics)
    app.router.add_get("/static/{name:.+}", static_handler(static_files()))
    return app
