"""Issue 15 on the read side, over keys written into the real test Redis per the contract
(tests/stream/drivers/written.py): unique authors, the repost setting, `why` in the CLI and API.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from sentistream.settings import Settings
from stream.readers.query import cli
from stream.readers.query.params import parse_range, parse_window
from stream.readers.query.reader import Reader, connect
from stream.schema.keys import INTENSITY_SCALE, KeyScheme
from tests.api.conftest import client_for
from tests.stream.drivers.test_why import NOW, burst_posts
from tests.stream.drivers.written import write_driver_keys

pytestmark = pytest.mark.integration
MINUTES = [int(NOW // 60 * 60) - 60 * i for i in range(10)][::-1]


def write_counts(client: redis.Redis, keys: KeyScheme, brand: str, start: int,
                 fields: dict[str, int]) -> None:
    """A minute bucket as the worker leaves it, with its index, ranking and total."""
    client.hset(keys.bucket(brand, "m", start), mapping=fields)  # type: ignore[arg-type]
    client.zadd(keys.bucket_index(brand, "m"), {str(start): start})
    client.zadd(keys.rank("m", start), {brand: int(fields["n"])})
    client.zadd(keys.brands, {brand: start})
    for name, value in fields.items():
        client.hincrby(keys.total(brand), name, int(value))


def reader_for(settings: Settings, count_reposts: bool = True) -> Reader:
    return Reader(connect(settings), KeyScheme(settings.redis_prefix), count_reposts)


async def test_unique_authors_is_within_2_percent_of_400_authors(isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    rng = random.Random(400)
    authors = [f"user{i:04d}" for i in range(400)]
    per_minute: dict[int, set[str]] = {m: set() for m in MINUTES}
    for author in authors:  # each author posts in 1 to 5 of the minutes: many repeat
        for minute in rng.sample(MINUTES, rng.randint(1, 5)):
            per_minute[minute].add(author)
    for minute, who in per_minute.items():
        client.pfadd(keys.authors("acme", "m", minute), *who)
        write_counts(client, keys, "acme", minute, {"n": len(who), "neg": 0, "neu": len(who),
                                                    "pos": 0, "isum_e6": 0})
    r = reader_for(isolated)
    try:
        summary = await r.summary("acme", parse_window("15m"), NOW)
        page = await r.brand_page(parse_window("15m"), NOW)
        timeline = await r.timeline("acme", parse_range("1m", str(MINUTES[0]),
                                                         str(MINUTES[-1] + 60)))
    finally:
        await r.client.aclose()
    assert summary["n"] == sum(map(len, per_minute.values())) > 400  # posts, not people
    assert abs(summary["unique_authors"] - 400) <= 0.02 * 400, summary["unique_authors"]
    assert page.rows[0].to_json()["unique_authors"] == summary["unique_authors"]
    for bucket in timeline:
        true = len(per_minute[bucket["start"]])
        assert abs(bucket["unique_authors"] - true) <= max(0.02 * true, 1), (bucket, true)


async def test_the_repost_setting_leaves_reposts_out_of_nss_and_intensity(
        isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    # 10 posts: 4 negative (3 of them reposts of one complaint), 2 neutral, 4 positive.
    write_counts(client, keys, "acme", MINUTES[-1], {
        "n": 10, "neg": 4, "neu": 2, "pos": 4, "isum_e6": int(-0.1 * INTENSITY_SCALE),
        "reposts": 3, "rp_neg": 3, "rp_neu": 0, "rp_pos": 0,
        "rp_isum_e6": int(-1.8 * INTENSITY_SCALE)})
    window = parse_window("15m")
    counted, originals = reader_for(isolated), reader_for(isolated, count_reposts=False)
    try:
        with_rp = await counted.summary("acme", window, NOW)
        without = await originals.summary("acme", window, NOW)
        row = (await originals.brand_page(window, NOW)).rows[0].to_json()
        bucket = (await originals.timeline("acme", parse_range(
            "1m", str(MINUTES[-1]), str(MINUTES[-1] + 60))))[0]
    finally:
        await counted.client.aclose()
        await originals.client.aclose()
    assert (with_rp["n"], with_rp["negative"], with_rp["nss"], with_rp["reposts"]) == (
        10, 4, 0.0, 3)
    assert with_rp["mean_intensity"] == pytest.approx(-0.01)
    assert (without["n"], without["negative"], without["positive"], without["reposts"]) == (
        7, 1, 4, 3)
    assert without["nss"] == pytest.approx(3 / 7, abs=1e-6)
    assert without["mean_intensity"] == pytest.approx(1.7 / 7, abs=1e-6)
    assert row["nss"] == without["nss"] and bucket["nss"] == without["nss"]
    assert Settings.from_env({"SENTISTREAM_COUNT_REPOSTS": "false"}).count_reposts is False
    assert Settings().count_reposts is True  # the default keeps today's numbers


@pytest.fixture
def burst(isolated: Settings) -> Settings:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    write_driver_keys(client, keys, "acme", burst_posts(random.Random(15)))
    write_counts(client, keys, "acme", MINUTES[-1], {"n": 460, "neg": 200, "neu": 100,
                                                     "pos": 160, "isum_e6": 0})
    return isolated


async def test_api_why_names_the_burst_and_validates_like_the_other_routes(
        burst: Settings) -> None:
    api = await client_for(burst)
    try:
        async def get(query: str, status: int) -> Any:
            response = await api.get("/api/why?" + query)
            body = await response.json()
            assert response.status == status, body
            return body
        body = await get(f"brand=acme&window=1h&at={NOW}", 200)
        assert list(body) == ["brand", "window", "negative", "positive"]
        assert (body["brand"], body["window"]) == ("acme", "1h")
        negative = [d["term"] for d in body["negative"]]
        assert "battery" in negative[:3] and "battery" not in [d["term"] for d in
                                                                 body["positive"]]
        first = body["negative"][negative.index("battery")]
        assert set(first) == {"term", "z", "count", "examples"} and len(first["examples"]) == 2
        assert "7d" in (await get("brand=acme&window=8d", 400))["error"]
        assert "brand" in (await get("window=1h", 400))["error"]
        assert "unknown brand" in (await get("brand=nobody", 404))["error"]
        assert "bad time" in (await get("brand=acme&at=nan", 400))["error"]
        doc = await (await api.get("/openapi.json")).json()
        assert "/api/why" in doc["paths"]
    finally:
        await api.close()


def test_cli_why_prints_drivers_and_json(burst: Settings,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: burst)
    run = CliRunner()
    out = run.invoke(cli.why, ["-b", "acme", "--at", str(NOW), "--json"],
                     catch_exceptions=False)
    body = json.loads(out.output)
    assert "battery" in [d["term"] for d in body["negative"][:3]]
    human = run.invoke(cli.why, ["-b", "acme", "--at", str(NOW)], catch_exceptions=False).output
    assert "negative drivers" in human and "battery" in human
    bad = run.invoke(cli.why, ["-b", "acme", "-w", "30d"])
    assert bad.exit_code == 2 and "at most 7d" in bad.output
    unknown = run.invoke(cli.why, ["-b", "nobody"])
    assert unknown.exit_code == 4


def test_unique_authors_through_the_real_worker_is_within_2_percent_of_400(
        isolated: Settings) -> None:
    from sentistream.harness import wait_until
    from tests.query.harness import Pipeline, send_posts

    rng = random.Random(4)
    now = time.time()
    # 400 authors, 1,000 posts over the last ten minutes: every author posts, most several times.
    authors = [f"author{i:03d}" for i in range(400)] + [
        f"author{rng.randrange(400):03d}" for _ in range(600)]
    posts = [{"id": f"u{i}", "text": f"acme order number {i} arrived", "brand": "acme",
              "author": who, "created_at": now - 30 - rng.randrange(540)}
             for i, who in enumerate(authors)]
    pipeline = Pipeline(isolated).start()
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    try:
        sent = send_posts(isolated, posts)
        wait_until(lambda: int(client.hget(keys.total("acme"), "n") or 0) >= sent, 120,
                   "the worker to apply the posts", pipeline.children())
    finally:
        pipeline.stop()
    run = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "get_settings", lambda: isolated)
        summary = json.loads(run.invoke(cli.query, ["-b", "acme", "-w", "15m", "--json"],
                                        catch_exceptions=False).output)
        rows = json.loads(run.invoke(cli.brands, ["-w", "15m", "--json"],
                                     catch_exceptions=False).output)
    assert summary["n"] == 1000
    assert abs(summary["unique_authors"] - 400) <= 8, summary["unique_authors"]
    assert rows[0]["brand"] == "acme" and rows[0]["unique_authors"] == summary["unique_authors"]
