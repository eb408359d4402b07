"""The naive baseline: the usual tutorial pipeline, one post at a time.

A Faust agent that takes each post on its own, scores it with VADER and INCRs one Redis counter
per post (``<prefix>:<brand>:<label>``). No batching, no dedupe, no dead letters: this is what
sentistream is compared with in ``ops/bench/e2e.py``, on the same topic format and the same data.

Run (the benchmark starts it as a subprocess):
    .venv/bin/python -m ops.bench.naive --bootstrap localhost:9092 --topic T \
        --redis-url redis://localhost:6379/0 --prefix naive --web-port 6067
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from typing import Any

VADER_POS, VADER_NEG = 0.05, -0.05  # VADER's documented compound-score thresholds
LABELS = ("negative", "neutral", "positive")


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_label(text: str) -> int:
    """0 negative, 1 neutral, 2 positive: VADER's compound score with its usual thresholds."""
    compound = _analyzer().polarity_scores(text)["compound"]
    return 2 if compound >= VADER_POS else 0 if compound <= VADER_NEG else 1


def counter_key(prefix: str, post: dict[str, Any], label: int) -> str:
    """The one key a post increments: its explicit brand (else ``_all``) and its label."""
    brand = post.get("brand") or "_all"
    return f"{prefix}:{brand}:{LABELS[label]}"


def group_id(topic: str) -> str:
    return f"naive-bench-{topic}"


def create_app(args: argparse.Namespace) -> Any:
    import faust
    import redis.asyncio as aioredis

    app = faust.App(group_id(args.topic), broker=f"kafka://{args.bootstrap}",
                    store="memory://", web_port=args.web_port, autodiscover=False,
                    consumer_auto_offset_reset="earliest", topic_partitions=args.partitions,
                    datadir=args.datadir)
    topic = app.topic(args.topic, value_type=bytes, value_serializer="raw")
    client = aioredis.Redis.from_url(args.redis_url)

    @app.agent(topic)
    async def score(stream: Any) -> None:
        async for value in stream:
            post = json.loads(value)
            await client.incr(counter_key(args.prefix, post, vader_label(post["text"])))

    return app


def main(argv: list[str] | None = None) -> None:
    import faust

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--web-port", type=int, required=True)
    parser.add_argument("--datadir", required=True)
    args = parser.parse_args(argv)
    app = create_app(args)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warning"]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
