"""The read side (reader, CLI, API) on a real 3-node Redis Cluster, on data the worker wrote."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from redis.crc import key_slot

from sentistream.settings import Settings
from stream.readers.api.app import build_app
from stream.readers.query import cli
from stream.readers.query.params import parse_range, parse_window
from stream.readers.query.reader import reader
from stream.schema.keys import ALL_BRANDS, KeyScheme
from tests.query.brand_load import BUSY, load_brands
from tests.stream.test_cluster import cluster_url

__all__ = ["cluster_url"]
pytestmark = pytest.mark.integration


def spread_prefix(base: str) -> str:
    """A prefix whose `_all` slot (the ranking) and busy brands sit on different nodes."""
    def node(p: str, brand: str) -> int:
        return key_slot(KeyScheme(p).total(brand).encode()) * 3 // 16384
    return next(p for p in (f"{base}{i}" for i in range(100))
                if len({node(p, b) for b in (ALL_BRANDS, *BUSY)}) == 3)


async def test_reader_cli_and_api_answer_on_redis_cluster(
        isolated: Settings, cluster_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = isolated.replace(redis_url=cluster_url,
                                redis_prefix=spread_prefix(isolated.redis_prefix))
    now = time.time()
    await load_brands(settings, 200, now=now)
    window = parse_window("1h")
    async with reader(settings) as r:
        page = await r.brand_page(window, now, 3)
        assert [(row.brand, row.counts.n) for row in page.rows] == [("busy1", 30), ("busy2", 29),
                                                                    ("busy3", 28)]
        assert (page.total, page.next_offset) == (203, 3)
        s = await r.summary("busy2", window, now)
        assert (s["n"], s["brands_in_window"]) == (29, 203)
        assert s["share_of_voice"] == pytest.approx(29 / (200 + 30 + 29 + 28), abs=1e-6)
        timeline = await r.timeline("busy1", parse_range("1m", "-2h", None, now))
        assert sum(b["n"] for b in timeline) == 30
        assert (await r.top("busy1", window, now, 2))["positive"] is not None
        assert await r.alerts(None, 10, None) == []

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    # The commands run their own event loop: off this one, in a thread.
    out = await asyncio.to_thread(CliRunner().invoke, cli.brands,
                                  ["-w", "1h", "-n", "2", "--offset", "1", "--json"])
    assert [row["brand"] for row in json.loads(out.output)] == ["busy2", "busy3"], out.output
    out = await asyncio.to_thread(CliRunner().invoke, cli.query,
                                  ["-b", "busy3", "-w", "1h", "--json"])
    assert json.loads(out.output)["n"] == 28, out.output

    api: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await api.start_server()
    try:
        for path in ("/api/brands?window=1h&limit=20", "/api/query?brand=busy1&window=1h",
                     "/api/timeline?brand=busy1&resolution=1m&from=-2h",
                     "/api/top?brand=busy1&window=1h", "/api/alerts", "/health"):
            response = await api.get(path)
            assert response.status == 200, (path, await response.text())
        body = await (await api.get("/api/brands?window=1h&limit=20")).json()
        assert body["brands"][0]["brand"] == "busy1" and body["total"] == 203
    finally:
        await api.close()
