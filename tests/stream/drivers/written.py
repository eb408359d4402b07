"""Driver keys written into the real test Redis as the contract of issue 15 says the worker
writes them (term sets per class and hour kept to the top K, example lists), for read-side
tests that do not need a worker: the same term extraction and top-K rule as the worker's."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import redis

from stream.drivers.fightin_words import merge_top_k
from stream.drivers.terms import TermExtractor
from stream.schema.keys import KeyScheme, bucket_start
from stream.worker.brands import Brand

CLASS_CODES = {0: "neg", 2: "pos"}  # neutral posts add no terms
TOP_K = 128
EXAMPLES_KEPT = 64


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    label: int  # 0 negative, 1 neutral, 2 positive
    created_at: float


def write_driver_keys(client: redis.Redis, keys: KeyScheme, brand: str,
                      posts: list[Post]) -> None:
    """Hour term sets and example lists of ``brand`` for ``posts`` (one batch)."""
    batch = TermExtractor([Brand(brand)]).extract([p.text for p in posts])
    groups: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, post in enumerate(posts):
        cls = CLASS_CODES.get(post.label)
        if cls is not None:
            groups[(cls, "h", bucket_start(post.created_at, "h"))].append(i)
    names = list(groups)
    pair_post = np.concatenate([np.asarray(groups[g], np.int64) for g in names])
    pair_group = np.concatenate([np.full(len(groups[g]), j, np.int64)
                                 for j, g in enumerate(names)])
    counts = batch.group_counts(pair_post, pair_group, [brand] * len(names))
    pipe = client.pipeline(transaction=False)
    for (cls, res, start), increments in zip(names, counts, strict=True):
        key = keys.terms(brand, cls, res, start)
        reply: list[tuple[bytes, float]] = client.zrange(key, 0, -1,  # type: ignore[assignment]
                                                         withscores=True)
        stored = {m.decode(): int(s) for m, s in reply}
        kept = merge_top_k(stored, increments, TOP_K)
        pipe.delete(key)
        if kept:
            pipe.zadd(key, kept)
        ex = keys.examples(brand, cls, start)
        for i in groups[(cls, res, start)]:
            pipe.lpush(ex, json.dumps({"id": posts[i].id, "text": posts[i].text}))
        pipe.ltrim(ex, 0, EXAMPLES_KEPT - 1)
    pipe.execute()
