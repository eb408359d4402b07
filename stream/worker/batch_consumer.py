"""Faust, a fetch at a time: the worker's agent gets each Kafka fetch as one batch.

``LeanConsumer`` delivers the records of a *batch topic* as one ``FetchedBatch`` per Kafka fetch
(columns of values, partitions, offsets, times) into a Faust channel, which the scoring agent
iterates. Faust's own path makes a ``Message``, an ``Event``, a queue round trip, a stream step
and an ack per record: measured at ~40% of the worker's one core at 5k posts/s (py-spy,
ops/bench/worker_throughput.py). The agent acks a batch with ``LeanConsumer.ack_batch`` only
after it is applied, which does Faust's ack bookkeeping (``Consumer.ack``) for all its offsets at
once, so Faust's commit loop commits exactly as before (and a revoke commits the acks before
Faust forgets them: ``LeanConsumer.on_partitions_revoked``). A rebalance (``suspend_flow``), a
stop or a crash still interrupts a delivery at once, as in Faust's loop; the interrupted batch,
and any batch fetched in an older consumer generation or before a seek, is dropped unacked, as
Faust drops events, and read again from the committed offsets. Nothing a rebalance does ends the
fetch loop: an error that does is fatal and the worker exits (``stream.worker.lifeline``). Records
of other topics take Faust's per-message path unchanged.

Written against faust-streaming 0.15 (pinned in pyproject.toml); tests/stream exercise it with
a real broker, including rebalances, kills and restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from stream.worker.lifeline import Lifeline
from stream.worker.posts import RecordBatch
from stream.worker.timings import StageClock


@dataclass
class FetchedBatch:
    """One fetch's records of a batch topic, and what acking them needs."""

    records: RecordBatch
    offsets_by_tp: Sequence[tuple[TP, list[int]]]
    generation_id: int  # the consumer generation it was fetched in
    # When the consumer handed it over (epoch s): what a traced batch's life starts from.
    fetched_at: float = field(default_factory=time.time)

    taken: bool = False  # the agent has it: nothing may be added to it any more

    def absorb(self, later: FetchedBatch, limit: int) -> bool:
        """Adds a later fetch's records to this batch, still waiting for the agent, if they
        fit in ``limit`` records and come from the same consumer generation; False if not."""
        if (self.taken or later.generation_id != self.generation_id
                or len(self.records) + len(later.records) > limit):
            return False
        mine, theirs = self.records, later.records
        mine.values += theirs.values
        mine.partitions += theirs.partitions
        mine.offsets += theirs.offsets
        mine.timestamps_s += theirs.timestamps_s
        self.offsets_by_tp = [*self.offsets_by_tp, *later.offsets_by_tp]
        return True

    def ranges(self) -> list[tuple[int, int, int]]:
        """(partition, first offset, last offset) of each partition's records."""
        return [(tp.partition, offsets[0], offsets[-1]) for tp, offsets in self.offsets_by_tp
                if offsets]


# Faust's consumer asks the broker to hold an empty fetch for up to 1.5 s. aiokafka sends a
# node's fetch only for the partitions that have no records waiting in its buffer, so when the
# worker was busy for longer than aiokafka's prefetch backoff (0.1 s), a fetch can go out for the
# idle partitions alone (Faust's leader topic), and the busy ones wait until the broker gives up
# on it: seen as 1.0-1.5 s pauses every few seconds at 1,000 posts/s (p99 1.8 s end to end), while
# a plain aiokafka consumer on the same topic saw p99 15 ms. A short wait bounds that pause.
# SENTISTREAM_FETCH_MAX_WAIT_MS sets it (``LeanApp.fetch_max_wait_ms``).
FETCH_MAX_WAIT_MS = 50
# The commit before a revoke holds up the rebalance (the group waits for every member, up to
# the 15 s session timeout); should the broker not answer by then, the rebalance goes on and the
# uncommitted records are read again and skipped, as before that commit existed.
REVOKE_COMMIT_TIMEOUT_S = 5.0


class LeanConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read when the fetcher starts (SENTISTREAM_FETCH_MAX_WAIT_MS).
        consumer._fetch_max_wait_ms = getattr(transport.app, "fetch_max_wait_ms",
                                              FETCH_MAX_WAIT_MS)
        return consumer


class LeanConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering the records of batch topics a fetch at a time."""

    _seeks = 0  # seeks started or finished: a fetch that saw this change is stale
    _aside: asyncio.Future[bool] | None = None  # the fetch loop's commit under way

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per batch topic: the batch put last and the seek count then (``_deliver``).
        self._waiting: dict[str, tuple[FetchedBatch, int]] = {}

    def _new_consumer_thread(self) -> LeanConsumerThread:
        return LeanConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - in a worker
        """Faust's fetch loop, with deliveries a fetch at a time. Nothing a rebalance does may
        end it: an error that does is fatal, and the worker exits (``stream.worker.lifeline``)
        instead of staying in the group with no fetcher."""
        app: Any = self.transport.app
        try:
            await self._fetch_and_deliver(fetcher)
        except BaseException as exc:
            if app.should_stop:  # stopping: the consumer or the fetcher task ends (as in Faust)
                self.log.info("Consumer shutting down (%r)", exc)
                return
            app.lifeline.fail(app, "fetcher", exc)
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)
            if self._aside is not None:
                self._aside.cancel()  # unacked work is read again; acked work Faust commits

    async def _fetch_and_deliver(self, fetcher: Any) -> None:  # pragma: no cover - in a worker
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            if not self.flow_active:  # here, so that the fetch below starts after any seek
                await self.wait(self.can_resume_flow)  # type: ignore[arg-type]
            seeks = self._seeks
            records, active = await self._wait_next_records(1.0)
            await self.sleep(0)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                self._commit_aside()
            if records and not self.should_stop:
                if self.flow_active and seeks == self._seeks:
                    await self._deliver_unless_suspended(records, active)
                else:
                    await self._drop(records)
            self.diag.unset_flag(CONSUMER_FETCHING)

    def _commit_aside(self) -> None:
        """Faust's commit every ``broker_commit_every`` acks, in a task of its own: Faust awaits
        it in the fetch loop, so no record was fetched or delivered for the commit's round trip
        (16-51 ms at 2,000 posts/s, s12p), and the posts that came meanwhile waited it out.
        Acks still come only after a batch's writes, and a commit only covers acked offsets,
        so what is committed is unchanged; Faust lets one commit run at a time (a second
        waits for the first and returns), as with its periodic commit, which already runs
        beside the fetches. A commit that fails stops the worker, as in the fetch loop."""
        if self._aside is not None and not self._aside.done():
            return  # the one under way, or the periodic one after it, takes these acks too
        task = asyncio.ensure_future(self.commit())
        task.add_done_callback(self._commit_aside_done)
        self._aside = task

    def _commit_aside_done(self, task: asyncio.Future[bool]) -> None:
        app: Any = self.transport.app
        exc = None if task.cancelled() else task.exception()
        if exc is not None and not app.should_stop:
            app.lifeline.fail(app, "fetcher", exc)

    async def _drop(self, records: Any) -> None:
        """Records fetched while flow was suspended or across a seek (a rebalance completed
        while they came back from the consumer thread): seek back to the committed offsets,
        as Faust's ``getmany`` does, so they come again. Delivered, they could jump ahead of
        the read position, and the skipped offsets would pass for holes in the log, committed
        without being counted; dropped without a seek, the consumer's position would be past
        them."""
        self.log.info("Dropped %d records fetched across a rebalance; seeking back to the "
                      "committed offsets", sum(len(r) for r in records.values()))
        try:
            await self.perform_seek()
        except Exception as exc:  # the rebalance under way seeks them again
            self.log.warning("seek back to the committed offsets failed: %r", exc)

    async def perform_seek(self) -> None:
        """Faust's seek back to the committed offsets, also for partitions without any: aiokafka
        leaves those where they are, past records that were fetched and then dropped (a
        delivery a rebalance interrupted, a stale fetch), which then never came again, and
        the offsets in Redis would skip them as applied once later records were. Read from the
        start instead, as a new group does."""
        self._seeks += 1  # before and after: any fetch overlapping the seek is stale
        self._waiting.clear()
        try:
            committed = await self.seek_to_committed()
            unset = [tp for tp, offset in committed.items() if not offset]
            if unset:
                await self._thread.seek_to_beginning(*unset)
            self._read_offset.update({
                tp: offset if offset is not None and offset >= 0 else None
                for tp, offset in committed.items()})
            # Never lower it: a commit that completed while the committed offsets were read
            # has pruned its acks, and an older value would then block every later commit.
            known = self._committed_offset
            self._committed_offset.update({ensure_TP(tp): max(offset, known[ensure_TP(tp)] or 0)
                                           for tp, offset in committed.items() if offset})
        finally:
            self._seeks += 1

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Commit what was acked, then let Faust give the partitions up. Faust forgets the acks
        of revoked partitions first thing (and, with ``stream_wait_empty`` off, commits
        nothing on a revoke), so every rebalance had the partitions' next owners (this worker
        too: the eager protocol revokes all) score again up to a commit interval of work
        that was applied already. What is scored again is now the batches in flight only."""
        self._waiting.clear()  # the channel is cleared on resume: nothing more goes there
        try:
            await asyncio.wait_for(self._commit_acked(), REVOKE_COMMIT_TIMEOUT_S)
        except Exception as exc:  # its records are read again and skipped in Redis: harmless
            self.log.warning("commit before giving up partitions failed: %r", exc)
        await super().on_partitions_revoked(revoked)

    async def _commit_acked(self) -> None:
        # A commit under way (the periodic one) makes ``commit`` return at once when it is
        # done, without the acks that came after it started: wait for it, then commit.
        await self.maybe_wait_for_commit_to_finish()
        await self.commit()

    async def seek(self, partition: TP, offset: int) -> None:
        self._seeks += 1
        try:
            await super().seek(partition, offset)
        finally:
            self._seeks += 1

    async def _deliver_unless_suspended(self, records: Any, active: set[TP] | None) -> None:
        """``_deliver``, abandoned when flow is suspended (a rebalance) or the consumer stops.

        An abandoned delivery is dropped unacked, as Faust drops the events of an interrupted
        fetch: the rebalance seeks every partition the worker keeps back to its committed offset,
        and the others' next owners start there, so the records come again. Faust's loop waits
        with ``wait_first``, which re-raises the delivery's cancellation when a rebalance
        suspends flow and clears the agent's channel in one step (``flow_control.clear``
        cancels the put blocked on the full channel): raised from here, it killed the fetcher.
        """
        delivery = asyncio.ensure_future(self._deliver(records, active))
        interrupts = [asyncio.ensure_future(event.wait())
                      for event in (self.suspend_flow, self._stopped, self._crashed)]
        try:
            await asyncio.wait([delivery, *interrupts], return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this task itself is cancelled
            for future in (delivery, *interrupts):
                future.cancel()
        if delivery.done() and not delivery.cancelled():
            delivery.result()  # an error of our own (not an interruption) is still raised

    async def _deliver(self, records: Any, active: set[TP] | None) -> None:
        """One fetch: batch topics' records as one ``FetchedBatch`` per topic, the others
        message by message as Faust does (``Consumer.getmany`` + ``_drain_messages``)."""
        routes: dict[str, Any] = self.app.batch_routes  # type: ignore[attr-defined]
        generation_id = self.app.consumer_generation_id
        batches: dict[str, tuple[RecordBatch, list[tuple[TP, list[int]]]]] = {}
        for tp, tp_records in records.items():
            if not tp_records or not (active is None or tp in active
                                      or tp in self._buffered_partitions):
                continue
            if tp.topic not in routes:
                await self._deliver_one_by_one(tp, tp_records)
                continue
            offsets = await self._unread_offsets(tp, [r.offset for r in tp_records])
            if len(offsets) < len(tp_records):  # re-fetched after a seek: drop what was read
                tp_records = tp_records[len(tp_records) - len(offsets):]
            if not offsets:
                continue
            batch, acks = batches.setdefault(tp.topic, (RecordBatch(tp.topic, [], [], [], []), []))
            batch.values += [r.value for r in tp_records]
            batch.partitions += [tp.partition] * len(offsets)
            batch.offsets += offsets
            batch.timestamps_s += [r.timestamp / 1000.0 for r in tp_records]
            acks.append((tp, offsets))
        limit = self.app.conf.broker_max_poll_records or 0
        for topic, (batch, acks) in batches.items():
            fetched = FetchedBatch(batch, acks, generation_id)
            # A batch still waiting for the agent takes this fetch's records in, instead of
            # the fetcher holding them blocked on the full channel: otherwise a record fetched
            # while the agent prepared batch k went in batch k+2, behind k+1, one batch's
            # preparation later than needed (README "Throughput of one worker", s11p).
            waiting, seeks = self._waiting.get(topic, (None, -1))
            if waiting is not None and seeks == self._seeks and waiting.absorb(fetched, limit):
                continue
            await routes[topic].put(fetched)
            self._waiting[topic] = (fetched, self._seeks)

    async def _unread_offsets(self, tp: TP, offsets: list[int]) -> list[int]:
        """The offsets at or after the read position (Faust's test), noting real holes in the
        offsets (transaction markers, compaction) as gaps so that commits can pass them."""
        read = self._read_offset[tp]
        if read is not None and offsets[0] < read:
            offsets = [o for o in offsets if o >= read]
            if not offsets:
                return offsets
        previous = read if read is not None else offsets[0] - 1
        if offsets[-1] - previous != len(offsets):  # not previous+1 .. previous+len
            for offset in offsets:
                if read is not None and offset - previous > 1:
                    await self._add_gap(tp, previous + 1, offset - 1)
                previous = offset
        self._read_offset[tp] = offsets[-1]
        return offsets

    async def _deliver_one_by_one(self, tp: TP, tp_records: list[Any]) -> None:
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        for record in tp_records:
            message = self._to_message(tp, record)
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                await callback(message)
                read_offset[tp] = offset
            await asyncio.sleep(0)

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        """Faust's commit (its periodic loop and ours), timed as the ``commit`` stage."""
        started = time.perf_counter()
        try:
            return bool(await super().commit(*args, **kwargs))
        finally:
            stages: StageClock | None = getattr(self.app, "stages", None)
            if stages is not None:
                stages.add("commit", time.perf_counter() - started)

    def ack_batch(self, fetched: FetchedBatch) -> None:
        """``Consumer.ack`` for every record of a batch, in one step."""
        acks_enabled_for = self.app.topics.acks_enabled_for
        with ack_lock:
            for tp, offsets in fetched.offsets_by_tp:
                if not acks_enabled_for(tp.topic):
                    continue
                committed = self._committed_offset[tp]
                index = self._acked_index[tp]
                new = [o for o in offsets
                       if o not in index and (committed is None or o >= committed)]
                index.update(new)
                self._acked[tp].extend(new)
                self._n_acked += len(new)
            notify(self._waiting_for_ack)


class LeanTransport(faust_aiokafka.Transport):
    Consumer = LeanConsumer


class LeanApp(faust.App):
    """A Faust app whose consumer is ``LeanConsumer``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_routes: dict[str, faust.ChannelT[Any]] = {}
        self.lifeline = Lifeline()
        self.stages: StageClock | None = None  # where the consumer times its commits
        self.fetch_max_wait_ms = FETCH_MAX_WAIT_MS

    def batch_channel(self, topic: faust.TopicT, maxsize: int = 1
                      ) -> faust.ChannelT[Any]:
        """A channel of ``FetchedBatch`` for ``topic``, which is subscribed as if an agent
        consumed it. ``maxsize``: batches waiting for the agent before fetching pauses."""
        channel = self.channel(maxsize=maxsize)
        for name in topic.topics:
            self.batch_routes[name] = channel
        self.topics.add(topic)
        return channel

    def ack_batch(self, fetched: FetchedBatch) -> None:
        consumer: Any = self.consumer
        consumer.ack_batch(fetched)

    def _new_transport(self) -> Any:
        return LeanTransport(self.conf.broker_consumer, self)


# -- What this module borrows from Faust and aiokafka --
# Private names of faust-streaming 0.15 and aiokafka (pinned in pyproject.toml): an upgrade may
# rename or reshape them without notice. tests/stream/test_faust_fence.py checks every one
# against the installed libraries, without a broker, and names what changed; keep this list in
# step with the code above. (The module-level names imported at the top fail at import.)

# (class, method, parameters): the methods overridden or called above.
BORROWED_METHODS: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (faust_aiokafka.Consumer, "_drain_messages", ("self", "fetcher")),  # overridden
    (faust_aiokafka.Consumer, "_new_consumer_thread", ("self",)),  # overridden
    (faust_aiokafka.Consumer, "_wait_next_records", ("self", "timeout")),
    (faust_aiokafka.Consumer, "_to_message", ("self", "tp", "record")),
    (faust_aiokafka.Consumer, "_add_gap", ("self", "tp", "offset_from", "offset_to")),
    (faust_aiokafka.Consumer, "on_partitions_revoked", ("self", "revoked")),  # overridden
    (faust_aiokafka.Consumer, "maybe_wait_for_commit_to_finish", ("self",)),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer",
     ("self", "transport")),  # overridden
    (faust_aiokafka.AIOKafkaConsumerThread, "seek_to_beginning", ("self", "*partitions")),
    (faust.App, "_new_transport", ("self",)),  # overridden
)
# Attributes of Faust's consumer read or written above (set by its constructor).
BORROWED_CONSUMER_ATTRIBUTES: tuple[str, ...] = (
    "_stopped", "_crashed", "_commit_every", "_n_acked", "_read_offset", "_committed_offset",
    "_acked_index", "_acked", "_waiting_for_ack", "_buffered_partitions", "_thread")
# Of Faust's fetcher service: its stop event.
BORROWED_FETCHER_ATTRIBUTES: tuple[str, ...] = ("_stopped",)
# Of aiokafka's consumer: set after its construction, read when it starts its fetcher.
BORROWED_AIOKAFKA_ATTRIBUTES: tuple[str, ...] = ("_fetch_max_wait_ms",)
