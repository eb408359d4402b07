"""The live stream's bounds against the real Redis: stream caps, per-client byte budgets, stalled
clients dropped, oversized announcements compacted, capped replays.

Announcements are written to the live stream with XADD, as the worker's sink writes them, so
their size and pace are the test's to choose.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from sentistream.settings import Settings
from stream.readers.api.app import build_app
from stream.readers.api.appkeys import HUB, METRICS
from stream.schema.keys import KeyScheme
from tests.replies import text

pytestmark = pytest.mark.integration


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def announcement(brands: int, n: int = 1) -> bytes:
    changes = {f"brand-{i:05d}": {"n": n, "neg": 0, "neu": 0, "pos": n, "isum_e6": 5,
                                  "minutes": [1_700_000_000]} for i in range(brands)}
    changes["_all"] = {"n": n * brands, "neg": 0, "neu": 0, "pos": n * brands, "isum_e6": 5,
                       "minutes": [1_700_000_000]}
    return orjson.dumps({"at": time.time(), "brands": changes})


class Stream:
    """One raw SSE connection: (optionally) never reads, so its socket fills like a stalled tab."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 status: int, body: bytes) -> None:
        self.reader, self.writer, self.status, self.body = reader, writer, status, body

    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1", headers: str = "",
                   small_buffer: bool = False) -> Stream:
        sock = socket.socket()
        if small_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        # A stalled client's own buffer stops taking data almost at once.
        reader, writer = await asyncio.open_connection(
            sock=sock, limit=1024 if small_buffer else 1 << 22)
        writer.write(f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        body = b""
        if status != 200:
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            body = await reader.readexactly(length)
        return cls(reader, writer, status, body)

    async def event(self, timeout_s: float = 10.0) -> tuple[str, str | None, Any]:
        """(event name, id, data) of the next event; chunked framing lines are skipped."""
        name, event_id, data = "", None, None
        deadline = time.monotonic() + timeout_s
        while True:
            line = (await asyncio.wait_for(self.reader.readline(),
                                           max(0.1, deadline - time.monotonic()))).rstrip(b"\r\n")
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"id: "):
                event_id = line[4:].decode()
            elif line.startswith(b"data: "):
                data = json.loads(line[6:])
                return name, event_id, data

    def close(self) -> None:
        self.writer.close()


def metric(api: TestClient[Any, Any], name: str, **labels: str) -> float:
    value = api.app[METRICS].registry.get_sample_value(name, labels or None)
    return float(value or 0.0)


async def test_streams_are_capped_in_total_and_per_client(isolated: Settings) -> None:
    settings = isolated.replace(api_live_max_streams=3, api_live_max_streams_per_client=2)
    async with serving(settings) as api:
        port = api.server.port
        assert port is not None
        first = [await Stream.open(port) for _ in range(2)]
        assert [s.status for s in first] == [200, 200]
        third = await Stream.open(port)
        assert third.status == 429 and b"from your address (2)" in third.body
        other = await Stream.open(port, source="127.0.0.2")
        assert other.status == 200  # another address has its own allowance
        full = await Stream.open(port, source="127.0.0.3")
        assert full.status == 503 and b"too many live streams open on this server" in full.body
        assert json.loads(full.body)["status"] == 503
        assert metric(api, "sentistream_api_live_rejected_total", reason="client_full") == 1
        assert metric(api, "sentistream_api_live_rejected_total", reason="server_full") == 1
        first[0].close()
        deadline = time.monotonic() + 20  # the server notices at its next write (a heartbeat)
        while len(api.app[HUB].subscribers) > 2 and time.monotonic() < deadline:
            api.app[HUB].publish(_frame())  # a write makes the server see the closed socket
            await asyncio.sleep(0.1)
        again = await Stream.open(port)
        assert again.status == 200  # a closed stream gives its place back
        for s in (*first[1:], other, again):
            s.close()


def _frame() -> Any:
    from stream.readers.api.live import Frame

    return Frame("1-0", frozenset(), b": nudge\n\n")


