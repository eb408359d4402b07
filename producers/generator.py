"""Synthetic, realistic posts about configurable brands, for demos, tests and load tests.

The text is ours: templates and vocabularies in ``producers/resources/vocabulary.json``. Texts are
rendered once into a pool per (brand, sentiment) at start-up, so a post costs a few array lookups
and not a template rendering: ``generate --max`` must be able to outrun the Kafka client.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from producers.errors import GeneratorConfigError
from producers.timefmt import iso_utc

SENTIMENTS = ("negative", "neutral", "positive")
POOL_SIZE = 512  # distinct texts per (brand, sentiment): enough that repeats look like retweets


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    text = resources.files("producers").joinpath("resources/vocabulary.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


DEFAULT_BRANDS: tuple[str, ...] = tuple(vocabulary()["brands"])


@dataclass(frozen=True)
class Burst:
    """A sudden negative spike: ``rate`` extra negative posts/s about ``brand`` for a while,
    all complaining about one ``topic`` (a product word), so that `sentistream why` and the
    alert it raises can name what went wrong."""

    brand: str
    at_s: float
    seconds: float
    rate: float
    topic: str = "battery"

    def due(self, elapsed_s: float) -> int:
        """Burst posts due ``elapsed_s`` seconds after the start (cumulative)."""
        active = min(max(elapsed_s - self.at_s, 0.0), self.seconds)
        return int(active * self.rate)


@dataclass(frozen=True)
class GeneratorSpec:
    """What to generate: brands, the sentiment mix and an optional burst."""

    brands: tuple[str, ...] = DEFAULT_BRANDS
    negative_share: float = 0.25
    positive_share: float = 0.40
    seed: int = 0
    burst: Burst | None = None
    id_prefix: str = field(default="")

    def __post_init__(self) -> None:
        if not self.brands or any(not b.strip() for b in self.brands):
            raise GeneratorConfigError("--brands needs at least one non-empty brand name")
        shares = (self.negative_share, self.positive_share)
        if any(not 0.0 <= s <= 1.0 for s in shares) or sum(shares) > 1.0:
            raise GeneratorConfigError(
                f"sentiment shares must be in 0..1 and sum to at most 1 (negative "
                f"{self.negative_share}, positive {self.positive_share}); neutral is the rest")
        if self.burst is not None and (self.burst.rate < 0 or self.burst.seconds < 0):
            raise GeneratorConfigError("--burst-rate and --burst-seconds must be >= 0")

    @property
    def mix(self) -> tuple[float, float, float]:
        neutral = 1.0 - self.negative_share - self.positive_share
        return (self.negative_share, max(neutral, 0.0), self.positive_share)


class PostFactory:
    """Makes batches of posts from pre-rendered text pools, seeded and reproducible."""

    def __init__(self, spec: GeneratorSpec) -> None:
        self.spec = spec
        self._rng = np.random.default_rng(spec.seed)
        self._prefix = spec.id_prefix or f"gen{spec.seed}-"
        self._count = 0
        brands = list(spec.brands)
        if spec.burst is not None and spec.burst.brand not in brands:
            brands.append(spec.burst.brand)  # a burst may be about a brand outside the mix
        self._brands = brands
        self._pools = [[_render_pool(b, s, spec.seed) for s in SENTIMENTS] for b in brands]
        self._authors = [f"user{i:04d}" for i in range(2000)]
        burst = spec.burst
        if burst is not None:  # complaints about the burst's topic, in a sentiment slot of its own
            self._pools[brands.index(burst.brand)].append(
                _render_pool(burst.brand, "negative", spec.seed, product=burst.topic))

    def make(self, n: int, created_at: float, brand: str | None = None,
             sentiment: str | None = None) -> list[dict[str, Any]]:
        """``n`` posts stamped ``created_at``; a fixed brand/sentiment, or drawn from the mix."""
        return self._make(n, created_at, brand, None if sentiment is None
                          else SENTIMENTS.index(sentiment))

    def make_burst(self, n: int, created_at: float) -> list[dict[str, Any]]:
        """``n`` burst posts: negative, about the burst's brand and topic."""
        assert self.spec.burst is not None
        return self._make(n, created_at, self.spec.burst.brand, len(SENTIMENTS))

    def _make(self, n: int, created_at: float, brand: str | None,
              pool: int | None) -> list[dict[str, Any]]:
        if n <= 0:
            return []
        rng = self._rng
        nb = len(self.spec.brands)
        brand_ix = (np.full(n, self._brands.index(brand)) if brand is not None
                    else rng.integers(0, nb, n))
        sent_ix = (np.full(n, pool) if pool is not None
                   else rng.choice(3, n, p=self.spec.mix))
        text_ix = rng.integers(0, POOL_SIZE, n)
        author_ix = rng.integers(0, len(self._authors), n)
        stamp = iso_utc(created_at)
        start, self._count = self._count, self._count + n
        pools, brands, authors, prefix = self._pools, self._brands, self._authors, self._prefix
        return [
            {"id": f"{prefix}{start + i}", "text": pools[b][s][t], "created_at": stamp,
             "brand": brands[b], "author": authors[a], "lang": "en",
             # pool 3, the burst's, is negative: 3 % 3 = 0
             "label": SENTIMENTS[s % len(SENTIMENTS)]}
            for i, (b, s, t, a) in enumerate(zip(brand_ix.tolist(), sent_ix.tolist(),
                                                 text_ix.tolist(), author_ix.tolist(),
                                                 strict=True))
        ]


