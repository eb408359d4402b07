"""The alert store against the real Redis: written once, announced once, capped, listed."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from sentistream.settings import Settings
from stream.readers.query.alerts import list_alerts
from stream.schema.keys import KeyScheme
from stream.worker.alerts.detector import Alert
from stream.worker.alerts.store import save_alerts
from tests.replies import stream_entries

pytestmark = pytest.mark.integration


def alert(brand: str, bucket: int, kind: str = "sentiment_drop") -> Alert:
    return Alert(brand, kind, bucket, "nss", -0.8, 0.2, -9.0, 120, 1_700_000_000.0)


async def test_alerts_are_written_and_announced_once_and_capped(isolated: Settings) -> None:
    client = aioredis.Redis.from_url(isolated.redis_url, decode_responses=True)
    keys = KeyScheme(isolated.redis_prefix)
    try:
        first = [alert("acme", 60 * i) for i in range(3)] + [alert("at&t {x}", 240)]
        assert await save_alerts(client, keys, first, keep=4, live_maxlen=100) == 4
        # The same alerts again (a redelivered batch) plus one new: only the new one counts.
        again = [*first, alert("acme", 300, "volume_spike")]
        assert await save_alerts(client, keys, again, keep=4, live_maxlen=100) == 1
        entries = stream_entries(await client.xrange(keys.live))
        announced = [a["id"] for _, f in entries for a in json.loads(f["data"])["alerts"]]
        assert announced == [a.id for a in first] + ["acme:volume_spike:300"]
        assert all(json.loads(f["data"])["brands"] == {} for _, f in entries)
        # Capped at `keep`: the oldest bucket went, from the index and the hash alike.
        listed = await list_alerts(client, keys)
        assert [a["bucket"] for a in listed] == [300, 240, 120, 60]
        assert await client.hlen(keys.alerts) == 4
        assert [a["brand"] for a in await list_alerts(client, keys, "at&t {x}")] == ["at&t {x}"]
        assert await list_alerts(client, keys, "at&t") == []  # a prefix is not a brand
        assert [a["bucket"] for a in await list_alerts(client, keys, since=200)] == [300, 240]
    finally:
        await client.aclose()
