"""The synthetic generator, without Kafka: reproducible, mixed as asked, bursts where asked."""

from __future__ import annotations

from collections import Counter

import pytest

from producers.errors import GeneratorConfigError
from producers.generator import Burst, GeneratorSpec, generate_posts
from sentistream.times import parse_timestamp


def test_same_seed_same_posts_and_ids_are_unique() -> None:
    a = list(generate_posts(seed=7, limit=500))
    b = list(generate_posts(seed=7, limit=500))
    assert a == b
    assert len({p["id"] for p in a}) == 500
    assert list(generate_posts(seed=8, limit=50)) != a[:50]


def test_posts_follow_the_post_format() -> None:
    for post in generate_posts(brands=["acme", "globex"], limit=200):
        assert isinstance(post["id"], str) and post["id"]
        assert isinstance(post["text"], str) and post["text"].strip()
        assert post["brand"] in {"acme", "globex"}
        assert post["brand"] in post["text"].lower()
        parse_timestamp(post["created_at"])


def test_sentiment_mix_follows_the_shares() -> None:
    posts = list(generate_posts(seed=3, negative_share=0.6, positive_share=0.1, limit=20_000))
    share = Counter(p["label"] for p in posts)
    assert share["negative"] / len(posts) == pytest.approx(0.6, abs=0.02)
    assert share["positive"] / len(posts) == pytest.approx(0.1, abs=0.02)


def test_burst_is_a_negative_spike_for_one_brand_inside_its_window() -> None:
    start = 1_000_000.0
    burst = Burst("acme", at_s=10.0, seconds=5.0, rate=400.0)
    posts = list(generate_posts(brands=["acme", "globex"], rate=100.0, start=start,
                                burst=burst, limit=4000, negative_share=0.1))
    per_second: Counter[int] = Counter()
    for p in posts:
        if p["brand"] == "acme" and p["label"] == "negative":
            per_second[int(parse_timestamp(p["created_at"]) - start)] += 1
    inside = [per_second[s] for s in range(11, 15)]
    outside = [per_second[s] for s in range(1, 9)]
    assert min(inside) > 300  # ~400 burst + ~5 ordinary per second
    assert max(outside) < 30


def test_rate_sets_the_virtual_clock() -> None:
    posts = list(generate_posts(rate=50.0, start=0.0, limit=500))
    assert parse_timestamp(posts[-1]["created_at"]) == pytest.approx(10.0, abs=0.11)


@pytest.mark.parametrize("neg,pos", [(1.2, 0.0), (0.7, 0.5), (-0.1, 0.2)])
def test_bad_shares_are_refused(neg: float, pos: float) -> None:
    with pytest.raises(GeneratorConfigError, match="shares"):
        GeneratorSpec(negative_share=neg, positive_share=pos)
