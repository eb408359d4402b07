"""The demo's live table: `_all` and the busiest brands of the last 15 minutes, from Redis."""

from __future__ import annotations

import json
import time
from collections import Counter

from sentistream.settings import Settings
from stream.readers.demo import WINDOW_S, render, window_table
from stream.schema.counts import BucketCounts
from stream.schema.keys import window_buckets
from stream.worker.posts import RawRecord
from tests.query.brand_load import load_brands
from tests.stream.test_sink import processor


def _record(offset: int, brand: str, created: float, now: float) -> RawRecord:
    value = json.dumps({"id": f"d{offset}", "text": f"post about {brand}", "brand": brand,
                        "created_at": created})
    return RawRecord(value.encode(), "t.posts", 0, offset, now)


async def test_window_table_sums_the_last_fifteen_minutes(isolated: Settings) -> None:
    now = time.time()
    times = [now - 30, now - 40, now - 600, now - 1200, now - 3600]  # the last two: too old
    records = [_record(i, "acme", t, now) for i, t in enumerate(times)]
    records.append(_record(len(records), "stale", now - 3600, now))
    proc = processor(isolated, [])
    await proc.process(records)
    await proc.sink.close()
    rows = await window_table(isolated, now)
    assert [brand for brand, _ in rows] == ["_all", "acme"]  # `stale` had no post in the window
    acme = rows[1][1]
    assert acme.n == 3 and acme.pos + acme.neu + acme.neg == 3
    assert rows[0][1].n == 3
    table = render(rows)
    assert "acme" in table and f"{(acme.pos - acme.neg) / 3:+.2f}" in table


async def test_window_table_shows_the_busiest_brands_not_every_brand(
        isolated: Settings) -> None:
    now = time.time()
    records = await load_brands(isolated, 300, now=now)
    first = window_buckets(now, WINDOW_S, "m")[0]
    counts = Counter(doc["brand"] for doc in (json.loads(r.value or b"") for r in records)
                     if doc["created_at"] >= first)
    busiest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    rows = await window_table(isolated, now, limit=4)
    assert [(brand, agg.n) for brand, agg in rows] == [("_all", sum(counts.values())), *busiest]
    assert {brand for brand, _ in busiest[:3]} == {"busy1", "busy2", "busy3"}


def test_render_shows_a_dash_for_a_window_without_posts() -> None:
    table = render([("_all", BucketCounts())])
    assert table.splitlines()[1].split() == ["_all", "0", "0", "0", "0", "-", "-"]
