"""CPU cost per post of the "why" building blocks, side by side with the model's tokenizer.

Usage: .venv/bin/python ops/bench/drivers_bench.py [--posts 10000] [--repeat 5] [--json]

Reads TweetEval's test texts (../shared/data/tweeteval-sentiment/test.csv; its `topic` column
as the brand, its label as the class), cut into worker-sized batches of 2,048, and times with
the process's CPU clock (the machine is shared: wall time would measure the neighbours):

* ``extract``: ``TermExtractor.extract`` (terms of every post) with warm tables, as on a
  long-running worker;
* ``extract_cold``: the same with fresh tables (a worker's first batches, after a brands reload);
* ``extract_tokens``: from the token list of the scorer's pass (only the polar posts count in
  ``feature_shared_tokens``, the worker knowing the labels first);
* ``extract_rows``: from the rows of the scorer's ``Tokenizer.encode_rows`` (every post);
* ``group_counts``: term counts per (brand, class) group and per (_all, class), what the
  worker will write;
* ``reposts``: ``is_retweet`` + ``fingerprints``;
* ``tokenizer``: the shipped model tokenizer's ``encode`` on the same batches, for a ratio
  that does not depend on the machine's load.

Each figure is the best of ``--repeat`` passes over ``--posts`` posts, in microseconds per post.
With ``--redis-url`` it also measures, with ``MEMORY USAGE``, what the planned Redis state
costs: a sorted set of the top ``--top-k`` terms (TweetEval's most frequent terms, so typical
lengths) and a set of fingerprints (per member); the keys are deleted afterwards.
The bare worker does ~15,000 posts per CPU-second (~66 us/post; README "Throughput of one
worker"), so 10% of it is ~6.6 us/post for the whole feature.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.scorer import SHIPPED_DIR
from model.tokenizer import Tokenizer, raw_tokens
from stream.drivers.reposts import fingerprints, is_retweet, member
from stream.drivers.terms import BatchTerms, TermExtractor
from stream.worker.brands import Brand

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tweeteval-sentiment"
BATCH = 2048
LABELS = {"negative": 0, "neutral": 1, "positive": 2}


def load(limit: int) -> tuple[list[str], list[str], list[int]]:
    with (DATA / "test.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows = (rows * (limit // len(rows) + 1))[:limit]
    topics = [r["topic"].lstrip("#@").lower() for r in rows]
    return [r["text"] for r in rows], topics, [LABELS[r["label"]] for r in rows]


def batches(n: int) -> list[slice]:
    return [slice(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]


def best_us_per_post(run: Callable[[], Any], posts: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        times.append(time.process_time() - t0)
    return min(times) / posts * 1e6


def group_plan(topics: Sequence[str], labels: Sequence[int]
               ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(post, group) pairs as the worker will count them: one group per (brand, class) for the
    negative and positive posts (neutral posts are not counted; `_all` has no drivers); a post
    without a topic counts for a brand "other", so every polar post is counted once."""
    names = sorted({t or "other" for t in topics})
    code = {t: i for i, t in enumerate(names)}
    pairs = [(i, code[topic or "other"] * 2 + label // 2)
             for i, (topic, label) in enumerate(zip(topics, labels, strict=True)) if label != 1]
    pair_post, pair_group = (np.array(c, np.int64).reshape(-1) for c in zip(*pairs, strict=True))
    brands: list[str | None] = [name for name in names for _ in range(2)]
    return pair_post, pair_group, brands


def redis_bytes(url: str, extracted: Sequence[BatchTerms], k: int, texts: Sequence[str]
                ) -> dict[str, float]:
    """MEMORY USAGE of a top-k term sorted set and of a fingerprint set (per member)."""
    import redis

    counts: Counter[str] = Counter()
    for batch in extracted:
        counts.update(batch.counts(np.arange(batch.n_posts)))
    client = redis.Redis.from_url(url)
    run = uuid.uuid4().hex[:8]
    zkey, skey = f"drivers-bench-{run}:terms", f"drivers-bench-{run}:fp"
    try:
        client.zadd(zkey, {t: c for t, c in counts.most_common(k)})
        members = [member(int(f)) for f in np.unique(fingerprints(texts))]
        client.sadd(skey, *members)
        return {"top_k": k, "term_zset_bytes": float(client.memory_usage(zkey) or 0),
                "fingerprint_bytes_per_member":
                    float(client.memory_usage(skey) or 0) / len(members)}
    finally:
        client.delete(zkey, skey)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--redis-url", default="", help="measure the Redis memory too")
    parser.add_argument("--top-k", type=int, default=200)
    args = parser.parse_args()
    texts, topics, labels = load(args.posts)
    brands = [Brand(t) for t in sorted({t for t in topics if t})]
    parts = batches(len(texts))
    extractor = TermExtractor(brands)
    for part in parts:  # warm the tables, as on a worker that has run for a while
        extractor.extract(texts[part])
    extracted = [extractor.extract(texts[p]) for p in parts]
    plans = [group_plan(topics[p], labels[p]) for p in parts]
    tokenizer = Tokenizer.load(SHIPPED_DIR)
    tokens = [raw_tokens(texts[p]) for p in parts]
    n = len(texts)
    us: dict[str, float] = {
        "extract": best_us_per_post(
            lambda: [extractor.extract(texts[p]) for p in parts], n, args.repeat),
        "extract_cold": best_us_per_post(
            lambda: [TermExtractor(brands).extract(texts[p]) for p in parts], n,
            args.repeat),
        "group_counts": best_us_per_post(
            lambda: [b.group_counts(*plan) for b, plan in zip(extracted, plans,
                                                               strict=True)],
            n, args.repeat),
        "reposts": best_us_per_post(
            lambda: [(is_retweet(texts[p]), fingerprints(texts[p])) for p in parts], n,
            args.repeat),
        "tokenizer": best_us_per_post(
            lambda: [tokenizer.encode(texts[p]) for p in parts], n, args.repeat),
    }
    result: dict[str, Any] = {
        "posts": n, "batch": BATCH, "distinct_brands": len(brands),
        "term_pairs_per_post": float(np.mean([len(b.post) / b.n_posts for b in extracted])),
        "us_per_post": us,
    }
    us["extract_tokens"] = best_us_per_post(
        lambda: [extractor.extract_tokens(t, len(texts[p])) for t, p in zip(tokens, parts,
                                                                            strict=True)],
        n, args.repeat)
    # The scorer encodes every batch anyway; with its rows, terms need no token pass of their
    # own (encode_rows runs outside the timing: it is the model's cost, not this feature's).
    encoded = [tokenizer.encode_rows(texts[p])[1] for p in parts]
    us["extract_rows"] = best_us_per_post(
        lambda: [extractor.extract_rows(r, tokenizer.table, len(texts[p]))
                 for r, p in zip(encoded, parts, strict=True)], n, args.repeat)
    polar = sum(1 for label in labels if label != 1) / n
    # Worst case: every post is polar and needs its terms; typical: only the polar ones do
    # (the worker knows the labels before it extracts).
    us["feature_worst"] = us["extract"] + us["group_counts"] + us["reposts"]
    us["feature_shared_tokens"] = (us["extract_tokens"] * polar + us["group_counts"]
                                   + us["reposts"])
    us["feature_shared_rows"] = us["extract_rows"] + us["group_counts"] + us["reposts"]
    result["polar_share"] = polar
    result["feature_over_tokenizer"] = us["feature_worst"] / us["tokenizer"]
    if args.redis_url:
        result["redis_bytes"] = redis_bytes(args.redis_url, extracted, args.top_k, texts)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{n} TweetEval posts in batches of {BATCH}, {len(brands)} topics as brands, "
          f"{result['term_pairs_per_post']:.1f} terms per post, {polar:.0%} polar; "
          f"CPU us/post (best of {args.repeat}):")
    for name, value in us.items():
        print(f"  {name:<22} {value:7.2f}")
    print(f"  feature_worst / model tokenizer: {result['feature_over_tokenizer']:.2f}")
    if "redis_bytes" in result:
        print(f"Redis: {result['redis_bytes']}")


if __name__ == "__main__":
    main()
