"""The aiohttp application: routes, validation, errors as JSON, optional bearer token."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from sentistream.settings import Settings
from stream.api.live import Event, LiveHub
from stream.api.openapi import openapi_document
from stream.keys import KeyScheme
from stream.query.errors import BadParameterError, QueryError
from stream.query.params import parse_range, parse_time, parse_window
from stream.query.reader import DEFAULT_PAGE, MAX_PAGE, Reader, connect

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READER = web.AppKey("reader", Reader)
HUB = web.AppKey("hub", LiveHub)
SETTINGS = web.AppKey("settings", Settings)
HEARTBEAT_S = 15.0
# Paths anyone may fetch: the page itself holds no data, and monitors need /health.
PUBLIC = ("/", "/health", "/openapi.json", "/static/")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message, "status": status}, status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure is a JSON body with a message that says what to change."""
    try:
        return await handler(request)
    except QueryError as exc:
        return _error(exc.http_status, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return _error(exc.status, exc.reason)
        raise


def token_auth(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC or path.startswith("/static/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        # EventSource cannot send headers, so the SSE stream also takes ?token=.
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response(
                {"error": "missing or wrong token: send 'Authorization: Bearer <token>' "
                          "(the value of SENTISTREAM_API_TOKEN)", "status": 401},
                status=401, headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)
    return auth


def _reader(request: web.Request) -> Reader:
    return request.app[READER]


def _end(request: web.Request) -> float:
    at = request.query.get("at")
    return parse_time(at) if at else time.time()


def _brand(request: web.Request) -> str:
    brand = request.query.get("brand", "")
    if not brand.strip():
        raise BadParameterError("the 'brand' query parameter is required")
    return brand


def _limit(request: web.Request, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadParameterError(f"bad limit {raw!r}: use a whole number from 1 to {most}")
    return int(raw)


async def health(request: web.Request) -> web.Response:
    try:
        await _reader(request).ping()
    except QueryError as exc:
        return _json({"status": "unavailable", "redis": False, "error": str(exc)}, 503)
    return _json({"status": "ok", "redis": True,
                  "live_clients": len(request.app[HUB].subscribers)})


def _offset(request: web.Request) -> int:
    raw = request.query.get("offset", "0")
    if not raw.isdigit() or len(raw) > 9:
        raise BadParameterError(f"bad offset {raw!r}: use a whole number from 0 (the "
                                "next_offset of the previous page)")
    return int(raw)


async def brands(request: web.Request) -> web.Response:
    """One page of the busiest brands of the window (``limit``, ``offset``)."""
    window = parse_window(request.query.get("window", "15m"))
    page = await _reader(request).brand_page(window, _end(request),
                                             _limit(request, DEFAULT_PAGE, MAX_PAGE),
                                             _offset(request))
    return _json({"window": window.text, "brands": [r.to_json() for r in page.rows],
                  "total": page.total, "offset": page.offset, "limit": page.limit,
                  "next_offset": page.next_offset})


async def query(request: web.Request) -> web.Response:
    window = parse_window(request.query.get("window", "15m"))
    return _json(await _reader(request).summary(_brand(request), window, _end(request)))


async def timeline(request: web.Request) -> web.Response:
    q = request.query
    trange = parse_range(q.get("resolution", "1m"), q.get("from"), q.get("to"))
    buckets = await _reader(request).timeline(_brand(request), trange)
    return _json({"brand": q["brand"], "resolution": q.get("resolution", "1m"),
                  "buckets": buckets})


async def top(request: web.Request) -> web.Response:
    window = parse_window(request.query.get("window", "1h"))
    posts = await _reader(request).top(_brand(request), window, _end(request),
                                       _limit(request, 5, 100))
    return _json({"brand": request.query["brand"], "window": window.text, **posts})


async def alerts(request: web.Request) -> web.Response:
    since = request.query.get("since")
    rows = await _reader(request).alerts(request.query.get("brand") or None,
                                         _limit(request, 50, 1000),
                                         parse_time(since) if since else None)
    return _json({"alerts": rows})


async def live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one event per announcement (``update``) or new alerts (``alert``)."""
    brand = request.query.get("brand") or None
    if brand is not None:
        await _reader(request).require_brand(brand)
    hub = request.app[HUB]
    queue = hub.subscribe()
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        last_id = request.headers.get("Last-Event-ID")
        if last_id:
            for old in await hub.missed(last_id):
                if old.touches(brand):
                    await response.write(old.encode())
        while True:
            event: Event | None
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")  # proxies drop silent connections
                continue
            if event is None:  # the server is shutting down
                break
            if event.touches(brand):
                await response.write(event.encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def static_dir() -> Path:
    return Path(str(resources.files("stream").joinpath("static")))


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html",
                            headers={"Cache-Control": "no-cache"})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(bool(request.app[SETTINGS].api_token)))


def build_app(settings: Settings) -> web.Application:
    middlewares: list[Any] = [errors]
    if settings.api_token:
        middlewares.append(token_auth(settings.api_token.reveal()))
    app = web.Application(middlewares=middlewares)
    app[SETTINGS] = settings
    keys = KeyScheme(settings.redis_prefix)
    client = connect(settings)
    app[READER] = Reader(client, keys)
    # The hub's blocking XREAD holds a connection of its own for as long as the server runs.
    live_client = connect(settings)
    app[HUB] = LiveHub(live_client, keys.live)

    async def startup(app: web.Application) -> None:
        app[HUB].start()

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
    app.router.add_get("/api/alerts", alerts)
    app.router.add_get("/api/live", live)
    app.router.add_static("/static/", static_dir(), append_version=False)
    return app
