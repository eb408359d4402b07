"""One batch, start to finish: validate, match brands, score, write exactly once, produce.

``BatchProcessor.process`` never raises for bad input and never returns before the batch is fully
applied: Redis writes and Kafka produces are retried with capped exponential backoff until they
succeed. The caller acks the records only after it returns, so a crash at any point leads to a
redelivery, which the offsets in Redis turn into a no-op (see ``stream.worker.sink``).

No record can hold back its neighbours: a record's own failures make it a dead letter
(``stream.worker.posts``), and should a step on the whole batch raise all the same, the batch is
split in halves and each half processed on its own, down to the single record that raises, which
becomes an ``invalid_record`` dead letter. Its neighbours are counted and the partition's
commits move on; a batch with one such record costs ~2 log2(n) smaller batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from sentistream.settings import Settings
from stream.schema.keys import ALL_BRANDS, OVERFLOW
from stream.schema.live import Announcement, BrandChange, Unlisted
from stream.worker.aggregates import GroupDelta, batch_deltas
from stream.worker.alerts.hook import BackgroundAlerts
from stream.worker.brands import BrandMatcher, BrandsFile
from stream.worker.driver_deltas import BatchDrivers, PostFeatures
from stream.worker.languages import RECORD_LABELS, RoutingScorer
from stream.worker.metrics import WorkerMetrics
from stream.worker.posts import (
    INVALID_RECORD,
    MODEL_ERROR,
    TOO_MANY_BRANDS,
    Posts,
    RawRecord,
    RecordBatch,
    Rejected,
    describe,
    parse_batch,
)
from stream.worker.scoring import (
    BatchScores,
    ProcessScoring,
    ScorerProcessError,
    TokenRowsOf,
    score_here,
)
from stream.worker.sink import APPLIED, PARTIAL, SKIPPED, Call, CallBuilder, RedisSink

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_START_S, BACKOFF_MAX_S = 0.1, 5.0
# Brands this worker saw admitted to the brand index are not asked about again for this long
# (a brand is swept only after being silent for the longest retention, far longer).
ADMITTED_CACHE_S = 600.0
LIVE_MAX_MINUTES = 10  # newest touched minutes listed per brand in a live announcement


Scorer = RoutingScorer  # what the worker needs of model.scorer.SentimentScorer


# (topic, [(key, value, partition)]) -> completes when the broker has every record.
Produce = Callable[[str, Sequence[tuple[bytes | None, bytes, int]]], Awaitable[None]]


def validate(batch: Sequence[RawRecord] | RecordBatch, settings: Settings, matcher: BrandMatcher
             ) -> tuple[Posts, list[tuple[str, ...]], list[Rejected]]:
    """Valid posts with their brands, and the rejected records: the one definition the worker
    and the offline truths (ops/faults/truth.py, the tests) share. A post with more brands than
    SENTISTREAM_MAX_BRANDS_PER_POST (named or matched in its text) is ``too_many_brands``."""
    posts, rejected = parse_batch(batch, settings.max_text_chars,
                                  max_brands=settings.max_brands_per_post,
                                  future_allowance_s=settings.future_allowance_s,
                                  max_post_bytes=settings.max_post_bytes)
    brands = matcher.brands_of(posts.texts, posts.explicit_brands,
                               known_only=settings.explicit_brands == "file")
    limit = settings.max_brands_per_post
    if max(map(len, brands), default=0) > limit:  # C-level check: rare, so the loop below too
        ok = np.fromiter((len(b) <= limit for b in brands), bool, len(brands))
        for i in np.flatnonzero(~ok).tolist():
            rejected.append(Rejected(TOO_MANY_BRANDS, f"the post names {len(brands[i])} brands, "
                                     f"limit {limit}", posts.record(i)))
        brands = [b for b, keep in zip(brands, ok.tolist(), strict=True) if keep]
        posts = posts.select(ok)
    return posts, brands, rejected


@dataclass
class Prepared:
    """A batch computed and ready to write: nothing after this depends on its records' content."""

    posts: Posts
    brands: list[tuple[str, ...]]
    labels: npt.NDArray[np.int64]
    intensity: npt.NDArray[np.float32]
    rejected: list[Rejected]
    deltas: list[GroupDelta]
    calls: list[Call]
    scored: list[tuple[bytes | None, bytes, int]]  # records of the scored topic
    letters: list[tuple[bytes | None, bytes, int]]  # records of the dead-letter topic
    features: PostFeatures | None = None  # driver features, to recompute a partial group

    @classmethod
    def rejecting(cls, rejected: Rejected) -> Prepared:
        return cls(Posts(topic=rejected.record.topic), [], np.zeros(0, np.int64),
                   np.zeros(0, np.float32), [rejected], [], [], [],
                   [(None, rejected.dead_letter(), rejected.record.partition)])


