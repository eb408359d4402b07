"""The live announcements, each sent with the next batch's Redis writes.

Every batch applied to Redis is announced to live readers (an XADD to the live stream and a
PUBLISH, ``stream.schema.live``). With ``appendfsync always`` Redis fsyncs once per pass of its
event loop, so an announcement in a round trip of its own cost a second fsync per batch (~7-10 ms
of each batch at 2,000 posts/s, README "Throughput of one worker"), and the next batch's write
queued behind it on Redis's one thread. Here a batch's announcement waits for the next batch's
write and goes in that pipeline, after its scripts: one round trip and one fsync for both. When
no batch write starts within ``flush_after_s`` (a quiet stream, or the next write waiting), it
is sent alone, as before.

An announcement is a hint to re-read, not a ledger: one that fails alone is logged and dropped,
and one whose carrying write fails is put back and goes with the write's retry (or alone). A
batch is acked once its announcement was sent or given up, as before; only live readers see it
up to one batch later. The aggregates themselves never wait for an announcement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)
FLUSH_AFTER_S = 0.05  # about three batch cycles at 2,000 posts/s

# Sends announcements on their own, in one round trip: (payloads) -> done.
SendAlone = Callable[[Sequence[bytes]], Awaitable[None]]


class Announcer:
    def __init__(self, send_alone: SendAlone, flush_after_s: float = FLUSH_AFTER_S) -> None:
        self.send_alone = send_alone
        self.flush_after_s = flush_after_s
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    def offer(self, payload: bytes) -> asyncio.Future[None]:
        """Queue an announcement; the future is done once it was sent (or given up)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((payload, done))
        self._arm()
        return done

    def take(self) -> list[tuple[bytes, asyncio.Future[None]]]:
        """The queued announcements, for a batch write's pipeline: ``sent`` them after it
        succeeded, ``give_back`` if it failed."""
        taken, self._pending = self._pending, []
        self._disarm()
        return taken

    @staticmethod
    def sent(taken: Sequence[tuple[bytes, asyncio.Future[None]]]) -> None:
        for _, done in taken:
            if not done.done():
                done.set_result(None)

    def give_back(self, taken: Sequence[tuple[bytes, asyncio.Future[None]]]) -> None:
        self._pending[:0] = taken  # first: announcements stay in batch order
        if self._pending:
            self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_after_s, self._flush)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self) -> None:
        self._timer = None
        taken = self.take()
        if taken:
            task = asyncio.ensure_future(self._send(taken))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _send(self, taken: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        try:
            await self.send_alone([payload for payload, _ in taken])
        except Exception as exc:  # announcements are hints; the data is already safe
            log.warning("live announcement failed: %s", exc)
        self.sent(taken)

    def cancel(self) -> None:
        """Stop the timer and any send alone (shutdown); the batches waiting stay unacked."""
        self._disarm()
        for task in self._flushes:
            task.cancel()
