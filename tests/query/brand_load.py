"""Many brands written through the worker's own write path (BatchProcessor and its scripts).

Kafka is a list here and the model a deterministic stand-in (tests/stream/test_sink.py): what
matters to the read side is what the apply script leaves in Redis, which is the real thing.
"""

from __future__ import annotations

import json
import random
import time

from sentistream.settings import Settings
from stream.worker.posts import RawRecord
from tests.stream.test_sink import processor

BUSY = [f"busy{i}" for i in range(1, 4)]


def brand_records(singles: int, busy_posts: int, now: float, seed: int = 5,
                  partitions: int = 3) -> list[RawRecord]:
    """One post for each of ``singles`` brands, ``busy_posts`` for each busy brand (busy1 the
    most), all in the last 50 minutes, spread over ``partitions``."""
    rng = random.Random(seed)
    posts = [(f"brand{i:06d}", i) for i in range(singles)]
    for rank, brand in enumerate(BUSY):
        posts += [(brand, j) for j in range(busy_posts - rank)]
    rng.shuffle(posts)
    out, offsets = [], [0] * partitions
    for i, (brand, j) in enumerate(posts):
        value = json.dumps({"id": f"{brand}-{j}", "text": f"post {i} about {brand}",
                            "brand": brand, "created_at": now - rng.uniform(0, 3000)})
        part = rng.randrange(partitions)
        out.append(RawRecord(value.encode(), "t.posts", part, offsets[part], now))
        offsets[part] += 1
    return out


async def load_brands(settings: Settings, singles: int, busy_posts: int = 30,
                      now: float | None = None) -> list[RawRecord]:
    records = brand_records(singles, busy_posts, time.time() if now is None else now)
    proc = processor(settings, [])
    for i in range(0, len(records), 1000):
        await proc.process(records[i:i + 1000])
    await proc.alerts.idle()  # no alert check may still be reading when the caller measures
    await proc.sink.close()
    return records