@dataclass
class Started:
    """A batch parsed and admitted, its scoring under way (``BatchProcessor.begin``)."""

    batch: RecordBatch
    started: float
    head: tuple[Posts, list[Rejected], asyncio.Future[Scored]] | None  # None: redo serially

    def cancel(self) -> None:
        if self.head is not None:
            self.head[2].cancel()


Scored = tuple[Posts, list[tuple[str, ...]], npt.NDArray[np.int64], npt.NDArray[np.float32],
               npt.NDArray[np.float32], TokenRowsOf | None]


@dataclass
class PreparedBatch:
    """A fetched batch, prepared in one part (or in several, when a step raised on it)."""

    batch: RecordBatch
    parts: list[Prepared]
    started: float  # time.monotonic() when its preparation started


class BatchProcessor:
    def __init__(self, settings: Settings, scorer: Scorer | ProcessScoring, sink: RedisSink,
                 produce: Produce,
                 metrics: WorkerMetrics, brands: BrandsFile | None = None) -> None:
        self.settings = settings
        self.scorer = scorer
        self.sink = sink
        self.produce = produce
        self.metrics = metrics
        self.brands = brands or BrandsFile(
            Path(settings.brands_file) if settings.brands_file else None)
        self.calls = CallBuilder(settings)
        self.drivers = BatchDrivers(settings)
        self._matcher: BrandMatcher | None = None
        self._admitted: set[str] = set()  # brands known to be in the brand index
        self._admitted_at = time.monotonic()
        self.last_offsets: dict[int, int] = {}  # partition -> last offset fully processed
        self.alerts = BackgroundAlerts(sink.client, settings, metrics.stages)

    async def process(self, records: Sequence[RawRecord] | RecordBatch) -> None:
        await self.write(await self.prepare(records))

    async def prepare(self, records: Sequence[RawRecord] | RecordBatch) -> PreparedBatch:
        """Parse, score and build a batch's writes; touches Redis only for new brands. The
        worker prepares the next batch while ``write`` of the one before is in flight."""
        return await self.finish(await self.begin(records))

    async def begin(self, records: Sequence[RawRecord] | RecordBatch) -> Started:
        """Parse a batch, admit its brands and start its scoring; ``finish`` builds it. With
        the scoring in a process of its own, the worker begins batch k+1 before it finishes
        batch k, so that the child scores while this process builds and writes."""
        started = time.monotonic()
        batch = RecordBatch.of(records)
        self.metrics.posts_in.inc(len(batch))
        self.metrics.batch_size.observe(len(batch))
        try:
            return Started(batch, started, await self._begin(batch))
        except (asyncio.CancelledError, ScorerProcessError):
            raise
        except Exception:  # finish() redoes it step by step, isolating the record at fault
            return Started(batch, started, None)

    async def finish(self, started: Started) -> PreparedBatch:
        """The batch's writes, built (see ``prepare``)."""
        if started.head is not None:
            try:
                return PreparedBatch(started.batch, [await self._finish(started.head)],
                                     started.started)
            except (asyncio.CancelledError, ScorerProcessError):
                raise
            except Exception:  # done again below, in halves down to the record at fault
                pass
        return PreparedBatch(started.batch, await self._prepare_parts(started.batch),
                             started.started)

    async def write(self, prepared: PreparedBatch) -> None:
        """Apply a prepared batch exactly once; returns when Redis and Kafka have it all.
        Batches must be written in the order they were fetched (one at a time)."""
        await (await self.write_redis(prepared))

    async def write_redis(self, prepared: PreparedBatch) -> Awaitable[None]:
        """``write`` in two steps: returns once Redis has the batch, with the rest of its
        writes (the produces' broker acks, the live announcement) still under way in the
        returned future. The next batch's Redis writes may start then: only they must be in
        fetch order (``stream.worker.write_chain``); the batch is acked after both."""
        rests: list[asyncio.Future[None]] = []
        try:
            for part in prepared.parts:
                rests.append(asyncio.ensure_future(await self._write(part)))
        except BaseException:
            for future in rests:
                future.cancel()
            raise
        for partition, offset in prepared.batch.last_offsets().items():
            self.last_offsets[partition] = max(offset, self.last_offsets.get(partition, -1))

        async def after_redis() -> None:
            await asyncio.gather(*rests)
            self.metrics.batch_seconds.observe(time.monotonic() - prepared.started)

        return asyncio.ensure_future(after_redis())

    async def _prepare_parts(self, batch: RecordBatch) -> list[Prepared]:
        try:
            return [await self._prepare(batch)]
        except (asyncio.CancelledError, ScorerProcessError):
            raise
        except Exception as exc:  # a bug some record triggers: isolate it, keep the rest
            if len(batch) > 1:
                self.metrics.batch_splits.inc()
                log.error("%s on a batch of %d records; processing it in halves",
                          describe(exc), len(batch), exc_info=exc)
                half = len(batch) // 2
                return [*await self._prepare_parts(batch.slice(0, half)),
                        *await self._prepare_parts(batch.slice(half, len(batch)))]
            r = batch.record(0)
            log.error("%s on the record at %s[%d]@%d: dead-lettered as %s", describe(exc),
                      r.topic, r.partition, r.offset, INVALID_RECORD)
            return [Prepared.rejecting(Rejected(INVALID_RECORD, describe(exc), r))]

    async def _prepare(self, batch: RecordBatch) -> Prepared:
        """Everything that depends on the records' content (so may raise on a record nobody
        foresaw); Redis is only asked which brands the index admits (retried like writes)."""
        return await self._finish(await self._begin(batch))

    async def _begin(self, batch: RecordBatch
                     ) -> tuple[Posts, list[Rejected], asyncio.Future[Scored]]:
        stages = self.metrics.stages
        with stages.time("parse"):
            posts, brands, rejected = validate(batch, self.settings, self._current_matcher())
        with stages.time("admit"):
            brands = await self._admit(posts, brands)
        return posts, rejected, asyncio.ensure_future(self._score(posts, brands, rejected))

    async def _finish(self, head: tuple[Posts, list[Rejected], asyncio.Future[Scored]]
                      ) -> Prepared:
        _, rejected, scoring = head
        t0 = time.monotonic()
        with self.metrics.stages.time("score"):  # with a scoring process: what is left to wait
            posts, brands, labels, probs, intensity, rows = await scoring
        self.metrics.model_seconds.observe(time.monotonic() - t0)
        cpu0 = time.thread_time()
        try:
            with self.metrics.stages.time("build"):
                deltas = batch_deltas(posts, brands, labels, intensity, self.settings.top_posts)
                features = self.drivers.attach(deltas, posts, brands, labels, intensity,
                                               rows or self.scorer, self._current_matcher())
                scored = (self._scored_records(posts, brands, labels, probs, intensity)
                          if self.settings.produce_scored else [])
                return Prepared(posts, brands, labels, intensity, rejected, deltas,
                                [self.calls.group_call(posts.topic, d) for d in deltas], scored,
                                [(None, r.dead_letter(), r.record.partition) for r in rejected],
                                features)
        finally:
            if self.metrics.stages.trace is not None:  # its CPU: what of build is not waiting
                self.metrics.stages.add("build_cpu", time.thread_time() - cpu0)

    async def _write(self, p: Prepared) -> Awaitable[None]:
        """Writes a part to Redis; returns the rest of its writes (``_after_redis``)."""
        # Produces run while Redis is written; both must finish before the batch is acked.
        sends = [asyncio.ensure_future(self._send("dead-letter", self.settings.topic_dead_letters,
                                                  p.letters)),
                 asyncio.ensure_future(self._send("scored", self.settings.topic_scored,
                                                  p.scored))]
        try:
            with self.metrics.stages.time("redis"):
                applied, announced = await self._retry("Redis write", self.metrics.redis_retries,
                                                       lambda: self._apply(p))
        except BaseException:
            for send in sends:
                send.cancel()
            raise
        return self._after_redis(p, sends, applied, announced)

    async def _after_redis(self, p: Prepared, sends: Sequence[asyncio.Future[None]],
                           applied: dict[str, BrandChange], announced: bool) -> None:
        stages = self.metrics.stages
        with stages.time("produce_wait"):  # what is left of the produces once Redis answered
            await asyncio.gather(*sends)
        now = time.time()
        if len(p.posts):
            self.metrics.e2e_delay.observe(max(0.0, now - float(p.posts.record_s.min())))
            self.metrics.event_age.set(now - float(p.posts.created_s.max()))
        self.metrics.scored.inc(len(p.posts))
        for reason, n in Counter(r.reason for r in p.rejected).items():
            self.metrics.dead_letters.labels(reason).inc(n)
        if applied:
            try:
                if not announced:  # a redelivery: what it did apply, in a round trip of its own
                    with stages.time("announce"):
                        await self.sink.announce(announcement(applied,
                                                              self.settings.live_max_brands))
            except Exception as exc:  # announcements are hints; the data is already safe
                log.warning("live announcement failed: %s", exc)
            # Checked in the background, never fails the batch.
            self.alerts.submit({b: c for b, c in applied.items() if b != OVERFLOW})

    async def _admit(self, posts: Posts, brands: list[tuple[str, ...]]
                     ) -> list[tuple[str, ...]]:
        """The brands, with those the full brand index refuses (SENTISTREAM_MAX_BRANDS_TOTAL)
        replaced by ``_overflow``: their posts still count in ``_all``, and in ``_overflow``."""
        if (time.monotonic() - self._admitted_at > ADMITTED_CACHE_S
                or len(self._admitted) > self.settings.max_brands_total):
            self._admitted.clear()
            self._admitted_at = time.monotonic()
        new = {b for bs in brands for b in bs} - self._admitted
        if not new:
            return brands  # the steady state: every brand of the batch is known
        newest: dict[str, float] = {}
        for bs, created in zip(brands, posts.created_s.tolist(), strict=True):
            for b in new.intersection(bs):
                newest[b] = max(created, newest.get(b, created))
        ordered = dict(sorted(newest.items()))  # within a batch, the first names win
        count, refused = await self._retry("Redis brand index", self.metrics.redis_retries,
                                           lambda: self.sink.admit(ordered))
        self.metrics.brands.set(count)
        self._admitted |= new - refused
        if not refused:
            return brands
        self.metrics.brands_refused.inc(len(refused))
        log.warning("the brand index is full (%d brands): %d new brands count in %s only",
                    count, len(refused), OVERFLOW)
        return [tuple(sorted({OVERFLOW if b in refused else b for b in bs}))
                if refused.intersection(bs) else bs for bs in brands]

    async def _score(self, posts: Posts, brands: list[tuple[str, ...]], rejected: list[Rejected]
                     ) -> Scored:
        """Scores of the whole batch from one model call, run off the event loop (heartbeats
        and the web server stay responsive). Should the model fail on the batch, the posts are
        scored one by one and those it fails on become dead letters (``model_error``)."""
        if not len(posts):
            return (posts, brands, np.zeros(0, np.int64), np.zeros((0, 3), np.float32),
                    np.zeros(0, np.float32), None)
        language_id = self.settings.language_id != "off"
        try:
            scores = await self._score_batch(posts, language_id)
            s = scores.routed
            return (posts, brands, s.labels, s.probs, s.intensity,
                    TokenRowsOf(posts.texts, scores))
        except ScorerProcessError:
            raise  # not the posts' fault: the worker exits, the batch unacked
        except Exception as exc:
            log.error("the model failed on a batch (%s); scoring its posts one by one", exc)
        ok = np.ones(len(posts), bool)
        rows: list[tuple[list[str], int, npt.NDArray[np.float32], float]] = []
        for i in range(len(posts)):
            one = posts.select(np.arange(len(posts)) == i)
            try:
                s = (await self._score_batch(one, language_id)).routed
                rows.append((one.languages, int(s.labels[0]), s.probs[0], float(s.intensity[0])))
            except ScorerProcessError:
                raise
            except Exception as exc:
                ok[i] = False
                rejected.append(Rejected(MODEL_ERROR, f"the model failed: {exc}",
                                         posts.record(i)))
        posts = posts.select(ok)
        posts.languages = [code for r in rows for code in r[0]]  # [] with language ID off
        return (posts, [b for b, keep in zip(brands, ok.tolist(), strict=True) if keep],
                np.asarray([r[1] for r in rows], np.int64),
                np.asarray([r[2] for r in rows], np.float32).reshape(-1, 3),
                np.asarray([r[3] for r in rows], np.float32), None)

    async def _score_batch(self, posts: Posts, language_id: bool) -> BatchScores:
        """One model call on the batch, off the event loop (heartbeats and the web server stay
        responsive): in the scoring process when there is one, else in a thread."""
        if isinstance(self.scorer, ProcessScoring):
            return await self.scorer.score(posts, language_id)
        loop = asyncio.get_running_loop()
        stages, scorer = self.metrics.stages, self.scorer
        if stages.trace is None:
            return await loop.run_in_executor(None, score_here, scorer, posts, language_id)
        # Traced: the scoring thread's hand-offs apart from its work, to tell waiting for the
        # GIL or the executor from computing (ROUNDS.md "Where a batch's preparation waits"):
        # score_to_thread (submitted -> running), score_thread_wall / _cpu (its run, and the
        # CPU of it), score_back (done -> the event loop resumes the batch).
        marks: list[float] = []

        def timed() -> BatchScores:
            marks.append(time.perf_counter())
            cpu = time.thread_time()
            try:
                return score_here(scorer, posts, language_id)
            finally:
                marks.append(time.thread_time() - cpu)
                marks.append(time.perf_counter())

        asked = time.perf_counter()
        scores = await loop.run_in_executor(None, timed)
        back = time.perf_counter()
        stages.add("score_to_thread", marks[0] - asked)
        stages.add("score_thread_wall", marks[2] - marks[0])
        stages.add("score_thread_cpu", marks[1])
        stages.add("score_back", back - marks[2])
        return scores

    def _current_matcher(self) -> BrandMatcher:
        matcher = self.brands.current()
        if self._matcher is not None and matcher is not self._matcher:
            self.metrics.brands_reloads.inc()
        self._matcher = matcher
        return matcher

    async def _apply(self, p: Prepared) -> tuple[dict[str, BrandChange], bool]:
        """Apply until no group is partial; returns the increments applied, per brand, and
        whether they were announced with the writes (a fresh batch's first round trip:
        ``RedisSink.apply_announcing``)."""
        posts, brands, labels, intensity = p.posts, p.brands, p.labels, p.intensity
        deltas, calls = p.deltas, list(p.calls)  # a copy: a failed attempt runs it again
        dead = _dead_letter_groups(p.rejected)
        seen = _brands_seen(deltas)
        applied: dict[str, BrandChange] = {}
        fresh: Announcement | None = None  # the announcement should every group apply
        if deltas and self.sink.transaction:  # SENTISTREAM_WRITE_TRANSACTION
            everything: dict[str, BrandChange] = {}
            for delta in deltas:
                _note_applied(everything, delta)
            fresh = announcement(everything, self.settings.live_max_brands)
        announced = False
        while deltas or dead:
            groups = len(calls)
            calls += [self.calls.dead_letter_call(t, part, lo, hi, reasons)
                      for (t, part), (lo, hi, reasons) in dead.items()]
            outcomes, announced_now = await self.sink.apply_announcing(calls, seen, fresh, groups)
            announced = announced or announced_now
            seen, fresh = {}, None
            retry_deltas: list[GroupDelta] = []
            for delta, outcome in zip(deltas, outcomes, strict=False):
                if outcome.status == APPLIED:
                    _note_applied(applied, delta)
                elif outcome.status == SKIPPED:
                    self.metrics.redelivered.labels("skipped").inc()
                elif outcome.status == PARTIAL:
                    self.metrics.redelivered.labels("partial").inc()
                    mask = ((posts.partitions == delta.partition)
                            & (posts.offsets > outcome.stored_offset))
                    again = _refilter(posts, brands, labels, intensity, delta, mask,
                                      self.settings.top_posts)
                    self.drivers.attach_partial(again, posts, brands, labels, intensity,
                                                p.features, mask)
                    retry_deltas += again
            retry_dead: dict[tuple[str, int], tuple[int, int, dict[str, int]]] = {}
            for (key, _), outcome in zip(dead.items(), outcomes[len(deltas):], strict=True):
                if outcome.status == PARTIAL:
                    later = [r for r in p.rejected if (r.record.topic, r.record.partition) == key
                             and r.record.offset > outcome.stored_offset]
                    retry_dead.update(_dead_letter_groups(later))
            deltas, dead = retry_deltas, retry_dead
            calls = [self.calls.group_call(posts.topic, d) for d in deltas]
        return applied, announced

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

    async def _send(self, what: str, topic: str,
                    records: list[tuple[bytes | None, bytes, int]]) -> None:
        if records:
            await self._retry(f"{what} produce", self.metrics.kafka_retries,
                              lambda: self.produce(topic, records))

    def _scored_records(self, posts: Posts, brands: list[tuple[str, ...]],
                        labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32],
                        intensity: npt.NDArray[np.float32]
                        ) -> list[tuple[bytes | None, bytes, int]]:
        version = self.scorer.version
        # Columns to Python scalars once per batch: per-element numpy indexing costs ~1 us each.
        # An unsupported_language post's NaN probs and intensity are written as null.
        rows = zip(posts.docs, posts.ids, labels.tolist(), probs.tolist(), intensity.tolist(),
                   brands, posts.created_s.tolist(), posts.partitions.tolist(),
                   _or_none(posts.languages, len(posts)), strict=True)
        records: list[tuple[bytes | None, bytes, int]] = []
        for doc, post_id, label, p, inten, names, created, partition, lang in rows:
            out = {**doc, "label": RECORD_LABELS[label], "probs": p, "intensity": inten,
                   "language": lang, "brands": list(names), "event_time": created,
                   "model_version": version}
            records.append((post_id.encode("utf-8"), _dumps(out), partition))
        return records


