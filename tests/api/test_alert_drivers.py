"""Alerts that explain themselves: the worker's alert path stores, lists and POSTs each new alert
with its driver terms and example posts, computed when it fires (real Redis, real HTTP server).
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner

from sentistream.settings import Settings
from stream.readers.query import cli
from stream.schema.keys import KeyScheme
from tests.api.test_webhook import Hook, alert_on_a_drop, ok_hook
from tests.stream.drivers.test_why import NOW, burst_posts
from tests.stream.drivers.written import write_driver_keys

__all__ = ["ok_hook"]
pytestmark = pytest.mark.integration
MINUTE = int(NOW // 60 * 60)


async def test_a_new_alert_carries_its_drivers_and_examples_everywhere(
        isolated: Settings, ok_hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = isolated.replace(alert_webhook_url=ok_hook.url)
    keys = KeyScheme(settings.redis_prefix)
    write_driver_keys(redis.Redis.from_url(settings.redis_url), keys, "acme",
                      burst_posts(random.Random(15)))
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        await client.hset(keys.total("acme"), "n", 660)
        await alert_on_a_drop(client, settings, "acme", MINUTE)
    finally:
        await client.aclose()
    assert len(ok_hook.requests) == 1
    payload = json.loads(ok_hook.requests[0].body)
    assert payload["kind"] == "sentiment_drop"
    drivers = payload["drivers"]
    assert drivers["side"] == "negative"
    assert "battery" in [d["term"] for d in drivers["negative"]]
    assert len(drivers["negative"]) <= 3 and len(drivers["positive"]) <= 3
    assert 2 <= len(payload["examples"]) <= 3
    assert all({"id", "text", "term"} == set(e) for e in payload["examples"])
    assert "; drivers: " in payload["text"] and "battery" in payload["text"]
    # `sentistream alerts` shows the same, from Redis.
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    run = CliRunner()
    # (in a thread: the command runs its own event loop)
    listed = json.loads((await asyncio.to_thread(run.invoke, cli.alerts, ["--json"])).output)
    assert listed[0]["drivers"] == drivers and listed[0]["examples"] == payload["examples"]
    human = (await asyncio.to_thread(run.invoke, cli.alerts, [])).output
    assert "battery" in human and "example posts" in human
    assert payload["examples"][0]["id"] in human
