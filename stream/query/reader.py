"""Async reads of the aggregates through the key scheme; one round trip per question.

Every key name comes from ``stream.keys`` (which escapes brand names), so no brand is ever used
raw in a key or a pattern. The CLI runs these coroutines with ``asyncio.run``; the API awaits them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sentistream.settings import Settings
from stream.keys import ALL_BRANDS, BUCKET_FIELDS, KeyScheme, window_buckets
from stream.query.errors import QueryUnavailableError, UnknownBrandError
from stream.query.params import TimeRange, Window, iso
from stream.query.stats import Counts, rounded, share

Redis = aioredis.Redis


@dataclass(frozen=True)
class BrandRow:
    brand: str
    counts: Counts
    share_of_voice: float | None
    last_seen: float

    def to_json(self) -> dict[str, Any]:
        return {"brand": self.brand, **self.counts.to_json(),
                "share_of_voice": rounded(self.share_of_voice), "last_seen": iso(self.last_seen)}


def connect(settings: Settings) -> Redis:
    """An async client that decodes replies; it connects lazily on the first command."""
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True,
                                   socket_connect_timeout=3, health_check_interval=30)


@asynccontextmanager
async def reader(settings: Settings) -> AsyncIterator[Reader]:
    """A Reader on a fresh connection, closed on exit (for one-shot CLI commands)."""
    client = connect(settings)
    try:
        yield Reader(client, KeyScheme(settings.redis_prefix))
    finally:
        await client.aclose()


class Reader:
    """Answers the read-side questions from one Redis client."""

    def __init__(self, client: Redis, keys: KeyScheme) -> None:
        self.client = client
        self.keys = keys

    async def brands_seen(self) -> dict[str, float]:
        """Every brand (except the global ``_all``) -> newest event time, newest first."""
        pairs = await self._call(self.client.zrevrange(self.keys.brands, 0, -1, withscores=True))
        return {brand: float(score) for brand, score in pairs if brand != ALL_BRANDS}

    async def require_brand(self, brand: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.zscore(self.keys.brands, brand)
        pipe.exists(self.keys.total(brand))
        score, exists = await self._call(pipe.execute())
        if score is None and not exists:
            raise UnknownBrandError(
                f"unknown brand {brand!r}: no post about it has been counted "
                "(`sentistream brands` or GET /api/brands lists the known ones)")

    async def window_counts(self, brands: list[str], window: Window,
                            end: float) -> dict[str, Counts]:
        """Each brand's sum over the buckets covering (end - window, end], in one round trip."""
        starts = window_buckets(end, window.seconds, window.resolution)
        pipe = self.client.pipeline(transaction=False)
        for brand in brands:
            for start in starts:
                pipe.hmget(self.keys.bucket(brand, window.resolution, start), list(BUCKET_FIELDS))
        replies = await self._call(pipe.execute())
        out: dict[str, Counts] = {}
        for i, brand in enumerate(brands):
            chunk = replies[i * len(starts):(i + 1) * len(starts)]
            out[brand] = Counts.total(Counts.from_values(v) for v in chunk)
        return out

    async def brand_table(self, window: Window, end: float) -> list[BrandRow]:
        """Every brand's counts and share of voice over the window, by volume."""
        seen = await self.brands_seen()
        # A brand whose newest post is older than the window's first bucket has nothing in it:
        # with many brands, most of a short window's reads are skipped.
        first = window_buckets(end, window.seconds, window.resolution)[0]
        active = [b for b, last in seen.items() if last >= first]
        counts = dict.fromkeys(seen, Counts())
        counts.update(await self.window_counts(active, window, end))
        voice = sum(c.n for c in counts.values())
        rows = [BrandRow(b, counts[b], share(counts[b].n, voice), seen[b]) for b in seen]
        return sorted(rows, key=lambda r: (-r.counts.n, r.brand))

    async def summary(self, brand: str, window: Window, end: float) -> dict[str, Any]:
        await self.require_brand(brand)
        rows = await self.brand_table(window, end)
        mine = next((r for r in rows if r.brand == brand), None)
        if mine is None:  # `_all`, or a brand only in totals: share of voice is not defined
            counts = (await self.window_counts([brand], window, end))[brand]
            voice = None
        else:
            counts, voice = mine.counts, mine.share_of_voice
        return {"brand": brand, "window": window.text, "from": iso(end - window.seconds),
                "to": iso(end), "resolution": window.resolution, **counts.to_json(),
                "share_of_voice": rounded(voice),
                "brands_in_window": sum(1 for r in rows if r.counts.n)}

    async def timeline(self, brand: str, trange: TimeRange) -> list[dict[str, Any]]:
        """Every bucket of the range (empty ones included, so charts need not fill gaps)."""
        await self.require_brand(brand)
        res = trange.resolution
        present = await self._call(self.client.zrangebyscore(
            self.keys.bucket_index(brand, res), trange.first, trange.last))
        pipe = self.client.pipeline(transaction=False)
        starts = sorted({int(float(s)) for s in present})
        for start in starts:
            pipe.hmget(self.keys.bucket(brand, res, start), list(BUCKET_FIELDS))
        found = dict(zip(starts, await self._call(pipe.execute()), strict=True))
        out = []
        for start in trange.starts():
            counts = Counts.from_values(found[start]) if start in found else Counts()
            out.append({"start": start, "time": iso(start), **counts.to_json()})
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

    async def alerts(self, brand: str | None, limit: int,
                     since: float | None) -> list[dict[str, Any]]:
        """Newest alerts first, of one brand (which must be known) or of all."""
        from stream.alerts.store import list_alerts

        if brand is not None:
            await self.require_brand(brand)
        result: list[dict[str, Any]] = await self._call(
            list_alerts(self.client, self.keys, brand, limit, since))
        return result

    async def ping(self) -> bool:
        return bool(await self._call(self.client.ping()))

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise QueryUnavailableError(
                f"Redis did not answer ({exc}); start it with `sentistream infra up` "
                "or point SENTISTREAM_REDIS_URL at it") from exc


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

