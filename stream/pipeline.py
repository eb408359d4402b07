"""One batch, start to finish: validate, match brands, score, write exactly once, produce.

``BatchProcessor.process`` never raises for bad input and never returns before the batch is fully
applied: Redis writes and Kafka produces are retried with capped exponential backoff until they
succeed. The caller acks the records only after it returns, so a crash at any point leads to a
redelivery, which the offsets in Redis turn into a no-op (see ``stream.sink``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from sentistream.settings import Settings
from stream.aggregates import LABELS, GroupDelta, batch_deltas
from stream.alerts.hook import BackgroundAlerts
from stream.brands import BrandMatcher, BrandsFile
from stream.metrics import WorkerMetrics
from stream.posts import MODEL_ERROR, Posts, RawRecord, RecordBatch, Rejected, parse_batch
from stream.sink import APPLIED, PARTIAL, SKIPPED, CallBuilder, RedisSink

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 5.0


class ScoreBatchLike(Protocol):
    @property
    def labels(self) -> npt.NDArray[np.int64]: ...
    @property
    def probs(self) -> npt.NDArray[np.float32]: ...
    @property
    def intensity(self) -> npt.NDArray[np.float32]: ...


class Scorer(Protocol):
    """What the worker needs of ``model.scorer.SentimentScorer``."""

    @property
    def version(self) -> str: ...
    def score(self, texts: list[str]) -> ScoreBatchLike: ...


# (topic, [(key, value, partition)]) -> completes when the broker has every record.
Produce = Callable[[str, Sequence[tuple[bytes | None, bytes, int]]], Awaitable[None]]


class BatchProcessor:
    def __init__(self, settings: Settings, scorer: Scorer, sink: RedisSink, produce: Produce,
                 metrics: WorkerMetrics, brands: BrandsFile | None = None) -> None:
        self.settings = settings
        self.scorer = scorer
        self.sink = sink
        self.produce = produce
        self.metrics = metrics
        self.brands = brands or BrandsFile(
            Path(settings.brands_file) if settings.brands_file else None)
        self.calls = CallBuilder(settings)
        self._matcher: BrandMatcher | None = None
        self.last_offsets: dict[int, int] = {}  # partition -> last offset fully processed
        self.alerts = BackgroundAlerts(sink.client, settings)

    async def process(self, records: Sequence[RawRecord] | RecordBatch) -> None:
        started = time.monotonic()
        batch = RecordBatch.of(records)
        self.metrics.posts_in.inc(len(batch))
        self.metrics.batch_size.observe(len(batch))
        posts, rejected = parse_batch(batch, self.settings.max_text_chars)
        t0 = time.monotonic()
        posts, labels, probs, intensity = await self._score(posts, rejected)
        self.metrics.model_seconds.observe(time.monotonic() - t0)
        brands = self._current_matcher().brands_of(posts.texts, posts.explicit_brands)
        # Produces run while Redis is written; both must finish before the batch is acked.
        sends = [asyncio.ensure_future(self._send_dead_letters(rejected)),
                 asyncio.ensure_future(self._send_scored(posts, brands, labels, probs,
                                                         intensity))]
        applied = await self._retry("Redis write", self.metrics.redis_retries,
                                    lambda: self._apply(posts, brands, labels, intensity,
                                                        rejected))
        await asyncio.gather(*sends)
        now = time.time()
        if len(posts):
            self.metrics.e2e_delay.observe(max(0.0, now - float(posts.record_s.min())))
            self.metrics.event_age.set(now - float(posts.created_s.max()))
        self.metrics.scored.inc(len(posts))
        for reason, n in Counter(r.reason for r in rejected).items():
            self.metrics.dead_letters.labels(reason).inc(n)
        for partition, offset in batch.last_offsets().items():
            self.last_offsets[partition] = max(offset, self.last_offsets.get(partition, -1))
        if applied:
            try:
                await self.sink.announce(applied)
            except Exception as exc:  # announcements are hints; the data is already safe
                log.warning("live announcement failed: %s", exc)
            self.alerts.submit(applied)  # checked in the background, never fails the batch
        self.metrics.batch_seconds.observe(time.monotonic() - started)

    async def _score(self, posts: Posts, rejected: list[Rejected]) -> tuple[
            Posts, npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Scores of the whole batch from one model call, run off the event loop (heartbeats
        and the web server stay responsive). Should the model fail on the batch, the posts are
        scored one by one and those it fails on become dead letters (``model_error``)."""
        if not len(posts):
            return posts, np.zeros(0, np.int64), np.zeros((0, 3), np.float32), np.zeros(0,
                                                                                  np.float32)
        loop = asyncio.get_running_loop()
        try:
            s = await loop.run_in_executor(None, self.scorer.score, posts.texts)
            return (posts, np.asarray(s.labels, np.int64), np.asarray(s.probs, np.float32),
                    np.asarray(s.intensity, np.float32))
        except Exception as exc:
            log.error("the model failed on a batch (%s); scoring its posts one by one", exc)
        ok = np.ones(len(posts), bool)
        rows: list[tuple[int, npt.NDArray[np.float32], float]] = []
        for i, text in enumerate(posts.texts):
            try:
                one = await loop.run_in_executor(None, self.scorer.score, [text])
                rows.append((int(one.labels[0]), np.asarray(one.probs[0], np.float32),
                             float(one.intensity[0])))
            except Exception as exc:
                ok[i] = False
                record = RawRecord(posts.raw[i], posts.topic,
                                   int(posts.partitions[i]), int(posts.offsets[i]),
                                   float(posts.record_s[i]))
                rejected.append(Rejected(MODEL_ERROR, f"the model failed: {exc}", record))
        kept = posts.select(ok)
        return (kept, np.asarray([r[0] for r in rows], np.int64),
                np.asarray([r[1] for r in rows], np.float32).reshape(-1, 3),
                np.asarray([r[2] for r in rows], np.float32))

    def _current_matcher(self) -> BrandMatcher:
        matcher = self.brands.current()
        if self._matcher is not None and matcher is not self._matcher:
            self.metrics.brands_reloads.inc()
        self._matcher = matcher
        return matcher

    async def _apply(self, posts: Posts, brands: list[tuple[str, ...]],
                     labels: npt.NDArray[np.int64], intensity: npt.NDArray[np.float32],
                     rejected: list[Rejected]) -> dict[str, Any]:
        """Apply until no group is partial; returns the increments applied, per brand."""
        deltas = batch_deltas(posts, brands, labels, intensity, self.settings.top_posts)
        dead = _dead_letter_groups(rejected)
        seen = _brands_seen(deltas)
        applied: dict[str, Any] = {}
        while deltas or dead:
            calls = [self.calls.group_call(posts.topic, d) for d in deltas]
            calls += [self.calls.dead_letter_call(t, p, lo, hi, reasons)
                      for (t, p), (lo, hi, reasons) in dead.items()]
            outcomes = await self.sink.apply(calls, seen)
            seen = {}
            retry_deltas: list[GroupDelta] = []
            for delta, outcome in zip(deltas, outcomes, strict=False):
                if outcome.status == APPLIED:
                    _note_applied(applied, delta)
                elif outcome.status == SKIPPED:
                    self.metrics.redelivered.labels("skipped").inc()
                elif outcome.status == PARTIAL:
                    self.metrics.redelivered.labels("partial").inc()
                    retry_deltas += _refilter(posts, brands, labels, intensity, delta,
                                              outcome.stored_offset, self.settings.top_posts)
            retry_dead: dict[tuple[str, int], tuple[int, int, dict[str, int]]] = {}
            for (key, _), outcome in zip(dead.items(), outcomes[len(deltas):], strict=True):
                if outcome.status == PARTIAL:
                    later = [r for r in rejected if (r.record.topic, r.record.partition) == key
                             and r.record.offset > outcome.stored_offset]
                    retry_dead.update(_dead_letter_groups(later))
            deltas, dead = retry_deltas, retry_dead
        return applied

    async def _retry(self, what: str, counter: Any, attempt: Callable[[], Awaitable[T]]) -> T:
        delay = BACKOFF_START_S
        while True:
            try:
                return await attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # anything: never ack a batch that is not applied
                counter.inc()
                log.warning("%s failed (%s: %s); retrying in %.1fs", what,
                            type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    async def _send_dead_letters(self, rejected: list[Rejected]) -> None:
        if rejected:
            await self._retry("dead-letter produce", self.metrics.kafka_retries,
                              lambda: self.produce(
                                  self.settings.topic_dead_letters,
                                  [(None, r.dead_letter(), r.record.partition)
                                   for r in rejected]))

    async def _send_scored(self, posts: Posts, brands: list[tuple[str, ...]],
                           labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32],
                           intensity: npt.NDArray[np.float32]) -> None:
        if not len(posts):
            return
        version = self.scorer.version
        # Columns to Python scalars once per batch: per-element numpy indexing costs ~1 us each.
        rows = zip(posts.docs, posts.ids, labels.tolist(), probs.tolist(), intensity.tolist(),
                   brands, posts.created_s.tolist(), posts.partitions.tolist(), strict=True)
        records = []
        for doc, post_id, label, p, inten, names, created, partition in rows:
            out = {**doc, "label": LABELS[label], "probs": p, "intensity": inten,
                   "brands": list(names), "event_time": created, "model_version": version}
            records.append((post_id.encode("utf-8"), _dumps(out), partition))
        await self._retry("scored produce", self.metrics.kafka_retries,
                          lambda: self.produce(self.settings.topic_scored, records))


