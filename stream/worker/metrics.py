"""Prometheus metrics of one worker, in a registry of its own (served on /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from stream.worker.timings import StageClock

_SIZE_BUCKETS = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_TIME_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.posts_in = Counter("sentistream_posts_in", "records consumed from the posts topic",
                                registry=r)
        self.scored = Counter("sentistream_posts_scored", "valid posts scored and aggregated",
                              registry=r)
        self.dead_letters = Counter("sentistream_dead_letters", "records sent to dead letters",
                                    ["reason"], registry=r)
        self.batch_size = Histogram("sentistream_batch_size", "records per batch",
                                    buckets=_SIZE_BUCKETS, registry=r)
        self.model_seconds = Histogram("sentistream_model_seconds",
                                       "tokenize + model time per batch", buckets=_TIME_BUCKETS,
                                       registry=r)
        self.batch_seconds = Histogram("sentistream_batch_seconds",
                                       "whole batch: parse, score, write, produce",
                                       buckets=_TIME_BUCKETS, registry=r)
        self.e2e_delay = Histogram(
            "sentistream_e2e_delay_seconds",
            "per batch, the largest delay from a post's Kafka record time (its send time) to "
            "the aggregate write", buckets=_TIME_BUCKETS, registry=r)
        self.event_age = Gauge("sentistream_event_age_seconds",
                               "age of the newest created_at of the last batch at write time",
                               registry=r)
        self.lag = Gauge("sentistream_consumer_lag", "records behind the end of the partition",
                         ["partition"], registry=r)
        self.redis_retries = Counter("sentistream_redis_retries",
                                     "failed Redis writes that were retried", registry=r)
        self.kafka_retries = Counter("sentistream_kafka_retries",
                                     "failed dead-letter/scored produces that were retried",
                                     registry=r)
        self.redelivered = Counter("sentistream_redelivered_groups",
                                   "brand groups already applied (skipped) or partly applied",
                                   ["outcome"], registry=r)
        self.batch_splits = Counter(
            "sentistream_batch_splits", "batches processed in halves because a step raised on "
            "them (down to the one record, dead-lettered as invalid_record)", registry=r)
        self.brands = Gauge("sentistream_brands", "brands in the brand index when last asked "
                            "(limit: SENTISTREAM_MAX_BRANDS_TOTAL)", registry=r)
        self.brands_refused = Counter(
            "sentistream_brands_refused", "new brands refused because the brand index was full "
            "(their posts count in _all and _overflow)", registry=r)
        self.brands_reloads = Counter("sentistream_brands_reloads", "brands file reloads",
                                      registry=r)
        self.scorer_restarts = Counter(
            "sentistream_scorer_restarts", "scoring processes replaced after dying or hanging "
            "(SENTISTREAM_SCORER_PROCESS=1)", registry=r)
        self.gc_frozen = Gauge(
            "sentistream_gc_frozen_objects", "objects of the start-up heap frozen out of the "
            "garbage collector after the first batch (stream.worker.heap)", registry=r)
        self.stages = StageClock(r)  # per-step seconds of each batch (stream.worker.timings)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
