"""Offline ground truth of a known input, and what the worker actually left in Redis.

The truth is computed with the pipeline's own pure functions (``validate``: parsing, the brands
file's ``BrandMatcher`` and the limits; the shipped ``SentimentScorer``, ``batch_deltas``), on
the whole input as one batch: the sums are order-independent and the model's scores do not
depend on the batch (checked: identical probabilities for a post scored alone or in any batch).
Nothing is reimplemented, so a difference can only come from how the worker delivered and
applied the records.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

from sentistream.settings import Settings
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, POLARITIES, KeyScheme
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.languages import route_posts
from stream.worker.main import load_scorer
from stream.worker.pipeline import validate
from stream.worker.posts import RawRecord

Cell = tuple[str, str, int]  # (brand, resolution or "total", bucket start)
TopKey = tuple[str, str, int]  # (brand, polarity, hour)


@dataclass
class Aggregates:
    """Everything a run is judged on: buckets, totals, top sets and dead-letter counts."""

    cells: dict[Cell, dict[str, int]] = field(default_factory=dict)
    tops: dict[TopKey, list[tuple[bytes, float]]] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)

    @property
    def posts(self) -> int:
        return self.cells.get((ALL_BRANDS, "total", 0), {}).get("n", 0)


def expected(settings: Settings, values: list[bytes]) -> Aggregates:
    """The truth of an input whose posts all carry ``created_at`` (no record time needed)."""
    return expected_of([RawRecord(v, "truth", 0, i, 1.7e9) for i, v in enumerate(values)],
                       settings)


def records_in_topic(settings: Settings, n: int, timeout_s: float = 60.0) -> list[RawRecord]:
    """The first ``n`` records of the posts topic as the broker holds them, with their record
    times: the truth of posts without ``created_at`` depends on them."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    parts = [TopicPartition(settings.topic_posts, p) for p in range(settings.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    out: list[RawRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            out += [RawRecord(m.value, m.topic, m.partition, m.offset, m.timestamp / 1000.0)
                    for m in batch]
    consumer.close()
    return out


def expected_of(records: list[RawRecord], settings: Settings) -> Aggregates:
    brands_file = BrandsFile(Path(settings.brands_file) if settings.brands_file else None)
    posts, brands, rejected = validate(records, settings, brands_file.current())
    out = Aggregates(dead=dict(Counter(r.reason for r in rejected)))
    if not len(posts):
        return out
    scored = route_posts(load_scorer(settings), posts)  # as the worker routes and scores
    candidates: dict[TopKey, dict[bytes, float]] = {}
    for d in batch_deltas(posts, brands, np.asarray(scored.labels), scored.intensity,
                          settings.top_posts):
        # One delta per (brand, partition): merge the partitions.
        _merge(out.cells, (d.brand, "total", 0), d.total)
        for (res, start), agg in d.buckets.items():
            _merge(out.cells, (d.brand, res, start), agg)
        for c in d.top:
            candidates.setdefault((d.brand, c.polarity, c.hour), {})[c.member.encode()] = c.score
    for key, members in candidates.items():
        out.tops[key] = _redis_top(members, key[1], settings.top_posts)
    return out


def _merge(cells: dict[Cell, dict[str, int]], cell: Cell, agg: BucketCounts) -> None:
    have = cells.get(cell)
    cells[cell] = agg.fields() if have is None else {k: v + have[k] for k, v in
                                                      agg.fields().items()}


def _redis_top(members: dict[bytes, float], polarity: str, k: int) -> list[tuple[bytes, float]]:
    """What a Redis sorted set trimmed to ``k`` keeps: order by (score, member bytes)."""
    ranked = sorted(((score, m) for m, score in members.items()))
    kept = ranked[-k:] if polarity == "pos" else ranked[:k]
    return [(m, s) for s, m in kept]


def actual(settings: Settings, want: Aggregates | None = None) -> Aggregates:
    """Every bucket, total, top set and dead-letter count the worker wrote under the prefix:
    found through the brand and bucket indexes, plus every key ``want`` names, read directly
    (an index drops buckets older than its retention, counted from the newest bucket of one
    write; which old buckets it still lists then depends on the order of the batches)."""
    client: Any = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    keys = KeyScheme(settings.redis_prefix)
    out = Aggregates(dead={k.decode(): int(v) for k, v in
                           client.hgetall(keys.dead_letters).items()})
    for raw in client.zrange(keys.brands, 0, -1):
        brand = raw.decode()
        out.cells[(brand, "total", 0)] = _fields(client.hgetall(keys.total(brand)))
        for res in ("m", "h", "d"):
            for start in client.zrange(keys.bucket_index(brand, res), 0, -1):
                cell = (brand, res, int(start))
                out.cells[cell] = _fields(client.hgetall(keys.bucket(brand, res, int(start))))
        for hour in client.zrange(keys.bucket_index(brand, "h"), 0, -1):
            for polarity in POLARITIES:
                members = client.zrange(keys.top(brand, polarity, int(hour)), 0, -1,
                                        withscores=True)
                if members:
                    out.tops[(brand, polarity, int(hour))] = [(m, float(s)) for m, s in members]
    for brand, res, start in (want.cells if want else {}):
        if (brand, res, start) not in out.cells:
            key = keys.total(brand) if res == "total" else keys.bucket(brand, res, start)
            if fields := client.hgetall(key):
                out.cells[(brand, res, start)] = _fields(fields)
    for brand, polarity, hour in (want.tops if want else {}):
        if (brand, polarity, hour) not in out.tops:
            members = client.zrange(keys.top(brand, polarity, hour), 0, -1, withscores=True)
            if members:
                out.tops[(brand, polarity, hour)] = [(m, float(s)) for m, s in members]
    return out


def _fields(raw: dict[Any, Any]) -> dict[str, int]:
    return BucketCounts.from_fields(raw).fields()


@dataclass(frozen=True)
class Verdict:
    posts: int  # valid posts in the input
    lost: int
    double_counted: int
    dead_expected: int
    dead_actual: int
    mismatched_cells: int
    mismatched_tops: int
    dead_reasons_equal: bool

    @property
    def exact(self) -> bool:
        return (self.lost == 0 and self.double_counted == 0 and self.mismatched_cells == 0
                and self.mismatched_tops == 0 and self.dead_reasons_equal)


def compare(want: Aggregates, got: Aggregates) -> Verdict:
    """Lost / double-counted posts from the ``_all`` minute buckets (a post missing in one
    minute and an extra one in another cannot cancel out), plus every other cell and set."""
    lost = double = 0
    minutes = {c for c in want.cells.keys() | got.cells.keys()
               if c[0] == ALL_BRANDS and c[1] == "m"}
    for cell in minutes:
        diff = got.cells.get(cell, {}).get("n", 0) - want.cells.get(cell, {}).get("n", 0)
        lost += max(0, -diff)
        double += max(0, diff)
    empty = BucketCounts().fields()
    bad_cells = sum(1 for c in want.cells.keys() | got.cells.keys()
                    if want.cells.get(c, empty) != got.cells.get(c, empty))
    bad_tops = sum(1 for t in want.tops.keys() | got.tops.keys()
                   if want.tops.get(t, []) != got.tops.get(t, []))
    return Verdict(want.posts, lost, double, sum(want.dead.values()), sum(got.dead.values()),
                   bad_cells, bad_tops, want.dead == got.dead)
