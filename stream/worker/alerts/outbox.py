"""The webhook's queue, kept in Redis: every new alert is delivered even when its worker is not.

The alert save script (``stream.worker.alerts.store``) appends each alert that is new to the
outbox stream ``{<prefix>}:alerts:outbox``, in the same script that stores it. Workers read the
stream in one consumer group (``webhook``), POST each alert (``WebhookSender``), and then
acknowledge and delete it. So:

* an alert whose save was applied but whose reply was lost (a cut connection, a client timeout)
  is in the outbox all the same; the retried save finds it stored and queues nothing twice;
* an alert read by a worker that stopped before it was delivered stays pending in the group.
  After ``claim_after_s`` (the longest one alert can hold a sender, plus a margin: 185 s with the
  defaults) of no progress, any worker of the group claims it (XAUTOCLAIM) and posts it. It is
  posted again only if its first worker had posted it but stopped before acknowledging it; the
  ``Idempotency-Key`` header lets the receiver drop that second copy;
* the group hands each entry to one worker, so workers never post the same alert side by side.

When a worker looks: at once after it saved new alerts or a failed check went through, and
otherwise on a batch at most every
``POLL_S`` (to take over another worker's). Bounds: the stream holds at most
``SENTISTREAM_ALERT_WEBHOOK_QUEUE`` alerts (the save script drops the oldest beyond it, and says
so); a pass reads ``READ_COUNT`` at a time; consumers with nothing pending that have been idle
for ``FORGET_CONSUMER_S`` are removed, so the group's consumer list is bounded by the workers
started in that time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from stream.schema.keys import KeyScheme
from stream.worker.alerts.webhook import WebhookSender

log = logging.getLogger(__name__)
GROUP = "webhook"
POLL_S = 5.0
READ_COUNT = 10
CLAIM_MARGIN_S = 5.0
FORGET_CONSUMER_S = 3600.0

Entry = tuple[bytes, Mapping[bytes, bytes]]


class AlertOutbox:
    """One worker's consumer of the outbox (see the module docstring)."""

    def __init__(self, client: aioredis.Redis, keys: KeyScheme, sender: WebhookSender,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.key = keys.alert_outbox
        self.sender = sender
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.claim_after_s = sender.config.longest_send_s + CLAIM_MARGIN_S
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._again = False  # new alerts were saved while a pass was running
        self._last_pass = -float("inf")
        self._forgot_at = -float("inf")
        self._in_group = False  # made (or found) the group; reset when Redis says NOGROUP

    def saved(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """This worker saved new alerts: deliver them now (never waits)."""
        if alerts:
            self._start(now=True)

    def look_now(self) -> None:
        """Deliver what waits now: after a save whose reply may have been lost (never waits)."""
        self._start(now=True)

    def poll(self) -> None:
        """Look for alerts left by a stopped worker, at most every POLL_S (never waits)."""
        self._start(now=False)

    async def idle(self) -> None:
        """Wait until the running pass is done (tests, orderly shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop delivering. What this worker had read and not delivered stays pending in the
        group; another worker (or this one, started again) claims it after claim_after_s."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _start(self, now: bool) -> None:
        if self._task is not None and not self._task.done():
            self._again = self._again or now
            return
        if not now and self._clock() - self._last_pass < POLL_S:
            return
        self._last_pass = self._clock()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._deliver_waiting()
            except RedisError as exc:  # they stay in the outbox: the next pass delivers them
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._in_group = False  # the stream was deleted: the group is made again
                log.warning("alert webhook: cannot read its outbox %s (%s); retrying on a later "
                            "batch", self.key, exc)
                return
            except Exception as exc:  # a bug here must not take the worker down
                log.error("alert webhook: delivery from %s failed: %r", self.key, exc)
                return
            if not self._again:
                return

    async def _deliver_waiting(self) -> None:
        await self._join_group()
        while entries := await self._claim_stale() or await self._read_new():
            for entry_id, fields in entries:
                alert = _alert_of(entry_id, fields)
                if alert is not None:
                    await self.sender.send(alert)  # delivered or given up: done with it
                # No MULTI needed: either step alone is harmless, an acked entry is never read
                # again and a deleted one leaves the group's pending list on the next claim.
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.xack(self.key, GROUP, entry_id)
                    pipe.xdel(self.key, entry_id)
                    await pipe.execute()

    async def _join_group(self) -> None:
        """Make the group (from the stream's start: alerts saved before any worker looked are
        in it) and forget long-idle consumers with nothing pending, hourly."""
        if not self._in_group:
            try:
                await self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._in_group = True
        if self._clock() - self._forgot_at < FORGET_CONSUMER_S:
            return
        self._forgot_at = self._clock()
        for consumer in await self.client.xinfo_consumers(self.key, GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if (name != self.consumer and int(consumer["pending"]) == 0
                    and int(consumer["idle"]) > FORGET_CONSUMER_S * 1000):
                await self.client.xgroup_delconsumer(self.key, GROUP, name)

    async def _claim_stale(self) -> list[Entry]:
        """Alerts another worker read and has not delivered for claim_after_s: ours now."""
        reply = await self.client.xautoclaim(self.key, GROUP, self.consumer,
                                             int(self.claim_after_s * 1000), "0-0",
                                             count=READ_COUNT)
        return _entries(reply[1])

    async def _read_new(self) -> list[Entry]:
        reply = await self.client.xreadgroup(GROUP, self.consumer, {self.key: ">"},
                                             count=READ_COUNT)
        streams: Any = reply or []  # [(stream name, entries)]; redis-py types replies loosely
        return [e for _, entries in streams for e in _entries(entries)]


def _entries(reply: Any) -> list[Entry]:
    """Stream entries as redis-py parses them: (id, fields), fields None for a deleted one."""
    return [(i, f) for i, f in reply if f is not None]


def _alert_of(entry_id: bytes, fields: Mapping[bytes, bytes]) -> dict[str, Any] | None:
    """The alert of an outbox entry; None (logged, then dropped) for one that is not ours."""
    try:
        alert = json.loads(fields[b"alert"])
        if isinstance(alert, dict):
            return alert
    except (KeyError, ValueError, RecursionError):  # RecursionError: deeply nested arrays
        pass
    log.error("alert webhook: outbox entry %r is not an alert; dropped", entry_id)
    return None
