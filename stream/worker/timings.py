"""Where a worker's time goes, per batch step: a histogram per stage and a periodic log line.

Each step of a batch that can wait or burn CPU is timed on its own (``StageClock.time``): the wait
for the next fetch, parsing, the brand-index check, scoring, building the writes, the Redis round
trip, the scored/dead-letter produces, the ack and the offset commit. The seconds go to the
``sentistream_stage_seconds`` histogram (label ``stage``) and, every ``SUMMARY_EVERY_S``, to one
log line with each stage's share of the wall time, which is how the README's breakdown of one
worker's time was measured. Stages overlap when the worker overlaps I/O with scoring, so their
shares can add up to more than 100%.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger(__name__)
SUMMARY_EVERY_S = 10.0
_TIME_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass
class BatchLife:
    """One batch's (partition, first offset, last offset) ranges and the wall time (epoch s)
    at which it passed each point of the agent's loop: ``fetched`` (handed over by the
    consumer), ``delivered`` (taken by the agent), ``prepared`` (parsed, scored, built),
    ``writing`` (the previous batch's Redis writes done, its own started), ``redis`` (Redis
    answered: its aggregates visible), ``acked``."""

    ranges: list[tuple[int, int, int]]
    at: dict[str, float] = field(default_factory=dict)

    def stamp(self, point: str) -> None:
        self.at[point] = time.time()


class StageClock:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram("sentistream_stage_seconds",
                                   "seconds per batch in each step of the worker's batch loop",
                                   ["stage"], buckets=_TIME_BUCKETS, registry=registry)
        self._children: dict[str, Histogram] = {}
        self._totals: dict[str, float] = {}
        self._since = time.monotonic()
        self._batches = self._posts = 0
        # (wall time at its end, stage, seconds) of the latest timings, when traced
        # (SENTISTREAM_STAGE_TRACE): what the drain benchmark joins with its slowest posts.
        self.trace: deque[tuple[float, str, float]] | None = None
        # Per batch, when traced: its offsets and the wall time of each await of its life
        # (``BatchLife``), so the drain benchmark can say what exactly its slowest posts waited on.
        self.lives: deque[BatchLife] | None = None
        self._gc_started = 0.0

    def start_trace(self, entries: int) -> None:
        """Keep the last ``entries`` timings, and the garbage collector's pauses as stage
        ``gc<generation>`` (they stop the event loop and every thread holding the GIL)."""
        if entries <= 0 or self.trace is not None:
            return
        self.trace = deque(maxlen=entries)
        self.lives = deque(maxlen=max(entries // 10, 100))
        gc.callbacks.append(self._on_gc)

    def stop_trace(self) -> None:
        if self.trace is not None and self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self.trace = self.lives = None

    def batch_life(self, ranges: list[tuple[int, int, int]], fetched: float, delivered: float
                   ) -> BatchLife | None:
        """A traced batch's life record (None when not traced): the agent stamps its steps."""
        if self.lives is None:
            return None
        life = BatchLife(ranges, {"fetched": fetched, "delivered": delivered})
        self.lives.append(life)
        return life

    def traced_lives(self) -> list[dict[str, Any]]:
        return [{"ranges": life.ranges, "at": life.at} for life in (self.lives or ())]

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.trace is not None and self._gc_started:
            self.trace.append((time.time(), f"gc{info['generation']}",
                               time.perf_counter() - self._gc_started))

    def traced(self) -> list[tuple[float, str, float]]:
        return list(self.trace or ())

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def add(self, stage: str, seconds: float) -> None:
        child = self._children.get(stage)
        if child is None:
            child = self._children[stage] = self.histogram.labels(stage)
        child.observe(seconds)
        self._totals[stage] = self._totals.get(stage, 0.0) + seconds
        if self.trace is not None:
            self.trace.append((time.time(), stage, seconds))

    def batch_done(self, posts: int) -> None:
        """Counts a batch; logs and resets the shares when the summary interval has passed."""
        self._batches += 1
        self._posts += posts
        now = time.monotonic()
        if now - self._since >= SUMMARY_EVERY_S:
            log.info("stages %s", self.summary(now))
            self._totals.clear()
            self._since, self._batches, self._posts = now, 0, 0

    def summary(self, now: float | None = None) -> str:
        wall = max((now or time.monotonic()) - self._since, 1e-9)
        shares = " ".join(f"{stage}={100 * s / wall:.1f}%" for stage, s in
                          sorted(self._totals.items(), key=lambda kv: -kv[1]))
        per_batch = self._posts / max(self._batches, 1)
        return (f"over {wall:.1f}s: {self._batches} batches, {self._posts / wall:.0f} posts/s, "
                f"{per_batch:.0f} posts/batch; share of wall time: {shares}")
