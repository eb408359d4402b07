"""One reader of the Redis live stream, fanned out to every SSE client.

A single task blocks on ``XREAD`` (no polling) and hands each announcement to the subscribers'
queues, so a hundred open dashboards cost one Redis connection. Stream entry ids become SSE event
ids: a browser that reconnects sends ``Last-Event-ID`` and gets what it missed from ``XRANGE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
QUEUE_SIZE = 256
REPLAY_MAX = 500
# XREAD returns the moment an entry arrives; the block only bounds how long shutdown waits
# (cancelling a blocked redis-py read takes seconds instead).
BLOCK_MS = 1000


@dataclass(frozen=True)
class Event:
    id: str
    payload: dict[str, Any]

    @property
    def kind(self) -> str:
        return "alert" if self.payload.get("alerts") else "update"

    def touches(self, brand: str | None) -> bool:
        if brand is None:
            return True
        return brand in self.payload.get("brands", {}) or any(
            a.get("brand") == brand for a in self.payload.get("alerts", []))

    def encode(self) -> bytes:
        data = json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {data}\n\n".encode()


def _events(entries: Any) -> list[Event]:
    out = []
    for entry_id, fields in entries or []:
        try:
            out.append(Event(str(entry_id), json.loads(fields["data"])))
        except (KeyError, ValueError):
            log.warning("ignoring a malformed live entry %s", entry_id)
    return out


class LiveHub:
    """Reads the live stream once and fans it out; subscribers get an asyncio.Queue each."""

    def __init__(self, client: aioredis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream
        self.subscribers: set[asyncio.Queue[Event | None]] = set()
        self.delivered = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        """Stop reading and tell every subscriber (None) so open streams end at once."""
        self._stopping = True
        for queue in list(self.subscribers):
            self._put(queue, None)
        if self._task is not None:
            # The read loop sees the flag within one BLOCK_MS.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, 2 * BLOCK_MS / 1000)

    def subscribe(self) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self.subscribers.discard(queue)

    async def missed(self, last_id: str) -> list[Event]:
        """Entries after ``last_id`` (a reconnecting client's Last-Event-ID)."""
        try:
            entries = await self.client.xrange(self.stream, f"({last_id}", "+", count=REPLAY_MAX)
        except RedisError:
            return []  # a malformed or expired id: the client just continues live
        return _events(entries)

    def _publish(self, event: Event) -> None:
        for queue in list(self.subscribers):
            self._put(queue, event)
        self.delivered += 1

    @staticmethod
    def _put(queue: asyncio.Queue[Event | None], item: Event | None) -> None:
        if queue.full():  # a stalled client loses its oldest update, never blocks others
            queue.get_nowait()
        queue.put_nowait(item)

    async def _run(self) -> None:
        last = "$"
        while not self._stopping:
            try:
                reply = await self.client.xread({self.stream: last}, block=BLOCK_MS, count=100)
            except RedisError as exc:
                # redis-py may turn the cancellation of a blocked read into a timeout error.
                if self._stopping:
                    return
                log.warning("live stream read failed (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            streams: Any = reply or []
            for _, entries in streams:
                for event in _events(entries):
                    last = event.id
                    self._publish(event)