def _dumps(doc: dict[str, Any]) -> bytes:
    """JSON of a scored post: orjson (~10x faster than json), json for what orjson refuses
    (ints beyond 64 bits, lone surrogates in kept fields). A NaN or infinity that a post
    carried in a kept field is written as null (strict JSON) instead of json's bare NaN."""
    try:
        return orjson.dumps(doc)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(doc).encode("utf-8")


def _dead_letter_groups(
        rejected: Sequence[Rejected]) -> dict[tuple[str, int], tuple[int, int, dict[str, int]]]:
    groups: dict[tuple[str, int], tuple[int, int, dict[str, int]]] = {}
    for r in rejected:
        key = (r.record.topic, r.record.partition)
        lo, hi, reasons = groups.get(key, (r.record.offset, r.record.offset, {}))
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
        groups[key] = (min(lo, r.record.offset), max(hi, r.record.offset), reasons)
    return groups


def _brands_seen(deltas: list[GroupDelta]) -> dict[str, float]:
    seen: dict[str, float] = {}
    for d in deltas:
        seen[d.brand] = max(seen.get(d.brand, d.newest_event_s), d.newest_event_s)
    return seen


def _refilter(posts: Posts, brands: list[tuple[str, ...]], labels: npt.NDArray[np.int64],
              intensity: npt.NDArray[np.float32], delta: GroupDelta, stored: int,
              top_k: int) -> list[GroupDelta]:
    """The group again, without the records at or below the offset already applied."""
    mask = (posts.partitions == delta.partition) & (posts.offsets > stored)
    sub = posts.select(mask)
    sub_brands = [brands[i] for i in np.flatnonzero(mask).tolist()]
    return [d for d in batch_deltas(sub, sub_brands, labels[mask], intensity[mask], top_k)
            if d.brand == delta.brand]


def _note_applied(applied: dict[str, Any], delta: GroupDelta) -> None:
    entry = applied.setdefault(delta.brand, {"n": 0, "neg": 0, "neu": 0, "pos": 0,
                                             "isum_e6": 0, "minutes": []})
    for name, value in delta.total.fields().items():
        entry[name] += value
    entry["minutes"] = sorted(set(entry["minutes"]) | {start for (res, start) in delta.buckets
                                                       if res == "m"})