def announcement(applied: dict[str, BrandChange], max_brands: int,
                 max_minutes: int = LIVE_MAX_MINUTES) -> Announcement:
    """A batch's live announcement, bounded whatever the batch holds: ``_all`` and the
    ``max_brands`` brands with the most posts, each with its increments and newest
    ``max_minutes`` minutes; the other brands summed in ``more``: {"brands", "n"}. Same shape
    for every reader (``brands.<name>.n``), so a brand flood cannot make it hundreds of KB."""
    names = sorted((b for b in applied if b != ALL_BRANDS),
                   key=lambda b: (-applied[b].counts.n, b))
    shown = ([ALL_BRANDS] if ALL_BRANDS in applied else []) + names[:max_brands]
    rest = names[max_brands:]
    return Announcement(
        at=time.time(),
        brands={b: BrandChange(applied[b].counts, applied[b].minutes[-max_minutes:])
                for b in shown},
        more=Unlisted(len(rest), sum(applied[b].counts.n for b in rest)) if rest else None)


def _or_none(languages: list[str], n: int) -> Sequence[str | None]:
    """Each post's language; None each when language ID is off (SENTISTREAM_LANGUAGE_ID)."""
    return languages or [None] * n


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
        if d.brand != OVERFLOW:  # a counter, not a brand: kept out of the brand index
            seen[d.brand] = max(seen.get(d.brand, d.newest_event_s), d.newest_event_s)
    return seen


def _refilter(posts: Posts, brands: list[tuple[str, ...]], labels: npt.NDArray[np.int64],
              intensity: npt.NDArray[np.float32], delta: GroupDelta,
              mask: npt.NDArray[np.bool_], top_k: int) -> list[GroupDelta]:
    """The group again, with the records of ``mask``: those of its partition after the offset
    already applied."""
    sub = posts.select(mask)
    sub_brands = [brands[i] for i in np.flatnonzero(mask).tolist()]
    return [d for d in batch_deltas(sub, sub_brands, labels[mask], intensity[mask], top_k)
            if d.brand == delta.brand]


def _note_applied(applied: dict[str, BrandChange], delta: GroupDelta) -> None:
    entry = applied.setdefault(delta.brand, BrandChange())
    entry.counts.merge(delta.total)
    entry.minutes = sorted(set(entry.minutes) | {start for (res, start) in delta.buckets
                                                 if res == "m"})