async def _pump(stream: Stream, names: list[str], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            name, _, _ = await stream.event(0.5)
        except TimeoutError:
            continue
        names.append(name)


async def test_a_client_that_stops_reading_is_dropped_within_its_byte_budget(
        isolated: Settings) -> None:
    budget = 256 * 1024
    settings = isolated.replace(api_live_queue_bytes=budget, api_live_event_max_bytes=64 * 1024,
                                api_live_write_timeout_s=60.0)
    async with serving(settings) as api, redis_for(settings) as r:
        port = api.server.port
        assert port is not None
        stalled = await Stream.open(port, small_buffer=True)  # reads nothing after the headers
        good = await Stream.open(port, source="127.0.0.2")
        assert (await good.event())[0] == "hello"
        received: list[str] = []
        stop = asyncio.Event()
        reader = asyncio.create_task(_pump(good, received, stop))
        hub = api.app[HUB]
        # The hub starts reading at the stream's end: wait until it reads before counting.
        await r.xadd(KeyScheme(settings.redis_prefix).live, {"data": announcement(1)})
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        received.clear()
        most_queued = 0
        payload = announcement(600)  # ~50 KB: under the event limit, so sent whole
        assert 40_000 < len(payload) < 64 * 1024
        sent = 0
        for _ in range(300):  # 15 MB: more than any socket buffers hold
            await r.xadd(KeyScheme(settings.redis_prefix).live, {"data": payload})
            sent += 1
            await asyncio.sleep(0.01)
            most_queued = max(most_queued, *(s.queued_bytes for s in hub.subscribers))
            if metric(api, "sentistream_api_live_dropped_total", reason="queue_full"):
                break
        deadline = time.monotonic() + 90  # a loaded CI box can take a while to deliver 15 MB
        while received.count("update") < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await reader
        assert metric(api, "sentistream_api_live_dropped_total", reason="queue_full") == 1
        assert most_queued <= budget
        assert len(hub.subscribers) == 1  # the stalled one is gone, its queue freed
        assert received.count("update") == sent  # the good neighbour missed nothing
        assert metric(api, "sentistream_api_live_queued_bytes") <= budget
        stalled.close()
        good.close()


async def test_a_write_that_never_completes_drops_the_client(isolated: Settings) -> None:
    settings = isolated.replace(api_live_queue_bytes=256 * 1024 * 1024,
                                api_live_write_timeout_s=1.0)
    async with serving(settings) as api, redis_for(settings) as r:
        port = api.server.port
        assert port is not None
        stalled = await Stream.open(port, small_buffer=True)
        payload = announcement(400)
        deadline = time.monotonic() + 60
        while not metric(api, "sentistream_api_live_dropped_total", reason="write_timeout"):
            assert time.monotonic() < deadline, "the stalled client was never dropped"
            await r.xadd(KeyScheme(settings.redis_prefix).live, {"data": payload})
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert not api.app[HUB].subscribers
        stalled.close()


async def test_oversized_announcements_arrive_as_a_compact_hint(isolated: Settings) -> None:
    settings = isolated.replace(api_live_event_max_bytes=16 * 1024)
    async with serving(settings) as api, redis_for(settings) as r:
        port = api.server.port
        assert port is not None
        stream = await Stream.open(port)
        assert (await stream.event())[0] == "hello"
        big = announcement(20_000, n=2)  # ~1.6 MB
        assert len(big) > 1_500_000
        await r.xadd(KeyScheme(settings.redis_prefix).live, {"data": big})
        await r.xadd(KeyScheme(settings.redis_prefix).live, {"data": announcement(3)})
        name, _, data = await stream.event()
        assert name == "update" and data["truncated"] is True
        assert data["brands"] == {"_all": {"n": 40_000, "neg": 0, "neu": 0, "pos": 40_000,
                                           "isum_e6": 5}}
        assert data["brands_changed"] == 20_001
        assert len(orjson.dumps(data)) < 16 * 1024
        name, _, data = await stream.event()
        assert name == "update" and "truncated" not in data and len(data["brands"]) == 4
        assert metric(api, "sentistream_api_live_compacted_total") == 1
        stream.close()


async def test_a_replay_is_capped_and_then_asks_for_a_resync(isolated: Settings) -> None:
    settings = isolated.replace(api_live_replay_max=10)
    live = KeyScheme(settings.redis_prefix).live
    async with serving(settings) as api, redis_for(settings) as r:
        port = api.server.port
        assert port is not None
        ids = [text(await r.xadd(live, {"data": announcement(2, n=i)})) for i in range(30)]
        # Few missed events: all of them, in order, then live.
        near = await Stream.open(port, headers=f"Last-Event-ID: {ids[25]}\r\n")
        assert (await near.event())[0] == "hello"
        assert [(await near.event())[1] for _ in range(4)] == ids[26:]
        # More than replay_max missed: the first 10, then a resync that moves the id to the end.
        far = await Stream.open(port, headers=f"Last-Event-ID: {ids[0]}\r\n")
        assert (await far.event())[0] == "hello"
        assert [(await far.event())[1] for _ in range(10)] == ids[1:11]
        name, event_id, data = await far.event()
        assert name == "resync" and event_id == ids[-1] and "more than 10" in data["reason"]
        # From before the stream's first entry (0-0, or trimmed away): a resync at once.
        ancient = await Stream.open(port, headers="Last-Event-ID: 0-0\r\n")
        assert (await ancient.event())[0] == "hello"
        name, event_id, _ = await ancient.event()
        assert name == "resync" and event_id == ids[-1]
        newer = text(await r.xadd(live, {"data": announcement(2)}))
        for stream in (near, far, ancient):
            assert (await stream.event())[1] == newer  # live again, nothing sent twice
            stream.close()
        assert metric(api, "sentistream_api_live_resyncs_total") == 2
        # Garbage ids are ignored: the stream just goes live.
        junk = await Stream.open(port, headers="Last-Event-ID: x\udc80y\r\n".encode(
            "utf-8", "surrogateescape").decode("latin-1"))
        assert junk.status == 200 and (await junk.event())[0] == "hello"
        junk.close()
