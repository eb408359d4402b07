"""Offline ground truth of a known input, and what the worker actually left in Redis.

The truth is computed with the pipeline's own pure functions (``validate``: parsing, the brands
file's ``BrandMatcher`` and the limits; the shipped ``SentimentScorer``, ``batch_deltas``), on
the whole input as one batch: the sums are order-independent and the model's scores do not
depend on the batch (checked: identical probabilities for a post scored alone or in any batch).
Nothing is reimplemented, so a difference can only come from how the worker delivered and
applied the records.

Judged exactly: the buckets' counts and their per-language fields (``lang:*``), the totals, the
top sets and the dead-letter counts; the unique-authors HyperLogLog of every bucket, by its
``PFCOUNT`` against that of a HyperLogLog of the truth's authors (a HyperLogLog's registers do not
depend on the order of the adds, so an equal set of authors gives an equal count, and a lost
author shows). Not judged here: repost fields and driver terms, which depend on the order of
the partitions (``tests/stream/drivers/`` checks them on inputs built for it).
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
from stream.worker.driver_deltas import BatchDrivers
from stream.worker.languages import route_posts
from stream.worker.pipeline import validate
from stream.worker.posts import RawRecord
from stream.worker.scoring import load_scorer

Cell = tuple[str, str, int]  # (brand, resolution or "total", bucket start)
TopKey = tuple[str, str, int]  # (brand, polarity, hour)


@dataclass
class Aggregates:
    """Everything a run is judged on: buckets, totals, top sets and dead-letter counts."""

    cells: dict[Cell, dict[str, int]] = field(default_factory=dict)
    tops: dict[TopKey, list[tuple[bytes, float]]] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    authors: dict[Cell, int] = field(default_factory=dict)  # PFCOUNT of each bucket's authors

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
    scorer = load_scorer(settings)
    # As the worker routes and scores (its language fields too).
    scored = route_posts(scorer, posts, settings.language_id != "off")
    candidates: dict[TopKey, dict[bytes, float]] = {}
    deltas = batch_deltas(posts, brands, np.asarray(scored.labels), scored.intensity,
                          settings.top_posts)
    BatchDrivers(settings).attach(deltas, posts, brands, np.asarray(scored.labels),
                                  scored.intensity, scorer, brands_file.current())
    authors: dict[Cell, set[str]] = {}
    for d in deltas:
        # One delta per (brand, partition): merge the partitions.
        _merge(out.cells, (d.brand, "total", 0), d.total)
        for (res, start), agg in d.buckets.items():
            _merge(out.cells, (d.brand, res, start), agg)
            cell = out.cells[(d.brand, res, start)]
            flat = d.languages.get((res, start), [])  # name, value, name, value...
            for name, value in zip(flat[0::2], flat[1::2], strict=True):
                cell[name] = cell.get(name, 0) + int(value)
        for (res, start), names in (d.drivers.authors if d.drivers else {}).items():
            authors.setdefault((d.brand, res, start), set()).update(names)
        for c in d.top:
            candidates.setdefault((d.brand, c.polarity, c.hour), {})[c.member.encode()] = c.score
    for key, members in candidates.items():
        out.tops[key] = _redis_top(members, key[1], settings.top_posts)
    for cell in out.cells.values():
        _drop_zero_languages(cell)
    out.authors = _hll_counts(settings, authors)
    return out


def _hll_counts(settings: Settings, authors: dict[Cell, set[str]]) -> dict[Cell, int]:
    """PFCOUNT of a HyperLogLog of each cell's authors, built in a scratch key of the same
    Redis (the count a bucket's HyperLogLog must show when it holds exactly these)."""
    client: Any = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    scratch = f"sentistream-truth-scratch:{time.time_ns()}"
    cells = sorted(authors)
    counts: list[int] = []
    try:
        for i in range(0, len(cells), 500):
            pipe = client.pipeline(transaction=False)
            for cell in cells[i:i + 500]:
                pipe.delete(scratch)
                pipe.pfadd(scratch, *sorted(authors[cell]))
                pipe.pfcount(scratch)
            counts += pipe.execute()[2::3]
    finally:
        client.delete(scratch)
    return dict(zip(cells, counts, strict=True))


def _merge(cells: dict[Cell, dict[str, int]], cell: Cell, agg: BucketCounts) -> None:
    have = cells.get(cell)
    # Keeps the fields ``agg`` has not (a bucket's lang:* fields, merged by the caller).
    cells[cell] = agg.fields() if have is None else {**have, **{k: v + have[k] for k, v in
                                                                agg.fields().items()}}


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
    for cell in (want.authors if want else {}):
        out.authors[cell] = int(client.pfcount(keys.authors(*cell)))
    for brand, polarity, hour in (want.tops if want else {}):
        if (brand, polarity, hour) not in out.tops:
            members = client.zrange(keys.top(brand, polarity, hour), 0, -1, withscores=True)
            if members:
                out.tops[(brand, polarity, hour)] = [(m, float(s)) for m, s in members]
    return out


def _fields(raw: dict[Any, Any]) -> dict[str, int]:
    """The counts and the per-language fields of a bucket hash (not the repost fields)."""
    out = BucketCounts.from_fields(raw).fields()
    for name, value in raw.items():
        key = name.decode() if isinstance(name, bytes) else name
        if key.startswith("lang:"):
            out[key] = int(value)
    return _drop_zero_languages(out)


def _drop_zero_languages(cell: dict[str, int]) -> dict[str, int]:
    """Without its lang:* fields that are 0: whether such a field exists depends on the batching
    (the worker writes a batch's non-zero language sums only, so intensities that cancel within
    one batch leave no field, and across two batches a field holding 0)."""
    for key in [k for k, v in cell.items() if v == 0 and k.startswith("lang:")]:
        del cell[key]
    return cell


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
    mismatched_authors: int = 0  # buckets whose unique-authors count differs from the truth's

    @property
    def exact(self) -> bool:
        return (self.lost == 0 and self.double_counted == 0 and self.mismatched_cells == 0
                and self.mismatched_tops == 0 and self.dead_reasons_equal
                and self.mismatched_authors == 0)


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
    bad_authors = sum(1 for c in want.authors.keys() | got.authors.keys()
                      if want.authors.get(c, 0) != got.authors.get(c, 0))
    return Verdict(want.posts, lost, double, sum(want.dead.values()), sum(got.dead.values()),
                   bad_cells, bad_tops, want.dead == got.dead, bad_authors)
