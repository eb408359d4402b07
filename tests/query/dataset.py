"""One small, known dataset written by the real pipeline, shared by a test module's read tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from sentistream.harness import wait_until
from sentistream.settings import Settings
from stream.schema.keys import ALL_BRANDS, KeyScheme
from tests.query.harness import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    Pipeline,
    expected_labels,
    post,
    send_posts,
)

WEIRD = "at&t {x}:*"  # braces, colon and a glob star: must never reach a key raw
# brand -> posts written to be (positive, negative, neutral), spread over the last few minutes;
# the expected counts are what the shipped model says about them.
MIX = {"acme": (12, 10, 8), "globex": (10, 0, 0), WEIRD: (1, 3, 0)}


@dataclass(frozen=True)
class Dataset:
    settings: Settings
    pipeline: Pipeline
    now: float
    expected: dict[str, tuple[int, int, int]]  # brand -> (positive, negative, neutral)


def expected_counts(posts: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    labels = expected_labels([str(p["text"]) for p in posts])
    out = {}
    for brand in MIX:
        mine = [lab for p, lab in zip(posts, labels, strict=True) if p["brand"] == brand]
        out[brand] = (mine.count(2), mine.count(0), mine.count(1))
    return out


def build_posts(now: float) -> list[dict[str, Any]]:
    posts = []
    i = 0
    for brand, (pos, neg, neu) in MIX.items():
        texts = [POSITIVE] * pos + [NEGATIVE] * neg + [NEUTRAL] * neu
        for j, text in enumerate(texts):
            # Four minutes back at most: inside a 15m window, spread over several buckets.
            posts.append(post(i, brand, text.format(b=brand), now - 30 - (j % 4) * 60))
            i += 1
    return posts


def applied_total(client: redis.Redis, keys: KeyScheme) -> int:
    return int(client.hget(keys.total(ALL_BRANDS), "n") or 0)


@pytest.fixture(scope="module")
def dataset(services: Settings) -> Iterator[Dataset]:
    unique = uuid.uuid4().hex[:10]
    settings = services.replace(topic_posts=f"q{unique}.posts", topic_scored=f"q{unique}.scored",
                                topic_dead_letters=f"q{unique}.dead-letters",
                                redis_prefix=f"q{unique}")
    pipeline = Pipeline(settings).start()
    client = redis.Redis.from_url(settings.redis_url)
    keys = KeyScheme(settings.redis_prefix)
    now = time.time()
    try:
        posts = build_posts(now)
        sent = send_posts(settings, posts)
        wait_until(lambda: applied_total(client, keys) >= sent, 90,
                   "the pipeline to apply the dataset", pipeline.children())
        yield Dataset(settings, pipeline, now, expected_counts(posts))
    finally:
        pipeline.stop()
        for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000):
            client.delete(key)
