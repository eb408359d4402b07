"""The read side with many brands: its cost does not grow with the number of brands.

Counted in Redis commands (``INFO commandstats``), not in seconds: the same questions with 40
and with 1,000 brands must cost the same commands. Timings are in ops/bench/read_side.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from sentistream.settings import Settings
from stream.readers.api.app import build_app
from tests.query.brand_load import BUSY, load_brands

pytestmark = pytest.mark.integration
# The API's live hub blocks on XREAD in the background; that is not the cost of a request.
NOT_COUNTED = {"info", "xread"}


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items()
               if k.removeprefix("cmdstat_").split("|")[0] not in NOT_COUNTED)


async def costs(settings: Settings, singles: int) -> dict[str, Any]:
    """Commands run for the brand list and a busy brand's summary, with their answers."""
    await load_brands(settings, singles)
    client = redis.Redis.from_url(settings.redis_url)
    api: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await api.start_server()
    out: dict[str, Any] = {}
    try:
        for name, path in (("brands", "/api/brands?window=1h&limit=5"),
                           ("query", "/api/query?brand=busy1&window=1h")):
            await api.get(path)  # scripts loaded and connections made before counting
            spent = []
            for _ in range(3):  # anything else on the server only adds: keep the least
                before = commands(client)
                response = await api.get(path)
                spent.append(commands(client) - before)
                assert response.status == 200, await response.text()
            out[name + "_cost"] = min(spent)
            out[name] = await response.json()
    finally:
        await api.close()
    return out


async def test_brand_list_and_summary_cost_the_same_with_many_more_brands(
        services: Settings, unique: str) -> None:
    few = await costs(services.replace(redis_prefix=f"t{unique}a"), 40)
    many = await costs(services.replace(redis_prefix=f"t{unique}b"), 1000)
    assert many["brands_cost"] == few["brands_cost"], (few["brands_cost"], many["brands_cost"])
    assert many["query_cost"] == few["query_cost"], (few["query_cost"], many["query_cost"])
    page = many["brands"]
    assert [b["brand"] for b in page["brands"]] == [*BUSY, "brand000000", "brand000001"]
    assert [b["n"] for b in page["brands"]] == [30, 29, 28, 1, 1]
    assert (page["total"], page["offset"], page["limit"], page["next_offset"]) == (1003, 0, 5, 5)
    mentions = 1000 + 30 + 29 + 28
    assert page["brands"][0]["share_of_voice"] == pytest.approx(30 / mentions, abs=1e-6)
    s = many["query"]
    assert (s["n"], s["brands_in_window"]) == (30, 1003)
    assert s["share_of_voice"] == pytest.approx(30 / mentions, abs=1e-6)
    client = redis.Redis.from_url(services.redis_url)
    for suffix in "ab":
        for key in client.scan_iter(match=f"{{t{unique}{suffix}*", count=1000):
            client.delete(key)


async def test_pages_walk_every_brand_once_busiest_first(isolated: Settings) -> None:
    await load_brands(isolated, 250)
    api: TestClient[Any, Any] = TestClient(TestServer(build_app(isolated)))
    await api.start_server()
    try:
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            response = await api.get(f"/api/brands?window=1h&limit=100&offset={offset}")
            body = await response.json()
            assert response.status == 200, body
            rows += body["brands"]
            offset = body["next_offset"]
        assert [r["brand"] for r in rows] == [*BUSY, *(f"brand{i:06d}" for i in range(250))]
        assert sum(r["share_of_voice"] for r in rows) == pytest.approx(1.0, abs=1e-4)  # rounded
        bad = await api.get("/api/brands?window=1h&offset=-1")
        assert bad.status == 400 and "offset" in (await bad.json())["error"]
        beyond = await (await api.get("/api/brands?window=1h&offset=5000")).json()
        assert (beyond["brands"], beyond["total"], beyond["next_offset"]) == ([], 253, None)
    finally:
        await api.close()
