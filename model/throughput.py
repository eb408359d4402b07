"""Throughput of a scoring function in posts/s, tokenization included (one thread)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def posts_per_second(score: Callable[[Sequence[str]], Any], texts: Sequence[str], batch: int,
                     min_seconds: float = 1.0, max_posts: int = 0) -> float:
    """Posts/s of ``score`` over consecutive batches of ``texts``, wrapping round until at least
    ``min_seconds`` have passed (or ``max_posts`` posts are done, when set)."""
    done, started, i = 0, time.perf_counter(), 0
    while True:
        chunk = texts[i : i + batch]
        if len(chunk) < batch:
            i, chunk = 0, texts[:batch]
        score(chunk)
        done += len(chunk)
        i += batch
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds or (max_posts and done >= max_posts):
            return done / elapsed
