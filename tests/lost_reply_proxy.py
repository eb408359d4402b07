"""A TCP proxy in front of the test Redis that loses one reply, the way a network cut does.

It forwards both ways, until a request that contains ``marker`` passes while the proxy is armed:
that request reaches Redis and runs, but its reply is thrown away and both connections are cut.
The client sees a connection error for a command that was applied, which is what a dropped
connection, a killed load balancer or a client timeout looks like from the worker's side.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class LostReplyProxy:
    def __init__(self, redis_url: str, marker: bytes) -> None:
        parts = urlsplit(redis_url)
        self._url_parts = parts
        self._target = (parts.hostname or "localhost", parts.port or 6379)
        self.marker = marker
        self.armed = False
        self.lost = 0  # replies thrown away
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LostReplyProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        """The Redis URL through the proxy (same credentials and database)."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._url_parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{port}"
        return urlunsplit(self._url_parts._replace(
            netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        lose_next_reply = asyncio.Event()

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if self.armed and self.marker in data:
                    self.armed = False
                    lose_next_reply.set()  # before Redis can answer it
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if lose_next_reply.is_set():
                    self.lost += 1
                    return
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (client_w, server_w):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
