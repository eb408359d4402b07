"""The write side for read-side tests: posts go to the real Kafka, a real worker applies them.

``Pipeline`` runs ``sentistream worker`` as a subprocess on the test's own topics and key
prefix; ``expected_labels`` scores texts with the same shipped model, for exact expectations.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from sentistream.settings import Settings, env_name
from sentistream.topics import ensure_topics


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess use exactly these settings."""
    env = dict(os.environ)
    for name in ("kafka_bootstrap", "redis_url", "redis_prefix", "topic_posts", "topic_scored",
                 "topic_dead_letters", "partitions", "worker_web_port", "api_port", "api_host",
                 "state_dir", "alert_min_volume", "alert_min_baseline"):
        env[env_name(name)] = str(getattr(settings, name))
    if settings.api_token:
        env[env_name("api_token")] = settings.api_token.reveal()
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0,
             pipeline: Pipeline | None = None) -> Any:
    """The first true value of ``check()``; fails when ``pipeline``'s worker dies meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        if pipeline is not None:
            pipeline.check()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


class Pipeline:
    """A real worker on the test's topics and prefix; ``stop()`` ends it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.state_dir / f"worker-{settings.redis_prefix}.log"

    def start(self) -> Pipeline:
        # Its own web port, so it runs beside any other worker on this machine.
        self.settings = self.settings.replace(worker_web_port=free_port())
        ensure_topics(self.settings)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sentistream.cli", "worker"],
                env=settings_env(self.settings), stdout=out, stderr=subprocess.STDOUT)
        return self

    def check(self) -> None:
        """Fail the test with the worker's own words when it died."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the worker exited with {self.proc.returncode}:\n"
                                 + self.log.read_text(errors="replace")[-3000:])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def expected_labels(texts: list[str]) -> list[int]:
    """Labels of the shipped model (0 negative, 1 neutral, 2 positive), as the worker gets."""
    from model.scorer import SentimentScorer

    return [int(x) for x in SentimentScorer(model_path=None, num_threads=1).score(texts).labels]


def post(i: int, brand: str, text: str, created_at: float, prefix: str = "p") -> dict[str, Any]:
    return {"id": f"{prefix}{i}", "text": text, "created_at": created_at, "brand": brand,
            "author": f"user{i % 7}", "lang": "en"}


POSITIVE = "I love {b}, fantastic service and a great product"
NEGATIVE = "{b} is awful, terrible support, the worst experience"
NEUTRAL = "{b} store opens at 9am on monday"
