"""Alerts as the readers list them: newest first, from the hash and index the worker writes
(``stream.worker.alerts.store``; keys in ``stream.schema.keys``)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from stream.schema.keys import KeyScheme, escape_brand


async def list_alerts(client: aioredis.Redis, keys: KeyScheme, brand: str | None = None,
                      limit: int = 50, since: float | None = None) -> list[dict[str, Any]]:
    """Newest alerts first (by bucket), optionally of one brand and from ``since`` on."""
    low = "-inf" if since is None else since
    # Fetch more than asked when filtering by brand: the index is global.
    fetch = limit if brand is None else max(limit * 20, 1000)
    reply = await client.zrevrangebyscore(keys.alerts_index, "+inf", low, start=0, num=fetch)
    ids = [_text(i) for i in reply]
    if brand is not None:
        mark = escape_brand(brand) + ":"
        ids = [i for i in ids if i.startswith(mark)]
    ids = ids[:limit]
    if not ids:
        return []
    values = await client.hmget(keys.alerts, ids)
    return [json.loads(v) for v in values if v is not None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
