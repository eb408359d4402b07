"""Throughput of a scoring function in posts/s, tokenization included (one thread)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def posts_per_second(score: Callable[[Sequence[str]], Any], texts: Sequence[str], batch: int,
                     min_seconds: float = 1.0, max_posts: int = 0,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """Posts/s of ``score`` over consecutive batches of ``texts``, wrapping round until at least
    ``min_seconds`` have passed (or ``max_posts`` posts are done, when set).

    With ``clock=time.process_time`` it is posts per CPU-second of this process: on a shared
    machine that is the speed of one core of our own, whatever else runs."""
    done, started, i = 0, clock(), 0
    while True:
        chunk = texts[i : i + batch]
        if len(chunk) < batch:
            i, chunk = 0, texts[:batch]
        score(chunk)
        done += len(chunk)
        i += batch
        elapsed = clock() - started
        if elapsed >= min_seconds or (max_posts and done >= max_posts):
            return done / elapsed
