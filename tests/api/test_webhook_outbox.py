"""The webhook's alerts survive what can happen between Redis and the worker.

The real alert path (``BackgroundAlerts``) against the test Redis and real local HTTP servers:
an alert whose save was applied but whose reply was lost, and an alert whose worker stopped
before posting it, still reach the webhook, once each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
import redis.asyncio as aioredis

from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from stream.schema.live import BrandChange
from stream.worker.alerts.hook import BackgroundAlerts
from stream.worker.alerts.store import SAVE_LUA
from tests.api.test_webhook import Hook, alert_on_a_drop, ok_hook, silent_hook
from tests.lost_reply_proxy import LostReplyProxy
from tests.stream.test_cluster import cluster_url

__all__ = ["cluster_url", "ok_hook", "silent_hook"]  # fixtures

pytestmark = pytest.mark.integration


async def test_an_alert_is_posted_even_when_the_reply_to_its_save_was_lost(
        isolated: Settings, ok_hook: Hook) -> None:
    direct = aioredis.Redis.from_url(isolated.redis_url)
    # Cached first, so the request the proxy watches for is the EVALSHA that applies the save.
    sha = await direct.script_load(SAVE_LUA)
    async with LostReplyProxy(isolated.redis_url, hashlib.sha1(SAVE_LUA.encode()).hexdigest()
                              .encode()) as proxy:
        assert sha == hashlib.sha1(SAVE_LUA.encode()).hexdigest()
        settings = isolated.replace(redis_url=proxy.url, alert_webhook_url=ok_hook.url)
        client = aioredis.Redis.from_url(settings.redis_url)
        minute = (int(time.time()) // 60 - 2) * 60
        proxy.armed = True
        try:
            await alert_on_a_drop(client, settings, "acme", minute)
        finally:
            await client.aclose()
    await direct.aclose()
    assert proxy.lost == 1  # the save ran in Redis; the worker never heard back
    assert [r.headers["Idempotency-Key"] for r in ok_hook.requests] == \
        [f"acme:sentiment_drop:{minute}"]


async def test_the_alerts_of_a_worker_stopped_before_posting_them_are_posted_by_another(
        isolated: Settings, silent_hook: Hook, ok_hook: Hook) -> None:
    # Worker A saves the alert, then stops while its webhook has not answered (a POST may take
    # 30 s: still in flight when A stops, however loaded the machine).
    first = isolated.replace(alert_webhook_url=silent_hook.url, alert_webhook_attempts=1,
                             alert_webhook_timeout_s=30.0)
    client = aioredis.Redis.from_url(isolated.redis_url)
    minute = (int(time.time()) // 60 - 2) * 60
    try:
        keys_before = await client.dbsize()
        a = BackgroundAlerts(client, first)
        task = asyncio.ensure_future(alert_on_a_drop(client, first, "acme", minute, a))
        while not silent_hook.requests:
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert a.webhook is not None
        await a.webhook.close()
        assert await client.dbsize() > keys_before
        # Worker B, with a webhook that answers and short POSTs (so it claims what was read and
        # not posted after 5.3 s: its longest POST plus the margin), goes on with its batches.
        second = first.replace(alert_webhook_url=ok_hook.url, alert_webhook_timeout_s=0.3)
        b = BackgroundAlerts(client, second)
        deadline = time.monotonic() + 30
        while not ok_hook.requests and time.monotonic() < deadline:
            b.submit({"other": BrandChange(minutes=[minute])})
            await asyncio.sleep(0.25)
        assert b.webhook is not None
        await b.webhook.idle()
        await asyncio.sleep(0.5)  # nothing more comes
        assert [r.headers["Idempotency-Key"] for r in ok_hook.requests] == \
            [f"acme:sentiment_drop:{minute}"]
        assert json.loads(ok_hook.requests[0].body)["bucket"] == minute
    finally:
        await client.aclose()


async def test_an_outbox_deleted_under_the_workers_is_made_again(isolated: Settings,
                                                                 ok_hook: Hook) -> None:
    settings = isolated.replace(alert_webhook_url=ok_hook.url)
    client = aioredis.Redis.from_url(settings.redis_url)
    minute = (int(time.time()) // 60 - 3) * 60
    try:
        alerts = BackgroundAlerts(client, settings)
        await alert_on_a_drop(client, settings, "acme", minute, alerts)
        assert len(ok_hook.requests) == 1
        await client.delete(KeyScheme(settings.redis_prefix).alert_outbox)  # e.g. an operator
        await alert_on_a_drop(client, settings, "initech", minute + 60, alerts)
        deadline = time.monotonic() + 15
        while len(ok_hook.requests) < 2 and time.monotonic() < deadline:
            alerts.submit({"other": BrandChange(minutes=[minute])})  # the worker's next batches
            await asyncio.sleep(0.25)
            assert alerts.webhook is not None
            await alerts.webhook.idle()
        assert [r.headers["Idempotency-Key"] for r in ok_hook.requests] == [
            f"acme:sentiment_drop:{minute}", f"initech:sentiment_drop:{minute + 60}"]
    finally:
        await client.aclose()


async def test_the_outbox_delivers_on_a_redis_cluster(isolated: Settings, ok_hook: Hook,
                                                     cluster_url: str) -> None:
    """The alert keys and the outbox share the hash tag {<prefix>}: one slot, so the save
    script and the group's reads work on a cluster as on one Redis."""
    from redis.asyncio.cluster import RedisCluster

    settings = isolated.replace(redis_url=cluster_url, alert_webhook_url=ok_hook.url)
    client = RedisCluster.from_url(cluster_url)
    minute = (int(time.time()) // 60 - 2) * 60
    try:
        await alert_on_a_drop(client, settings, "acme", minute)  # type: ignore[arg-type]
        assert [r.headers["Idempotency-Key"] for r in ok_hook.requests] == \
            [f"acme:sentiment_drop:{minute}"]
        assert await client.xlen(KeyScheme(settings.redis_prefix).alert_outbox) == 0
    finally:
        await client.aclose()


async def test_an_outbox_entry_that_is_no_alert_is_dropped_and_the_alert_beside_it_posted(
        isolated: Settings, ok_hook: Hook) -> None:
    """The outbox is a Redis key anyone with access can write to: an entry without an alert,
    one that is not JSON, and a 1 MB one are acknowledged and dropped without a POST, and the
    real alert saved after them is still posted, once."""
    settings = isolated.replace(alert_webhook_url=ok_hook.url)
    client = aioredis.Redis.from_url(settings.redis_url)
    outbox = KeyScheme(settings.redis_prefix).alert_outbox
    minute = (int(time.time()) // 60 - 2) * 60
    try:
        await client.xadd(outbox, {"other": "x"})
        await client.xadd(outbox, {"alert": "{not json"})
        await client.xadd(outbox, {"alert": "[" * 1_000_000})
        await alert_on_a_drop(client, settings, "acme", minute)
        assert [r.headers["Idempotency-Key"] for r in ok_hook.requests] == \
            [f"acme:sentiment_drop:{minute}"]
        assert await client.xlen(outbox) == 0  # every entry acknowledged and deleted
    finally:
        await client.aclose()
