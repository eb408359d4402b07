"""The order of a worker's batch writes: Redis one batch at a time, acks in fetch order.

A batch's writes are its Redis round trip (the aggregates, exactly once, deduplicated by the
offsets stored with them: so batches must reach Redis one at a time and in fetch order) and
what follows it: the broker's acks of its scored and dead-letter records and the live
announcement. Only the Redis part has to be in order, so the next batch's Redis write starts as
soon as this one's returns instead of after the broker's acks and the announcement too (at
2,000 posts/s those were ~5-10 ms of each batch's wait, README "Throughput of one worker").
Acks stay in fetch order and each comes only after all of its batch's writes and after the
batch before it was acked: Faust commits an offset only once every offset before it is acked,
and a batch whose writes fail is never acked (its records come again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# Runs a batch's Redis writes; returns what is left of its writes (awaited before its ack).
RedisPart = Callable[[], Awaitable[Awaitable[None]]]


class WriteChain:
    def __init__(self) -> None:
        self._redis_done: asyncio.Future[None] | None = None  # the last batch's Redis part
        self._last: asyncio.Future[None] | None = None  # the last batch's writes and ack
        self._pending: set[asyncio.Future[None]] = set()

    async def ready(self) -> None:
        """Until the previous batch's Redis writes are done; raises their error if they failed.
        Cancelling the caller leaves them running (``cancel`` stops them)."""
        if self._redis_done is not None:
            await asyncio.shield(self._redis_done)

    def start(self, redis_part: RedisPart, ack: Callable[[], None]) -> asyncio.Future[None]:
        """Starts a batch's writes (call after ``ready``): ``ack`` runs once they are all done
        and every batch started before it was acked. The returned future fails if they do."""
        redis_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        before = self._last

        async def run() -> None:
            try:
                rest = await redis_part()
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    redis_done.cancel()
                elif not redis_done.done():
                    redis_done.set_exception(exc)
                    redis_done.exception()  # retrieved here: the task raises it too
                raise
            redis_done.set_result(None)
            await rest
            if before is not None:
                await asyncio.shield(before)  # acks in fetch order; raises if it failed
            ack()

        task = asyncio.ensure_future(run())
        self._redis_done, self._last = redis_done, task
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    def cancel(self) -> None:
        """Stops every batch's writes still under way: those batches stay unacked."""
        for task in list(self._pending):
            task.cancel()
        if self._redis_done is not None and not self._redis_done.done():
            self._redis_done.cancel()
