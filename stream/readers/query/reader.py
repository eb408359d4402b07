"""Async reads of the aggregates through the key scheme; one or two round trips per question.

Every key name comes from ``stream.schema.keys`` (which escapes brand names), so no brand is ever
used raw in a key or a pattern. The CLI runs these coroutines with ``asyncio.run``; the API awaits
them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sentistream.settings import Settings
from stream.readers.query.client import Redis, connect
from stream.readers.query.errors import QueryUnavailableError, UnknownBrandError
from stream.readers.query.langs import LANG_SUM_SCRIPT, from_hash, parse_languages, queue_languages
from stream.readers.query.params import TimeRange, Window
from stream.readers.query.ranking import PAGE_SCRIPT, parse_page, queue_page
from stream.readers.query.stats import share
from stream.readers.query.sums import SUM_SCRIPT, parse_sum, queue_sum
from stream.schema.counts import READ_FIELDS, BucketCounts, rounded
from stream.schema.keys import (
    ALL_BRANDS,
    MENTIONS_FIELD,
    KeyScheme,
    language_fields,
    window_buckets,
)
from stream.schema.times import iso
from stream.scripts import run_pipeline

__all__ = ["BrandPage", "BrandRow", "Reader", "connect", "reader"]
# Brands per page when the caller does not say: a dashboard's worth.
DEFAULT_PAGE = 20
# The most brands one page may hold: a page's cost grows with its size (its brands' buckets).
MAX_PAGE = 1000


@dataclass(frozen=True)
class BrandRow:
    brand: str
    counts: BucketCounts
    share_of_voice: float | None
    last_seen: float | None
    unique_authors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"brand": self.brand, **self.counts.to_json(),
                "unique_authors": self.unique_authors,
                "share_of_voice": rounded(self.share_of_voice),
                "last_seen": None if self.last_seen is None else iso(self.last_seen)}


@dataclass(frozen=True)
class BrandPage:
    """One page of the brands with posts in a window, busiest first."""

    rows: list[BrandRow]
    total: int  # brands with posts in the window
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        """Offset of the next page; None on the last one."""
        end = self.offset + len(self.rows)
        return end if end < self.total and self.rows else None


@asynccontextmanager
async def reader(settings: Settings) -> AsyncIterator[Reader]:
    """A Reader on a fresh connection, closed on exit (for one-shot CLI commands)."""
    client = connect(settings)
    try:
        yield Reader(client, KeyScheme(settings.redis_prefix), settings.count_reposts)
    finally:
        await client.aclose()


class Reader:
    """Answers the read-side questions from one Redis client (single node or cluster).

    No answer reads every brand: the brand list is a page of the ranking the worker keeps
    (``stream.readers.query.ranking``), and share of voice divides by the brand mentions counted in
    ``_all``'s buckets.
    """

    def __init__(self, client: Redis, keys: KeyScheme, count_reposts: bool = True) -> None:
        self.client = client
        self.keys = keys
        # SENTISTREAM_COUNT_REPOSTS: whether shown counts, NSS and intensity include reposts.
        self.count_reposts = count_reposts

    async def require_brand(self, brand: str) -> None:
        score, exists = await self._pipeline(lambda pipe: (
            pipe.zscore(self.keys.brands, brand), pipe.exists(self.keys.total(brand))))
        if score is None and not exists:
            raise UnknownBrandError(
                f"unknown brand {brand!r}: no post about it has been counted "
                "(`sentistream brands` or GET /api/brands lists the known ones)")

    async def window_counts(self, brands: list[str], window: Window, end: float,
                            lang: str | None = None) -> dict[str, BucketCounts]:
        """Each brand's sum over the buckets covering (end - window, end], in one round trip
        (one script call per brand, summed in Redis); ``lang``: that language's posts only."""
        starts = window_buckets(end, window.seconds, window.resolution)

        def queue(pipe: Any) -> None:
            for brand in brands:
                self._queue_counts(pipe, brand, window, starts, lang)

        replies = await self._pipeline(queue)
        return {b: self._counts(r) for b, r in zip(brands, replies, strict=True)}

    def _queue_counts(self, pipe: Any, brand: str, window: Window, starts: list[int],
                      lang: str | None = None) -> None:
        queue_sum(pipe, [self.keys.bucket(brand, window.resolution, s) for s in starts],
                  _fields(lang))

    def _counts(self, reply: Any) -> BucketCounts:
        return BucketCounts(*parse_sum(reply)).counted(self.count_reposts)

    def _queue_authors(self, pipe: Any, brand: str, window: Window, starts: list[int]) -> None:
        """PFCOUNT over the window's author HyperLogLogs (one slot: the brand's hash tag):
        the distinct authors of the union, within ~0.81% (Redis' standard error)."""
        # A raw command: redis-py's cluster pipeline blocks .pfcount() with several keys, but
        # routes execute_command by its keys (all in the brand's slot).
        pipe.execute_command("PFCOUNT", *(self.keys.authors(brand, window.resolution, s)
                                          for s in starts))

    def _queue_mentions(self, pipe: Any, window: Window, starts: list[int]) -> None:
        queue_sum(pipe, [self.keys.bucket(ALL_BRANDS, window.resolution, s) for s in starts],
                  [MENTIONS_FIELD])

    async def brand_page(self, window: Window, end: float, limit: int = DEFAULT_PAGE,
                         offset: int = 0, lang: str | None = None) -> BrandPage:
        """The brands with posts in the window, busiest first (ties by name), ``limit`` of them
        from ``offset`` on, with their counts and share of voice. Reads the window's ranking
        and mention counts plus the buckets of the page's brands, never every brand. With
        ``lang``, the rows count that language's posts only (the order and share of voice stay
        those of all languages: the ranking is kept per window, not per language)."""
        starts = window_buckets(end, window.seconds, window.resolution)

        def queue(pipe: Any) -> None:
            queue_page(pipe, self.keys, window, end, offset, limit)
            self._queue_mentions(pipe, window, starts)

        replies = await self._pipeline(queue)
        page, voice = parse_page(replies[0]), parse_sum(replies[1])[0]
        names = [brand for brand, _ in page.volumes]
        if not names:
            return BrandPage([], page.total, offset, limit)

        def queue_rows(pipe: Any) -> None:
            for brand in names:
                self._queue_counts(pipe, brand, window, starts, lang)
                self._queue_authors(pipe, brand, window, starts)
            pipe.zmscore(self.keys.brands, names)

        *replies, seen = await self._pipeline(queue_rows)
        rows = []
        for brand, reply, authors, last in zip(names, replies[0::2], replies[1::2], seen,
                                               strict=True):
            counts = self._counts(reply)
            rows.append(BrandRow(brand, counts, share(counts.n, voice),
                                 None if last is None else float(last), int(authors)))
        return BrandPage(rows, page.total, offset, limit)

    async def summary(self, brand: str, window: Window, end: float,
                      lang: str | None = None) -> dict[str, Any]:
        """One brand over the window: its buckets, the window's mentions (share of voice), the
        number of brands with posts in it and its language mix; one round trip after the brand
        check. ``lang``: the counts, NSS and intensity of that language's posts only."""
        await self.require_brand(brand)
        starts = window_buckets(end, window.seconds, window.resolution)

        def queue(pipe: Any) -> None:
            queue_page(pipe, self.keys, window, end, 0, 0)
            self._queue_mentions(pipe, window, starts)
            self._queue_counts(pipe, brand, window, starts, lang)
            self._queue_authors(pipe, brand, window, starts)
            queue_languages(pipe, [self.keys.bucket(brand, window.resolution, s)
                                   for s in starts])

        page, mentions, mine, authors, languages = await self._pipeline(queue)
        in_window, voice = parse_page(page).total, parse_sum(mentions)[0]
        counts = self._counts(mine)
        # `_all` is not a brand: share of voice is not defined for it.
        voice_share = None if brand == ALL_BRANDS else share(counts.n, voice)
        return {"brand": brand, "window": window.text, "from": iso(end - window.seconds),
                "to": iso(end), "resolution": window.resolution, **counts.to_json(),
                "share_of_voice": rounded(voice_share), "brands_in_window": in_window,
                "unique_authors": int(authors),
                "lang": lang, "languages": parse_languages(languages)}

    async def timeline(self, brand: str, trange: TimeRange,
                       lang: str | None = None) -> list[dict[str, Any]]:
        """Every bucket of the range (empty ones included, so charts need not fill gaps), each
        with its language mix; ``lang``: the counts of that language's posts only."""
        await self.require_brand(brand)
        res = trange.resolution
        present = await self._call(self.client.zrangebyscore(
            self.keys.bucket_index(brand, res), trange.first, trange.last))
        pipe = self.client.pipeline(transaction=False)
        starts = sorted({int(float(s)) for s in present})
        for start in starts:
            pipe.hgetall(self.keys.bucket(brand, res, start))
            pipe.execute_command("PFCOUNT", self.keys.authors(brand, res, start))
        replies = await self._call(pipe.execute())
        found = dict(zip(starts, replies[0::2], strict=True))
        authors = dict(zip(starts, replies[1::2], strict=True))
        fields = _fields(lang)
        out = []
        for start in trange.starts():
            bucket = found.get(start, {})
            counts = BucketCounts.from_values([bucket.get(name) for name in fields])
            out.append({"start": start, "time": iso(start),
                        **counts.counted(self.count_reposts).to_json(),
                        "unique_authors": int(authors.get(start, 0)),
                        "languages": from_hash(bucket)})
        return out

    async def top(self, brand: str, window: Window, end: float,
                  limit: int) -> dict[str, list[dict[str, Any]]]:
        """The most positive and most negative posts of the hours covering the window."""
        await self.require_brand(brand)
        hours = window_buckets(end, window.seconds, "h")
        pipe = self.client.pipeline(transaction=False)
        for hour in hours:
            pipe.zrevrange(self.keys.top(brand, "pos", hour), 0, limit - 1)
            pipe.zrange(self.keys.top(brand, "neg", hour), 0, limit - 1)
        replies = await self._call(pipe.execute())
        pos = _posts(m for reply in replies[0::2] for m in reply)
        neg = _posts(m for reply in replies[1::2] for m in reply)
        pos.sort(key=lambda p: -float(p.get("intensity", 0.0)))
        neg.sort(key=lambda p: float(p.get("intensity", 0.0)))
        return {"positive": pos[:limit], "negative": neg[:limit]}

    async def why(self, brand: str, window: Window, end: float, baseline_days: int,
                  terms: int) -> dict[str, Any]:
        """The brand's negative and positive driver terms over the window (whole hours) with
        example posts: ``stream.drivers.why``, one round trip after the brand check."""
        from stream.drivers.why import WhyResult, explain

        await self.require_brand(brand)
        result: WhyResult = await self._call(explain(
            self.client, self.keys, brand, end, window.seconds, baseline_days, terms))
        return result.to_json(brand, window.text)

    async def alerts(self, brand: str | None, limit: int,
                     since: float | None) -> list[dict[str, Any]]:
        """Newest alerts first, of one brand (which must be known) or of all."""
        from stream.readers.query.alerts import list_alerts

        if brand is not None:
            await self.require_brand(brand)
        result: list[dict[str, Any]] = await self._call(
            list_alerts(self.client, self.keys, brand, limit, since))
        return result

    async def ping(self) -> bool:
        return bool(await self._call(self.client.ping()))

    async def _pipeline(self, queue: Callable[[Any], Any]) -> list[Any]:
        """Run what ``queue`` puts in one pipeline (scripts reloaded if Redis forgot them);
        a command's error is raised, as the client would."""
        replies: list[Any] = await self._call(
            run_pipeline(self.client, [PAGE_SCRIPT, SUM_SCRIPT, LANG_SUM_SCRIPT], queue))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise QueryUnavailableError(
                f"Redis did not answer ({exc}); start it with `sentistream infra up` "
                "or point SENTISTREAM_REDIS_URL at it") from exc


def _fields(lang: str | None) -> tuple[str, ...]:
    """The bucket fields to read: all posts' (with their repost fields), or one language's
    (the first five, same order; reposts are not kept per language)."""
    return READ_FIELDS if lang is None else language_fields(lang)


def _posts(members: Any) -> list[dict[str, Any]]:
    """Decode top-post members, dropping duplicates (a post may top two overlapping hours)."""
    seen: set[str] = set()
    out = []
    for member in members:
        post = json.loads(member)
        if isinstance(post.get("created_at"), int | float):
            post["time"] = iso(post["created_at"])
        key = str(post.get("id"))
        if key not in seen:
            seen.add(key)
            out.append(post)
    return out

