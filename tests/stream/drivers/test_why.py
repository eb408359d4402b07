"""`why` over Redis: a burst's topic found among the window's drivers, with example posts.

The driver keys are written into the real test Redis by ``written.write_driver_keys`` (the
contract's layout); tests/stream/drivers/test_why_worker.py runs the same story through a worker.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime

import pytest
import redis
import redis.asyncio as aioredis

from producers.generator import Burst, generate_posts
from sentistream.settings import Settings
from stream.drivers import why
from stream.drivers.why import (
    MAX_BASELINE_SETS,
    WhyConfigError,
    WhyPlan,
    WhyResult,
    explain,
    for_alert,
)
from stream.schema.keys import KeyScheme
from tests.stream.drivers.test_fightin_words import BURST, chatter
from tests.stream.drivers.written import Post, write_driver_keys

HOUR, DAY = 3600, 86400
NOW = 1_764_633_600 + 15 * HOUR + 1800  # 2025-12-02T15:30Z: the window is the 15:00 hour


def test_the_baseline_ends_where_the_window_starts() -> None:
    plan = WhyPlan.of(NOW, 2 * HOUR, 3)
    day = 1_764_633_600
    # (13:30, 15:30], rounded out to whole hours: 13:00, 14:00 and 15:00.
    assert plan.hours == [day + 13 * HOUR, day + 14 * HOUR, day + 15 * HOUR]
    # The 3 whole days before the window's first day, then that day's hours before the window:
    # all of them hour sets (the worker keeps no day term sets; a day is its 24 hours).
    assert plan.base_hours == list(range(day - 3 * DAY, day + 13 * HOUR, HOUR))
    at_one = WhyPlan.of(day + HOUR, HOUR, 1)
    assert at_one.hours == [day, day + HOUR]
    assert at_one.base_hours == list(range(day - DAY, day, HOUR))


def burst_posts(rng: random.Random) -> list[Post]:
    """Seven days of ordinary chatter, then an hour of chatter with a battery burst."""
    posts = []
    for i, (text, label) in enumerate(chatter(rng, 6000)):
        created = NOW - 3600 - rng.uniform(0, 7 * DAY)
        posts.append(Post(f"b{i}", text, label, created))
    window = [(t, c) for t, c in chatter(rng, 400)] + [(rng.choice(BURST), 0) for _ in range(60)]
    rng.shuffle(window)
    for i, (text, label) in enumerate(window):
        posts.append(Post(f"w{i}", text, label, NOW - 1790 + i * 3))
    return posts


def run_explain(settings: Settings, brand: str, window_s: int = HOUR, days: int = 7,
                k: int = 10) -> WhyResult:
    async def go() -> WhyResult:
        client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            return await explain(client, KeyScheme(settings.redis_prefix), brand, NOW,
                                 window_s, days, k)
        finally:
            await client.aclose()
    return asyncio.run(go())


@pytest.mark.integration
def test_a_burst_of_complaints_is_the_top_negative_driver_with_examples(
        isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    write_driver_keys(client, keys, "acme", burst_posts(random.Random(15)))
    result = run_explain(isolated, "acme")
    negative = [d.driver.term for d in result.negative]
    positive = [d.driver.term for d in result.positive]
    assert "battery" in negative[:3], negative
    assert "battery" not in positive, positive
    assert "acme" not in negative + positive
    battery = result.negative[negative.index("battery")]
    assert battery.driver.count >= 60 and battery.driver.z > 3
    assert len(battery.examples) == 2
    assert all("battery" in e.text and e.id.startswith("w") for e in battery.examples)
    body = result.to_json("acme", "1h")
    assert list(body) == ["brand", "window", "negative", "positive"]
    assert set(body["negative"][0]) == {"term", "z", "count", "examples"}
    assert set(body["negative"][0]["examples"][0]) == {"id", "text"}
    json.dumps(body)
    # The same answer from a client that does not decode replies (the worker's).
    raw = asyncio.run(_explain_raw(isolated))
    assert [d.driver for d in raw.negative] == [d.driver for d in result.negative]


async def _explain_raw(settings: Settings) -> WhyResult:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        return await explain(client, KeyScheme(settings.redis_prefix), "acme", NOW, HOUR, 7, 10)
    finally:
        await client.aclose()


@pytest.mark.integration
def test_an_alert_names_the_drivers_of_its_side_and_two_or_three_examples(
        isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    write_driver_keys(client, KeyScheme(isolated.redis_prefix), "acme",
                      burst_posts(random.Random(3)))
    result = run_explain(isolated, "acme")
    carried = for_alert("sentiment_drop", result)
    assert carried["drivers"]["side"] == "negative"
    assert "battery" in [d["term"] for d in carried["drivers"]["negative"]]
    assert len(carried["drivers"]["negative"]) <= 3
    assert 2 <= len(carried["examples"]) <= 3
    assert len({e["id"] for e in carried["examples"]}) == len(carried["examples"])
    assert for_alert("volume_spike", result)["drivers"]["side"] == "negative"


@pytest.mark.integration
def test_a_brand_without_driver_keys_has_no_drivers_and_bad_examples_are_skipped(
        isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    assert run_explain(isolated, "nobody").negative == []
    hour = NOW // HOUR * HOUR
    # The standing complaints, in hour sets of the baseline days (no day sets are read).
    for h in range(hour // DAY * DAY - 3 * DAY, hour // DAY * DAY - 2 * DAY, HOUR):
        client.zadd(keys.terms("acme", "neg", "h", h), {"slow": 17, "late": 13, "rude": 13})
    client.zadd(keys.terms("acme", "neg", "h", hour), {"refund": 9, "late": 3, "rude": 3})
    client.lpush(keys.examples("acme", "neg", hour), "not json", json.dumps({"id": 1}),
                 json.dumps({"id": "p1", "text": "still waiting for my refund"}))
    result = run_explain(isolated, "acme")
    assert [d.driver.term for d in result.negative][:1] == ["refund"]
    assert [e.id for e in result.negative[0].examples] == ["p1"]


def test_settings_out_of_range_say_which_variable_to_fix() -> None:
    with pytest.raises(WhyConfigError, match="SENTISTREAM_WHY_BASELINE_DAYS"):
        asyncio.run(explain(None, KeyScheme(), "acme", NOW, HOUR, 0, 10))
    with pytest.raises(WhyConfigError, match="SENTISTREAM_WHY_TERMS"):
        asyncio.run(explain(None, KeyScheme(), "acme", NOW, HOUR, 7, 51))


@pytest.mark.integration
@pytest.mark.parametrize("flipped_of_20", [5, 7, 8])
def test_a_brand_first_seen_this_hour_is_explained_against_its_other_class(
        isolated: Settings, flipped_of_20: int) -> None:
    # The demo's story: no history at all, six minutes of generated chatter, then a burst of
    # battery complaints, a quarter of which come out positive (as with the shipped model:
    # "Hey acme, your battery keeps freezing. Fix it 👎" scores positive). Against the window's
    # own vocabulary (the prior) battery's z is 1.4; against the window's praise it stands out.
    base = list(generate_posts(["acme"], seed=11, rate=1.0, tick_s=1.0, limit=360,
                               start=NOW - 1200))
    burst = list(generate_posts(["acme"], seed=5, rate=2, burst=Burst("acme", 0, 4, 50),
                                limit=208, start=NOW - 60))
    labels = {"negative": 0, "neutral": 1, "positive": 2}
    posts = []
    for i, p in enumerate(base + burst):
        flipped = i >= len(base) and "battery" in p["text"] and i % 20 < flipped_of_20
        posts.append(Post(f"g{i}", p["text"], 2 if flipped else labels[p["label"]],
                          datetime.fromisoformat(p["created_at"]).timestamp()))
    write_driver_keys(redis.Redis.from_url(isolated.redis_url), KeyScheme(isolated.redis_prefix),
                      "acme", posts)
    result = run_explain(isolated, "acme")
    negative = [d.driver.term for d in result.negative]
    assert "battery" in negative[:3], negative
    assert result.negative[negative.index("battery")].driver.z > 3
    assert "battery" not in [d.driver.term for d in result.positive]


def test_examples_use_the_term_as_a_whole_word_newest_first_two_at_most() -> None:
    from stream.drivers.fightin_words import Driver
    from stream.drivers.why import _with_examples

    def member(i: int, text: str) -> str:
        return json.dumps({"id": f"p{i}", "text": text}, ensure_ascii=False)

    members = [member(1, "Batteryless design"), member(2, "the BATTERY died"),
               member(3, "battery life, gone"), member(4, "#Refund now"),
               member(5, "my battery again"), member(6, "battery, life and more battery"),
               "not json", member(7, "battery")]
    found = _with_examples([Driver("battery", 5.0, 9), Driver("battery life", 4.0, 3),
                            Driver("#refund", 3.0, 3), Driver("refund", 2.0, 3),
                            Driver("absent", 1.0, 3)], members)
    ids = {e.driver.term: [x.id for x in e.examples] for e in found}
    assert ids == {"battery": ["p2", "p3"], "battery life": ["p3", "p6"], "#refund": ["p4"],
                   "refund": [], "absent": []}


# -- a long baseline is read as a bounded, evenly spread sample of its hours --


def test_a_long_baseline_reads_a_bounded_sample_that_covers_every_hour_of_the_day() -> None:
    plan = WhyPlan.of(NOW, DAY, 60)
    assert len(plan.base_hours) == 60 * 24 + 15  # what the baseline spans: unchanged
    read = plan.base_read
    assert len(read) <= MAX_BASELINE_SETS and set(read) <= set(plan.base_hours)
    # Each read set stands for `stride` hours: the weighted sum estimates the whole span's.
    assert abs(len(read) * plan.stride - len(plan.base_hours)) < plan.stride
    # The daily cycle is sampled evenly: every hour of the day, as often as any other (+-1).
    per_hour = [sum(1 for h in read if h % DAY == k * HOUR) for k in range(24)]
    assert max(per_hour) - min(per_hour) <= 1 and min(per_hour) > 0
    # The same hours whatever the window's end: answers an hour apart read the same sample.
    later = WhyPlan.of(NOW + HOUR, DAY, 60)
    assert set(read) - set(later.base_read) <= {plan.base_hours[0]}


def test_a_short_baseline_is_read_whole() -> None:
    plan = WhyPlan.of(NOW, DAY, 7)
    assert plan.stride == 1 and plan.base_read == plan.base_hours


def zipf_sets(client: redis.Redis, keys: KeyScheme, hours: list[int], rng: random.Random,
              extra: dict[str, int] | None = None) -> None:
    words = [f"word{i}" for i in range(2000)]
    weights = [1 / (i + 1) for i in range(len(words))]
    pipe = client.pipeline(transaction=False)
    for hour in hours:
        for cls in ("neg", "pos"):
            counts: dict[str, int] = {}
            for word in rng.choices(words, weights, k=600):
                counts[word] = counts.get(word, 0) + 1
            if cls == "neg" and extra:
                counts.update(extra)
            top = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:128])
            pipe.zadd(keys.terms("acme", cls, "h", hour), top)
    pipe.execute()


@pytest.mark.integration
def test_a_sampled_60_day_baseline_finds_the_drivers_the_whole_one_finds(
        isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    plan = WhyPlan.of(NOW, HOUR, 60)
    rng = random.Random(60)
    zipf_sets(client, keys, plan.base_hours, rng)
    zipf_sets(client, keys, plan.hours, rng, extra={"battery": 200, "refund": 150})
    sampled = run_explain(isolated, "acme", days=60)
    monkeypatch.setattr(why, "MAX_BASELINE_SETS", 10_000)
    whole = run_explain(isolated, "acme", days=60)
    assert WhyPlan.of(NOW, HOUR, 60).stride == 1 < plan.stride  # the reference read it all
    top = [d.driver.term for d in whole.negative]
    assert top[:2] == ["battery", "refund"]
    assert [d.driver.term for d in sampled.negative][:2] == top[:2]
    for s, w in zip(sampled.negative[:2], whole.negative[:2], strict=True):
        assert s.driver.count == w.driver.count
        assert s.driver.z == pytest.approx(w.driver.z, rel=0.05)
    # Beyond the burst, chance words of the synthetic hour, rare in the baseline (where the
    # sample's estimate varies most): mostly the same ones.
    rest = {d.driver.term for d in whole.negative} & {d.driver.term for d in sampled.negative}
    assert len(rest) >= 7
