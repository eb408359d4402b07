"""One reader of the Redis live stream, fanned out to every SSE client, within fixed bounds.

A single task blocks on ``XREAD`` (no polling) and turns each announcement into a ``Frame``: the
SSE bytes, encoded once and shared by every client queue it goes to. Stream entry ids become SSE
event ids: a browser that reconnects sends ``Last-Event-ID`` and gets what it missed.

Whatever a client or an announcement does, memory stays bounded (settings ``api_live_*``):
- streams are capped in total and per client address (``LiveLimitError``: 503 / 429);
- an announcement whose frame exceeds ``event_max_bytes`` is sent as a compact ``truncated`` hint
  (the posts total and the time; clients re-read the aggregates anyway);
- a client's queue holds at most ``queue_bytes``: a client past it has stopped reading, and is
  dropped (its connection aborted), as is one whose single write takes ``write_timeout_s``;
- a replay from ``Last-Event-ID`` reads pages of ``REPLAY_PAGE`` entries and sends at most
  ``replay_max``; past that, or from an id older than the stream keeps, the client gets a
  ``resync`` event (re-read everything) instead of the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sentistream.settings import Settings
from stream.readers.api.errors import TooManyClientStreamsError, TooManyStreamsError
from stream.readers.api.metrics import ApiMetrics
from stream.schema.keys import ALL_BRANDS
from stream.schema.live import Announcement

log = logging.getLogger(__name__)
# XREAD returns the moment an entry arrives; the block only bounds how long shutdown waits
# (cancelling a blocked redis-py read takes seconds instead).
BLOCK_MS = 1000
# Entries per XREAD / XRANGE: what the hub holds at once before frames are built (and compacted).
READ_COUNT = 32
REPLAY_PAGE = 16
_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)

StreamId = tuple[int, int]


def _text(value: Any) -> str:
    """The hub's client does not decode replies (orjson reads bytes): ids come as bytes."""
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def parse_stream_id(text: str | None) -> StreamId | None:
    """A Redis stream id ``ms-seq`` as a comparable pair; None for anything else."""
    match = _STREAM_ID.fullmatch(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class LiveLimits:
    max_streams: int
    max_streams_per_client: int
    queue_bytes: int
    event_max_bytes: int
    replay_max: int
    write_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveLimits:
        return cls(settings.api_live_max_streams, settings.api_live_max_streams_per_client,
                   settings.api_live_queue_bytes, settings.api_live_event_max_bytes,
                   settings.api_live_replay_max, settings.api_live_write_timeout_s)


@dataclass(frozen=True)
class Frame:
    """One SSE event as sent. ``brands`` None: it concerns every brand (a compacted hint)."""

    id: str
    brands: frozenset[str] | None
    data: bytes

    def touches(self, brand: str | None) -> bool:
        return brand is None or self.brands is None or brand in self.brands


def sse(kind: str, payload: Any, event_id: str | None = None) -> bytes:
    """An SSE event; orjson never writes a newline, so one ``data:`` line holds the JSON."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"


def build_frame(entry_id: str, raw: Any, max_bytes: int) -> tuple[Frame, bool] | None:
    """The frame of one stream entry and whether it was compacted; None if it is not ours."""
    announced = Announcement.from_json(raw)
    if announced is None:
        return None
    kind = "alert" if announced.alerts else "update"
    data = sse(kind, announced.to_json(), entry_id)
    if len(data) <= max_bytes:
        brands = set(announced.brands) | {str(a.get("brand")) for a in announced.alerts}
        return Frame(entry_id, frozenset(brands), data), False
    # Parsed, ``_all`` is five numbers: the hint stays small whatever the entry held.
    total = announced.brands.get(ALL_BRANDS)
    compact: dict[str, Any] = {
        "at": announced.at, "truncated": True, "brands_changed": len(announced.brands),
        "alerts_raised": len(announced.alerts),
        "brands": {ALL_BRANDS: total.counts.fields()} if total is not None else {}}
    if announced.alerts:
        compact["alerts"] = []
    return Frame(entry_id, None, sse(kind, compact, entry_id)), True


class Subscriber:
    """One open stream: a queue of frames within a byte budget, and how to cut it off."""

    def __init__(self, client: str, brand: str | None, budget: int,
                 abort: Callable[[], None]) -> None:
        self.client = client
        self.brand = brand
        self.budget = budget
        self.queued_bytes = 0
        self.dropped: str | None = None
        self._abort = abort
        self._frames: deque[Frame] = deque()
        self._ready = asyncio.Event()

    def offer(self, frame: Frame) -> bool:
        """Queue a frame it wants; False when that would pass its budget (it is then dropped)."""
        if self.dropped is not None or not frame.touches(self.brand):
            return True
        if self.queued_bytes + len(frame.data) > self.budget:
            return False
        self._frames.append(frame)
        self.queued_bytes += len(frame.data)
        self._ready.set()
        return True

    def drop(self, reason: str, abort: bool = True) -> None:
        """End the stream: frees the queue and (abort) cuts the connection, even mid-write."""
        if self.dropped is not None:
            return
        self.dropped = reason
        self._frames.clear()
        self.queued_bytes = 0
        self._ready.set()
        if abort:
            self._abort()

    async def next(self, timeout_s: float) -> Frame | None:
        """The next frame, or None after ``timeout_s`` of silence or once dropped."""
        if not self._frames and self.dropped is None:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout_s)
        if self._frames and self.dropped is None:
            frame = self._frames.popleft()
            self.queued_bytes -= len(frame.data)
            return frame
        return None


class Throttled:
    """Logs one line per key at most every ``every_s``, counting what it held back."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def warning(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            self._held[key] += 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        suffix = f" (and {held} more like it in the last {self.every_s:.0f} s)" if held else ""
        self.logger.warning(message + suffix, *args)


class LiveHub:
    """Reads the live stream once and fans it out to the subscribers, within ``LiveLimits``."""

    def __init__(self, client: aioredis.Redis, stream: str, limits: LiveLimits,
                 metrics: ApiMetrics) -> None:
        self.client = client
        self.stream = stream
        self.limits = limits
        self.metrics = metrics
        self.subscribers: set[Subscriber] = set()
        self._per_client: Counter[str] = Counter()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._warn = Throttled(log)
        metrics.live_queued_bytes.set_function(
            lambda: sum(s.queued_bytes for s in list(self.subscribers)))

    async def start(self) -> None:
        """Fix the stream position before the server accepts anyone, so every announcement
        added after start-up reaches the clients (a position taken later, inside the read
        task, skipped what was added in between). With Redis down, the task takes it later."""
        start = "$"
        try:
            start = await self._newest_id()
        except RedisError as exc:
            self._warn.warning("read", "live stream not readable at start-up (%s); "
                               "retrying in the background", exc)
        self._task = asyncio.create_task(self._run(start), name="live-hub")

    async def _newest_id(self) -> str:
        newest = await self.client.xrevrange(self.stream, "+", "-", count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def stop(self) -> None:
        """Stop reading and end every open stream at once (gracefully: no abort)."""
        self._stopping = True
        for sub in list(self.subscribers):
            sub.drop("the server is shutting down", abort=False)
        if self._task is not None:
            # The read loop sees the flag within one BLOCK_MS.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, 2 * BLOCK_MS / 1000)

    def subscribe(self, client: str, brand: str | None, abort: Callable[[], None]) -> Subscriber:
        """A new stream, or LiveLimitError when the server or this client has too many."""
        if len(self.subscribers) >= self.limits.max_streams:
            self.metrics.live_rejected.labels("server_full").inc()
            self._warn.warning("full", "live stream refused: %d streams open (the limit, "
                               "SENTISTREAM_API_LIVE_MAX_STREAMS)", len(self.subscribers))
            raise TooManyStreamsError(
                f"too many live streams open on this server ({self.limits.max_streams}); "
                "try again later")
        if self._per_client[client] >= self.limits.max_streams_per_client:
            self.metrics.live_rejected.labels("client_full").inc()
            self._warn.warning("client:" + client, "live stream refused: %s has %d open (the "
                               "limit, SENTISTREAM_API_LIVE_MAX_STREAMS_PER_CLIENT)", client,
                               self._per_client[client])
            raise TooManyClientStreamsError(
                f"too many live streams from your address ({self.limits.max_streams_per_client});"
                " close some (one per dashboard tab) and try again")
        sub = Subscriber(client, brand, self.limits.queue_bytes, abort)
        self.subscribers.add(sub)
        self._per_client[client] += 1
        self.metrics.live_streams.inc()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub not in self.subscribers:
            return
        self.subscribers.discard(sub)
        self._per_client[sub.client] -= 1
        if self._per_client[sub.client] <= 0:
            del self._per_client[sub.client]
        self.metrics.live_streams.dec()

    def stalled(self, sub: Subscriber, reason: str, label: str) -> None:
        """Drop a client that stopped reading; it may reconnect and resume (Last-Event-ID)."""
        if sub.dropped is not None:
            return
        sub.drop(reason)
        self.metrics.live_dropped.labels(label).inc()
        self._warn.warning("stalled:" + label, "live client %s dropped: %s", sub.client, reason)

    async def replay(self, last: StreamId, brand: str | None) -> AsyncIterator[bytes]:
        """The frames after ``last`` (at most replay_max), or a ``resync`` when that is not all.

        Reads pages of REPLAY_PAGE entries, so a replay holds a page at a time, whatever the
        backlog. The resync event carries the newest id, so a reconnect resumes after it.
        """
        start = f"{last[0]}-{last[1]}"
        try:
            first = await self.client.xrange(self.stream, "-", "+", count=1)
            if first and (parse_stream_id(_text(first[0][0])) or (0, 0)) > last:
                # Entries after `last` were trimmed (or never written): the gap is unknowable.
                yield await self._resync("your Last-Event-ID is older than the stream keeps")
                return
            sent = 0
            while True:
                page: Any = await self.client.xrange(self.stream, f"({start}", "+",
                                                     count=REPLAY_PAGE) or []
                for entry_id, fields in page:
                    if sent >= self.limits.replay_max:
                        yield await self._resync(
                            f"more than {self.limits.replay_max} events were missed")
                        return
                    start = _text(entry_id)
                    frame = self._frame(start, fields)
                    sent += 1
                    if frame is not None and frame.touches(brand):
                        self.metrics.live_replayed.inc()
                        yield frame.data
                if len(page) < REPLAY_PAGE:
                    return
        except RedisError as exc:
            self._warn.warning("replay", "live replay failed (%s): sending a resync", exc)
            yield sse("resync", {"reason": "the missed events could not be read"})

    async def _resync(self, reason: str) -> bytes:
        self.metrics.live_resyncs.inc()
        newest = await self.client.xrevrange(self.stream, "+", "-", count=1)
        return sse("resync", {"reason": reason + "; re-read the aggregates"},
                   _text(newest[0][0]) if newest else None)

    def _frame(self, entry_id: str, fields: Any) -> Frame | None:
        raw = fields.get(b"data") if isinstance(fields, dict) else None
        built = build_frame(entry_id, raw, self.limits.event_max_bytes)
        if built is None:
            self._warn.warning("malformed", "ignoring a malformed live entry %s", entry_id)
            return None
        frame, compacted = built
        if compacted:
            self.metrics.live_compacted.inc()
        return frame

    def publish(self, frame: Frame) -> None:
        self.metrics.live_events.inc()
        for sub in list(self.subscribers):
            if not sub.offer(frame):
                self.stalled(sub, f"its queue passed {self.limits.queue_bytes} bytes "
                                  "(it stopped reading)", "queue_full")

    async def _run(self, last: str) -> None:
        while not self._stopping:
            try:
                if last == "$":
                    # A concrete id, so a read that fails does not skip what arrives meanwhile.
                    last = await self._newest_id()
                reply = await self.client.xread({self.stream: last}, block=BLOCK_MS,
                                                count=READ_COUNT)
            except RedisError as exc:
                # redis-py may turn the cancellation of a blocked read into a timeout error.
                if self._stopping:
                    return
                self._warn.warning("read", "live stream read failed (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            streams: Any = reply or []
            for _, entries in streams:
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    frame = self._frame(last, fields)
                    if frame is not None:
                        self.publish(frame)
