"""The Faust app: the posts topic, the scoring agent and the worker's /metrics and /health pages.

The agent receives each Kafka fetch of the posts topic as one batch of raw bytes (see
``stream.worker.batch_consumer``), so invalid JSON or UTF-8 reaches the batch processor as data. It
acks a batch only after ``BatchProcessor.process`` has returned, that is after the Redis write and
the Kafka produces succeeded. (Faust's ``take`` would ack a batch even when the loop body is
interrupted, e.g. by a shutdown during a Redis outage, and so lose it.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import faust
from faust.types import TP

from sentistream.kafka_security import faust_credentials
from sentistream.redact import redact_url
from sentistream.settings import Settings
from stream.worker.batch_consumer import FetchedBatch, LeanApp
from stream.worker.heap import HeapSettler
from stream.worker.metrics import WorkerMetrics
from stream.worker.pipeline import BatchProcessor, PreparedBatch, Scorer, Started
from stream.worker.scoring import ProcessScoring
from stream.worker.sink import RedisSink
from stream.worker.timings import BatchLife
from stream.worker.write_chain import WriteChain

log = logging.getLogger(__name__)


def app_id(settings: Settings) -> str:
    """The consumer group: one per posts topic, so workers of one topic share its partitions."""
    return f"sentistream-{settings.topic_posts}"


def create_app(settings: Settings, scorer: Scorer | ProcessScoring) -> LeanApp:
    app = LeanApp(
        app_id(settings),
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        web_port=settings.worker_web_port,
        web_bind=settings.worker_web_bind,  # loopback unless told: /metrics, /router, /table
        broker_credentials=faust_credentials(settings),  # SASL/TLS as configured (or None)
        web_in_thread=False,
        datadir=str(settings.state_dir / "faust"),
        autodiscover=False,
        # A crashed worker's partitions move to the others after this long (Faust's default
        # is 60 s). Heartbeats stay on time because scoring runs off the event loop.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        broker_commit_interval=settings.commit_interval_s,
        # Stop and rebalance without waiting for in-flight batches to be acked: during a Redis
        # outage they never would be. Their records are redelivered, and deduplicated by the
        # offsets in Redis.
        stream_wait_empty=False,
        # A fetch is a batch (stream.worker.batch_consumer): at most this many records, fewer when
        # fewer wait, so a quiet stream is scored at once instead of after a batching timeout.
        broker_max_poll_records=settings.batch_size,
        # The scored and dead-letter produces (``produce`` below) fill whole record batches:
        # at aiokafka's 16 KB a worker batch's ~1 MB of scored records went as dozens of
        # batches, each in a produce request of its own after the previous one's ack (one in
        # flight per partition), and the broker's CPU per post followed the request count.
        producer_max_batch_size=settings.produce_batch_bytes,
        producer_max_request_size=max(settings.produce_batch_bytes, 1_000_000),
        producer_compression_type=(None if settings.produce_compression == "none"
                                   else settings.produce_compression),
    )
    metrics = WorkerMetrics()
    sink = RedisSink(settings)
    # Raw bytes: the batch path never decodes through Faust (stream.worker.posts parses them).
    topic = app.topic(settings.topic_posts, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    async def produce(topic_name: str,
                      records: Sequence[tuple[bytes | None, bytes, int]]) -> None:
        """Send records in whole batches per partition; returns when the broker has them all.

        Per-record sends cost ~10x more CPU than filling aiokafka batches ourselves. Output
        records go to the partition number of their source post (mod the topic's own count,
        which may differ if the topic was created elsewhere).
        """
        faust_producer: Any = app.producer
        producer = faust_producer._ensure_producer()  # the AIOKafkaProducer Faust manages
        partitions = sorted(await producer.partitions_for(topic_name))
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for key, value, source in records:
            partition = partitions[source % len(partitions)]
            by_partition.setdefault(partition, []).append((key, value))
        futures = []
        for partition, items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:  # batch full
                    futures.append(await producer.send_batch(batch, topic_name,
                                                             partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            futures.append(await producer.send_batch(batch, topic_name, partition=partition))
        await asyncio.gather(*futures)

    processor = BatchProcessor(settings, scorer, sink, produce, metrics)
    if isinstance(scorer, ProcessScoring):
        scorer.on_restart = metrics.scorer_restarts.inc
    app.stages = metrics.stages  # the consumer times its offset commits there
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    metrics.stages.start_trace(settings.stage_trace)

    stages = metrics.stages
    heap = HeapSettler()

    def start_write(chain: WriteChain, prepared: PreparedBatch, fetched: FetchedBatch,
                    life: BatchLife | None = None) -> asyncio.Future[None]:
        """The batch's writes, after the previous batch's Redis writes (``chain.ready``); it is
        acked once they are done and the batch before it is acked."""
        if life is not None:
            life.stamp("writing")

        async def redis_part() -> Awaitable[None]:
            rest = await processor.write_redis(prepared)
            if life is not None:
                life.stamp("redis")
            return rest

        def ack() -> None:
            with stages.time("ack"):
                app.ack_batch(fetched)
                _update_lag(app, metrics, settings.topic_posts, processor.last_offsets)
            if life is not None:
                life.stamp("acked")
            stages.batch_done(len(fetched.records))
            frozen = heap.settle_once()  # once, after the first batch (stream.worker.heap)
            if frozen is not None:
                metrics.gc_frozen.set(frozen)

        def failed(task: asyncio.Future[None]) -> None:
            # Unacked: no later offset of its partitions commits; the worker exits.
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not app.should_stop:
                app.lifeline.fail(app, "batch writer", exc)

        task = chain.start(redis_part, ack)
        task.add_done_callback(failed)
        return task

    async def current_batches(batches: Any) -> AsyncIterator[FetchedBatch]:
        """The fetched batches of the current consumer generation, timing the wait for each
        (``fetch_wait``: from when the agent asks for the next batch until it comes). A batch
        fetched before a rebalance is dropped unacked: its partitions may be another worker's
        now, and Faust seeks back to the committed offsets, so it comes again if ours."""
        waited_from = time.perf_counter()
        async for fetched in batches:
            fetched.taken = True  # before any await: the fetcher adds no more to it
            stages.add("fetch_wait", time.perf_counter() - waited_from)
            if fetched.generation_id == app.consumer_generation_id:
                yield fetched
            waited_from = time.perf_counter()

    async def finish_and_write(begun: asyncio.Queue[tuple[Started, FetchedBatch]]) -> None:
        """With a scoring process: builds and writes, in fetch order, the batches the agent
        began (their scoring under way in the child), each write after the one before."""
        chain = WriteChain()
        try:
            while True:
                started, fetched = await begun.get()
                prepared = await processor.finish(started)
                with stages.time("write_wait"):  # the Redis writes of the batch before
                    await chain.ready()
                start_write(chain, prepared, fetched)
        except BaseException as exc:
            if not app.should_stop and not isinstance(exc, asyncio.CancelledError):
                app.lifeline.fail(app, "batch builder", exc)
            raise
        finally:
            chain.cancel()  # the writes under way, unacked: read again from the committed offsets

    async def score_in_process(batches: Any) -> None:
        """The agent with a scoring process (SENTISTREAM_SCORER_PROCESS=1), one batch deeper:
        it parses batch k+1 and hands it to the child while ``finish_and_write`` builds and
        writes batch k. At most one begun batch waits for the builder (the queue's bound),
        so at most ~3 batches are scored ahead of the one being written."""
        begun: asyncio.Queue[tuple[Started, FetchedBatch]] = asyncio.Queue(maxsize=1)
        builder = asyncio.ensure_future(finish_and_write(begun))
        try:
            async for fetched in current_batches(batches):
                started = await processor.begin(fetched.records)
                if builder.done():
                    started.cancel()
                    await builder  # raises what stopped it
                await begun.put((started, fetched))
        finally:
            builder.cancel()  # and with it the write in flight; all unacked
            while not begun.empty():
                begun.get_nowait()[0].cancel()

    @app.agent(app.batch_channel(topic), concurrency=1)
    async def score_posts(batches: Any) -> None:
        """Batch k+1 is parsed and scored while the writes of batch k are in flight
        (SENTISTREAM_OVERLAP_WRITES): those wait on Redis's fsync and the broker's acks, not
        on this process. Writes stay one at a time and in fetch order, and each batch is acked
        by its own writer once its writes are done."""
        if isinstance(scorer, ProcessScoring):
            try:
                await score_in_process(batches)
            except BaseException as exc:
                if not app.should_stop:
                    app.lifeline.fail(app, "scoring agent", exc)
                raise
            return
        chain = WriteChain()
        try:
            async for fetched in current_batches(batches):
                life = stages.batch_life(fetched.ranges(), fetched.fetched_at, time.time())
                prepared = await processor.prepare(fetched.records)
                if life is not None:
                    life.stamp("prepared")
                with stages.time("write_wait"):  # the Redis writes of the batch before
                    await chain.ready()
                writing = start_write(chain, prepared, fetched, life)
                if not settings.overlap_writes:
                    await asyncio.shield(writing)  # all of them, acked, before the next fetch
        except BaseException as exc:
            # The batch in hand is unacked: restarted in place (Faust's default), the agent
            # would go on without it and no later offset of its partitions could be committed.
            if not app.should_stop:
                app.lifeline.fail(app, "scoring agent", exc)
            raise
        finally:
            chain.cancel()  # the writes under way, unacked: read again from the committed offsets

    @app.task  # type: ignore[untyped-decorator]
    async def check_redis() -> None:
        await sink.ping()  # fail loudly at start-up rather than at the first batch
        log.info("worker %s: Redis at %s answers; scoring with model %s", app.conf.id,
                 redact_url(settings.redis_url), scorer.version)

    if settings.stage_trace:
        @app.task  # type: ignore[untyped-decorator]
        async def watch_loop() -> None:
            """Traced only: how late the event loop wakes a 5 ms sleep (``loop_late``, when
            over 2 ms): the time something held the loop, which every batch waited out."""
            while True:
                asked = time.perf_counter()
                await asyncio.sleep(0.005)
                late = time.perf_counter() - asked - 0.005
                if late > 0.002:
                    stages.add("loop_late", late)

    @app.page("/metrics")
    async def metrics_page(self: Any, request: Any) -> Any:
        return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/stages/trace")
    async def trace_page(self: Any, request: Any) -> Any:
        """The kept timings (SENTISTREAM_STAGE_TRACE): [[wall time at end, stage, seconds]].
        With tracing off it answers 404 and says how to turn it on: an empty list would read
        as "no step was slow"."""
        if not settings.stage_trace:
            return self.json({"error": "this worker keeps no step timings: start it with "
                                       "SENTISTREAM_STAGE_TRACE=<timings to keep>, e.g. 20000"},
                             status=404)
        return self.json(metrics.stages.traced())

    @app.page("/stages/batches")
    async def batches_page(self: Any, request: Any) -> Any:
        """The kept batch lives (SENTISTREAM_STAGE_TRACE; thread scoring only): each batch's
        offset ranges and when it was fetched, taken, prepared, written, in Redis and acked."""
        if not settings.stage_trace:
            return self.json({"error": "this worker keeps no batch lives: start it with "
                                       "SENTISTREAM_STAGE_TRACE=<timings to keep>"}, status=404)
        return self.json(metrics.stages.traced_lives())

    @app.page("/health")
    async def health_page(self: Any, request: Any) -> Any:
        try:
            await sink.ping()
            redis_ok = True
        except Exception:
            redis_ok = False
        assigned = sorted(tp.partition for tp in app.consumer.assignment()
                          if tp.topic == settings.topic_posts)
        body = {"status": "ok" if redis_ok else "degraded", "redis": redis_ok,
                "partitions": assigned, "model_version": scorer.version}
        return self.json(body, status=200 if redis_ok else 503)

    return app


def _update_lag(app: faust.App, metrics: WorkerMetrics, topic: str,
                last_offsets: dict[int, int]) -> None:
    for partition, offset in last_offsets.items():
        try:
            highwater = app.consumer.highwater(TP(topic, partition))
        except Exception:  # partition revoked meanwhile: no lag to report from here
            continue
        if highwater is not None:
            metrics.lag.labels(str(partition)).set(max(0, int(highwater) - offset - 1))
