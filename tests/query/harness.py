"""The write side for read-side tests: posts go to the real Kafka, a real worker applies them.

``Pipeline`` runs ``sentistream worker`` (sentistream/harness.py) on the test's own topics and
key prefix; ``expected_labels`` scores texts with the same shipped model, for exact expectations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sentistream.harness import Child, start_worker
from sentistream.settings import Settings
from sentistream.topics import ensure_topics


def send_posts(settings: Settings, posts: Iterable[dict[str, Any]]) -> int:
    """Produce posts (send time as record time, like the producers do); returns how many."""
    from kafka import KafkaProducer

    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    n = 0
    for post in posts:
        key = str(post.get("brand") or post["id"]).encode()
        producer.send(settings.topic_posts, key=key, value=json.dumps(post).encode())
        n += 1
    producer.flush(30)
    producer.close()
    return n


class Pipeline:
    """A real worker on the test's topics and prefix; ``stop()`` ends it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.child: Child | None = None

    def start(self) -> Pipeline:
        ensure_topics(self.settings)
        self.child = start_worker(self.settings, self.settings.state_dir,
                                  name=f"worker-{self.settings.redis_prefix}")
        # Its own web port, so it runs beside any other worker on this machine.
        self.settings = self.settings.replace(worker_web_port=self.child.web_port)
        return self

    def children(self) -> list[Child]:
        """The worker, for ``wait_until`` to watch (it fails with the worker's own words)."""
        return [self.child] if self.child is not None else []

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(20)


def expected_labels(texts: list[str]) -> list[int]:
    """Labels of the shipped model (0 negative, 1 neutral, 2 positive), as the worker gets
    them for posts with ``"lang": "en"`` (``post``)."""
    from model.scorer import SentimentScorer

    scorer = SentimentScorer(model_path=None, num_threads=1)
    return [int(x) for x in scorer.score_posts(texts, ["en"] * len(texts)).labels]


def post(i: int, brand: str, text: str, created_at: float, prefix: str = "p") -> dict[str, Any]:
    return {"id": f"{prefix}{i}", "text": text, "created_at": created_at, "brand": brand,
            "author": f"user{i % 7}", "lang": "en"}


POSITIVE = "I love {b}, fantastic service and a great product"
NEGATIVE = "{b} is awful, terrible support, the worst experience"
NEUTRAL = "{b} store opens at 9am on monday"
