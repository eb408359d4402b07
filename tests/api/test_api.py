"""The HTTP API against the real Redis, on data the real pipeline wrote; SSE from a real worker."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from sentistream.settings import Secret
from tests.api.conftest import client_for
from tests.query.dataset import MIX, WEIRD, Dataset
from tests.query.harness import POSITIVE, post, send_posts
from tests.replies import stream_entries

# One server for the module: its live hub takes up to a second to stop.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def get(api: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await api.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


async def test_health_and_openapi(api: TestClient[Any, Any]) -> None:
    # Public, so nothing about internals: no Redis address, no client counts.
    assert await get(api, "/health") == {"status": "ok"}
    doc = await get(api, "/openapi.json")
    assert doc["openapi"].startswith("3.") and "/api/timeline" in doc["paths"]
    assert "security" not in doc


async def test_brands_and_query(dataset: Dataset, api: TestClient[Any, Any]) -> None:
    body = await get(api, "/api/brands?window=15m")
    assert {b["brand"] for b in body["brands"]} == set(MIX)
    pos, neg, neu = dataset.expected["acme"]
    s = await get(api, "/api/query?brand=acme&window=1h")
    assert (s["n"], s["positive"], s["negative"], s["neutral"]) == (30, pos, neg, neu)
    assert s["share_of_voice"] == pytest.approx(30 / sum(sum(m) for m in MIX.values()), abs=1e-6)


async def test_the_same_numbers_as_the_cli(dataset: Dataset, api: TestClient[Any, Any]) -> None:
    from stream.readers.query.params import parse_window
    from stream.readers.query.reader import reader

    async with reader(dataset.settings) as r:
        direct = await r.summary("globex", parse_window("15m"), time.time())
    over_http = await get(api, "/api/query?brand=globex&window=15m")
    for key in ("n", "positive", "negative", "neutral", "nss", "mean_intensity"):
        assert over_http[key] == direct[key]


async def test_timeline_top_and_alerts(dataset: Dataset, api: TestClient[Any, Any]) -> None:
    t = await get(api, "/api/timeline?brand=acme&resolution=1m&from=-10m")
    assert sum(b["n"] for b in t["buckets"]) == 30 and len(t["buckets"]) in (10, 11)
    top = await get(api, "/api/top?brand=acme&window=1h&limit=2")
    pos, neg, _ = dataset.expected["acme"]
    assert (len(top["positive"]), len(top["negative"])) == (min(pos, 2), min(neg, 2)), top
    assert {p["label"] for p in top["positive"]} <= {"positive"}
    assert (await get(api, "/api/alerts"))["alerts"] == []


async def test_lang_filters_every_view_and_shows_the_mix(dataset: Dataset,
                                                         api: TestClient[Any, Any]) -> None:
    pos, neg, _ = dataset.expected["acme"]  # the dataset's posts say "lang": "en"
    s = await get(api, "/api/query?brand=acme&window=1h")
    assert s["languages"] == {"en": 30} and s["unsupported_language"] == 0 and s["lang"] is None
    en = await get(api, "/api/query?brand=acme&window=1h&lang=EN")
    assert (en["n"], en["positive"], en["negative"], en["lang"]) == (30, pos, neg, "en")
    assert en["nss"] == s["nss"]
    de = await get(api, "/api/query?brand=acme&window=1h&lang=de")
    assert (de["n"], de["positive"], de["nss"], de["languages"]) == (0, 0, None, {"en": 30})
    rows = (await get(api, "/api/brands?window=15m&lang=de"))["brands"]
    assert {r["brand"] for r in rows} == set(MIX) and all(r["n"] == 0 for r in rows)
    t = await get(api, "/api/timeline?brand=acme&resolution=1m&from=-10m&lang=en")
    assert sum(b["n"] for b in t["buckets"]) == 30
    assert sum(b["languages"].get("en", 0) for b in t["buckets"]) == 30
    t = await get(api, "/api/timeline?brand=acme&resolution=1m&from=-10m&lang=fr")
    assert sum(b["n"] for b in t["buckets"]) == 0


async def test_brand_names_are_escaped(dataset: Dataset, api: TestClient[Any, Any]) -> None:
    s = await get(api, f"/api/query?brand={quote(WEIRD)}")
    assert s["n"] == 4 and s["brand"] == WEIRD
    for pattern in ("*", "at%26t*", "%7Bq", "acme%7D"):
        body = await get(api, f"/api/query?brand={pattern}", 404)
        assert "unknown brand" in body["error"]


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/api/query?brand=nosuch", 404, "unknown brand 'nosuch'"),
    ("/api/timeline?brand=nosuch", 404, "unknown brand"),
    ("/api/query?brand=acme&window=fortnight", 400, "bad window 'fortnight'"),
    ("/api/query?brand=acme&window=999d", 400, "between 1m and 366d"),
    ("/api/timeline?brand=acme&resolution=5m", 400, "bad resolution '5m'"),
    ("/api/timeline?brand=acme&from=-1h&to=-2h", 400, "must be before"),
    ("/api/timeline?brand=acme&from=-30d&resolution=1m", 400, "at most 1500"),
    ("/api/timeline?brand=acme&from=someday", 400, "bad time 'someday'"),
    ("/api/query", 400, "'brand' query parameter is required"),
    ("/api/top?brand=acme&limit=0", 400, "bad limit"),
    ("/api/query?brand=acme&lang=english", 400, "bad lang 'english'"),
    ("/api/brands?lang=e*", 400, "bad lang"),
    ("/api/timeline?brand=acme&lang=lang:x", 400, "bad lang"),
    ("/api/nothing-here", 404, "Not Found"),
])
async def test_bad_requests_get_a_clear_json_error(api: TestClient[Any, Any], path: str,
                                                   status: int, message: str) -> None:
    body = await get(api, path, status)
    assert message in body["error"] and body["status"] == status


async def test_optional_bearer_token(dataset: Dataset) -> None:
    client = await client_for(dataset.settings.replace(api_token=Secret("s3cret")))
    try:
        denied = await client.get("/api/brands")
        assert denied.status == 401 and "Bearer" in (await denied.json())["error"]
        wrong = await client.get("/api/brands", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await client.get("/api/brands", headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        # Never from the URL, where it would land in access logs and browser history.
        in_url = await client.get("/api/brands?token=s3cret")
        assert in_url.status == 401 and "never read from the URL" in (await in_url.json())["error"]
        assert (await client.get("/api/live?token=s3cret")).status == 401
        lower = await client.get("/api/brands", headers={"Authorization": "bearer s3cret"})
        assert lower.status == 200  # the scheme is case-insensitive (RFC 9110)
        assert (await client.get("/health")).status == 200
        assert (await client.get("/")).status == 200
        doc = await (await client.get("/openapi.json")).json()
        assert doc["security"] == [{"bearer": []}]
    finally:
        await client.close()


async def test_dashboard_page_and_assets_are_served(api: TestClient[Any, Any]) -> None:
    page = await api.get("/")
    assert page.status == 200 and "live-counter" in await page.text()
    for asset in ("/static/app.js", "/static/charts.js", "/static/style.css"):
        assert (await api.get(asset)).status == 200


async def read_events(response: Any, until: Any, timeout_s: float) -> list[tuple[str, Any]]:
    """SSE events (name, data) until ``until(events)`` holds."""
    events: list[tuple[str, Any]] = []
    name = ""

    async def pump() -> None:
        nonlocal name
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if until(events):
                    return
    await asyncio.wait_for(pump(), timeout_s)
    return events


async def test_sse_delivers_an_update_after_a_post_is_scored(
        dataset: Dataset, api: TestClient[Any, Any]) -> None:
    response = await api.get("/api/live?brand=globex")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    first = await read_events(response, lambda ev: bool(ev), 10)
    assert first[0][0] == "hello"
    loop = asyncio.get_running_loop()
    sent_at = time.time()
    await loop.run_in_executor(None, send_posts, dataset.settings, [
        post(9000 + i, "globex", POSITIVE.format(b="globex"), sent_at, prefix="sse")
        for i in range(3)])
    events = await read_events(
        response, lambda ev: any(n == "update" and "globex" in d["brands"] for n, d in ev), 60)
    update = next(d for n, d in events if n == "update")
    assert update["brands"]["globex"]["n"] >= 1 and update["at"] >= sent_at
    assert "acme" not in update["brands"]  # the brand filter holds
    response.close()


async def test_sse_for_an_unknown_brand_is_404(api: TestClient[Any, Any]) -> None:
    await get(api, "/api/live?brand=nosuch", 404)


async def test_redis_down_is_a_503_with_what_to_do(dataset: Dataset) -> None:
    from sentistream.harness import free_port

    down = dataset.settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = await client_for(down)
    try:
        health = await client.get("/health")
        assert health.status == 503 and await health.json() == {"status": "unavailable"}
        brands = await client.get("/api/brands")
        assert brands.status == 503
        assert "sentistream infra up" in (await brands.json())["error"]
    finally:
        await client.close()


async def test_sse_resumes_from_last_event_id(dataset: Dataset,
                                              api: TestClient[Any, Any]) -> None:
    import redis.asyncio as aioredis

    from stream.schema.keys import KeyScheme

    live = KeyScheme(dataset.settings.redis_prefix).live
    client = aioredis.Redis.from_url(dataset.settings.redis_url, decode_responses=True)
    try:
        before = await client.xlen(live)  # the dataset's batches; one more post makes two
        await asyncio.get_running_loop().run_in_executor(None, send_posts, dataset.settings, [
            post(9100, "globex", POSITIVE.format(b="globex"), time.time(), prefix="resume")])
        deadline = time.monotonic() + 60
        while await client.xlen(live) <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        entries = stream_entries(await client.xrange(live))
    finally:
        await client.aclose()
    assert len(entries) >= 2
    response = await api.get("/api/live", headers={"Last-Event-ID": entries[0][0]})
    missed = len(entries) - 1
    events = await read_events(response, lambda ev: len(ev) >= 1 + missed, 10)
    # hello, then exactly the entries after the given id, in order
    assert [n for n, _ in events[:1]] == ["hello"]
    assert [json.loads(f["data"]) for _, f in entries[1:]] == [d for _, d in events[1:1 + missed]]
    response.close()
