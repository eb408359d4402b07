"""GET /api/live: Server-Sent Events of the hub's frames, one stream per client, within bounds.

Events: ``hello`` on connect, ``update`` per applied batch, ``alert`` per new alerts, ``resync``
when the missed events cannot all be resent (re-read the aggregates), and a comment every
HEARTBEAT_S so proxies keep the connection. See stream/readers/api/live.py for the limits.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from stream.readers.api.appkeys import HUB, READER
from stream.readers.api.live import Frame, LiveHub, Subscriber, parse_stream_id
from stream.readers.query.params import parse_brand

HEARTBEAT_S = 15.0
HELLO = b"retry: 2000\nevent: hello\ndata: {}\n\n"
KEEP_ALIVE = b": keep-alive\n\n"


class _Writer:
    """Writes to one client; a write that takes write_timeout_s marks the client stalled."""

    def __init__(self, response: web.StreamResponse, hub: LiveHub, sub: Subscriber) -> None:
        self.response, self.hub, self.sub = response, hub, sub

    async def __call__(self, data: bytes) -> None:
        timeout = self.hub.limits.write_timeout_s
        try:
            await asyncio.wait_for(self.response.write(data), timeout)
        except TimeoutError:
            self.hub.stalled(self.sub, f"one write took over {timeout:g} s (it stopped reading)",
                             "write_timeout")
            raise ConnectionResetError("stalled client") from None


async def live(request: web.Request) -> web.StreamResponse:
    brand = request.query.get("brand") or None
    if brand is not None:
        brand = parse_brand(brand)
        await request.app[READER].require_brand(brand)
    hub = request.app[HUB]
    transport = request.transport

    def abort() -> None:  # cuts a stalled client even while a write of it waits to drain
        if transport is not None:
            transport.abort()

    sub = hub.subscribe(request.remote or "unknown", brand, abort)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        write = _Writer(response, hub, sub)
        await write(HELLO)
        # Live frames queue from the moment of subscribing; those the replay already sent are
        # skipped by id.
        sent_up_to = parse_stream_id(request.headers.get("Last-Event-ID"))
        if sent_up_to is not None:
            async for data in hub.replay(sent_up_to, brand):
                await write(data)
                sent_up_to = _frame_id(data) or sent_up_to
        while True:
            frame: Frame | None = await sub.next(HEARTBEAT_S)
            if sub.dropped is not None:
                break
            if frame is None:
                await write(KEEP_ALIVE)
            elif sent_up_to is None or (parse_stream_id(frame.id) or (0, 0)) > sent_up_to:
                await write(frame.data)
    except ConnectionError:
        pass  # the client left, or was dropped as stalled
    finally:
        hub.unsubscribe(sub)
    return response


def _frame_id(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"id: "):
        return None
    return parse_stream_id(data[4:data.index(b"\n")].decode("ascii", "replace"))