class LiveGenerator:
    """Posts due by a given time since the start: the ordinary mix plus any burst."""

    def __init__(self, spec: GeneratorSpec) -> None:
        self.factory = PostFactory(spec)
        self._burst_sent = 0

    def step(self, elapsed_s: float, base_n: int, created_at: float) -> list[dict[str, Any]]:
        posts = self.factory.make(base_n, created_at)
        burst = self.factory.spec.burst
        if burst is not None:
            due = burst.due(elapsed_s) - self._burst_sent
            if due > 0:
                self._burst_sent += due
                extra = self.factory.make_burst(due, created_at)
                posts = _interleave(posts, extra)
        return posts


def generate_posts(brands: Sequence[str] = DEFAULT_BRANDS, *, seed: int = 0,
                   negative_share: float = 0.25, positive_share: float = 0.40,
                   rate: float = 100.0, start: float = 1_700_000_000.0,
                   limit: int | None = None, burst: Burst | None = None,
                   tick_s: float = 0.1) -> Iterator[dict[str, Any]]:
    """Posts on a virtual clock (no Kafka, no sleeping), for tests and benchmarks.

    ``rate`` ordinary posts per virtual second from ``start`` (epoch seconds), plus the burst;
    ``created_at`` advances by ``tick_s``. Endless unless ``limit`` is given.
    """
    spec = GeneratorSpec(tuple(brands), negative_share, positive_share, seed, burst)
    live = LiveGenerator(spec)
    sent, tick = 0, 0
    while limit is None or sent < limit:
        tick += 1
        elapsed = tick * tick_s
        base_n = int(elapsed * rate) - int((elapsed - tick_s) * rate)
        for post in live.step(elapsed, base_n, start + elapsed):
            yield post
            sent += 1
            if limit is not None and sent >= limit:
                return


def _interleave(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spread ``b`` evenly through ``a`` so a burst does not arrive as one block per tick."""
    if not a:
        return b
    out: list[dict[str, Any]] = []
    step = len(a) / (len(b) + 1)
    j = 0
    for i, post in enumerate(a):
        while j < len(b) and (j + 1) * step <= i:
            out.append(b[j])
            j += 1
        out.append(post)
    out.extend(b[j:])
    return out


def _render_pool(brand: str, sentiment: str, seed: int, product: str | None = None
                 ) -> list[str]:
    """``POOL_SIZE`` texts of one brand and sentiment; ``product`` fixes that slot (a burst)."""
    vocab = vocabulary()
    rng = random.Random(f"{seed}:{brand}:{sentiment}" + (f":{product}" if product else ""))
    templates: list[str] = vocab["templates"][sentiment]
    slots: dict[str, list[str]] = vocab["slots"]
    fixed = {"brand": brand, "Brand": brand[:1].upper() + brand[1:],
             "tag": "#" + "".join(ch for ch in brand if ch not in string.whitespace)}
    emoji = {"positive": "pos_emoji", "negative": "neg_emoji", "neutral": "neu_emoji"}[sentiment]
    pool = []
    for _ in range(POOL_SIZE):
        values = {name: rng.choice(words) for name, words in slots.items()}
        values.update(fixed)
        if product is not None:
            values["product"] = product
        values[emoji] = rng.choice(slots[emoji])
        text = rng.choice(templates).format(**values)
        pool.append(" ".join(text.split()))  # empty emoji slots leave double spaces
    return pool
