"""Fightin' Words driver scores: hand-computed values, a burst's topic found, bounded counts."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from stream.drivers.fightin_words import (
    log_odds_z,
    merge_top_k,
    min_kept,
    top_drivers,
    why,
)
from stream.drivers.terms import TermExtractor
from stream.worker.brands import Brand


def test_z_scores_match_the_formula_worked_by_hand() -> None:
    # a0 = 4 and a prior of raw counts summing to 4, so a_battery = 1 and a_screen = 3.
    # battery: y_a = 3 of n_a = 10, y_b = 1 of n_b = 10:
    #   delta = log((3+1)/(10+4-3-1)) - log((1+1)/(10+4-1-1)) = log(0.4) - log(1/6) = log(2.4)
    #         = 0.875469; var = 1/(3+1) + 1/(1+1) = 0.75; z = 0.875469 / 0.866025 = 1.010904
    # screen: y_a = 7, y_b = 9:
    #   delta = log(10/4) - log(12/2) = log(2.5/6) = -0.875469; var = 1/10 + 1/12 = 0.183333;
    #   z = -0.875469 / 0.428174 = -2.044654
    z = log_odds_z({"battery": 3, "screen": 7}, {"battery": 1, "screen": 9},
                   {"battery": 1, "screen": 3}, a0=4)
    assert z["battery"] == pytest.approx(1.010904, abs=1e-6)
    assert z["screen"] == pytest.approx(-2.044654, abs=1e-6)
    drivers = top_drivers({"battery": 3, "screen": 7}, {"battery": 1, "screen": 9},
                          {"battery": 1, "screen": 3}, a0=4)
    assert [(d.term, d.count) for d in drivers] == [("battery", 3)]
    assert drivers[0].z == pytest.approx(1.010904, abs=1e-6)
    assert top_drivers({"battery": 3, "screen": 7}, {"battery": 1, "screen": 9},
                       {"battery": 1, "screen": 3}, a0=4, min_count=4) == []


def test_the_prior_scales_to_a0_and_a_term_new_to_the_prior_gets_its_smallest_share() -> None:
    # Doubling every prior count changes nothing: only the shape of the prior matters.
    once = log_odds_z({"a": 5, "b": 2}, {"a": 1, "b": 4}, {"a": 3, "b": 7}, a0=10)
    twice = log_odds_z({"a": 5, "b": 2}, {"a": 1, "b": 4}, {"a": 6, "b": 14}, a0=10)
    assert once == pytest.approx(twice)
    # "new" is not in the prior: a_new = the smallest scaled prior value = 10/10 * 3 = 3, so
    # delta = log((2+3)/(7+10-2-3)) - log((0+3)/(1+10-0-3)) = log(5/12) - log(3/8) = 0.105361,
    # var = 1/5 + 1/3 = 0.533333, z = 0.105361 / 0.730297 = 0.144271.
    new = log_odds_z({"a": 5, "new": 2}, {"a": 1}, {"a": 3, "b": 7}, a0=10)
    assert new["new"] == pytest.approx(0.144271, abs=1e-6)
    with pytest.raises(ValueError, match="prior"):
        log_odds_z({"a": 1}, {}, {}, a0=10)


TOPICS = ["screen", "camera", "price", "delivery", "app", "design", "speaker", "charger",
          "battery", "keyboard"]
NEGATIVE = ["the {t} is terrible", "hate the {t} on my acme", "acme {t} broke again",
            "worst {t} ever", "really disappointed by the {t}"]
POSITIVE = ["love the {t}", "acme {t} is amazing", "great {t} honestly", "best {t} ever",
            "so happy with the {t}"]
NEUTRAL = ["does the acme {t} come in blue", "reviewing the {t} tomorrow", "the {t} arrived"]
BURST = ["acme battery dies in an hour", "my battery drains overnight again",
         "battery drain after the update is unbearable", "acme battery dead by noon",
         "anyone else with battery drain since the update"]


def chatter(rng: random.Random, n: int) -> list[tuple[str, int]]:
    """(text, class) of ordinary posts: every topic, every class (0 neg, 1 neu, 2 pos)."""
    out = []
    for _ in range(n):
        label = rng.choice([0, 1, 1, 2, 2])
        templates = (NEGATIVE, NEUTRAL, POSITIVE)[label]
        out.append((rng.choice(templates).format(t=rng.choice(TOPICS)), label))
    return out


def drivers_of(baseline: list[tuple[str, int]], window: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    """Count the terms as the worker will (neg and pos posts, per class) and score them."""
    posts = baseline + window
    batch = TermExtractor([Brand("acme")]).extract([t for t, _ in posts])
    in_window = np.arange(len(posts)) >= len(baseline)
    labels = np.array([c for _, c in posts])
    polar = np.flatnonzero(labels != 1)
    group = in_window[polar] * 2 + (labels[polar] == 2)  # 0 base neg, 1 base pos, 2 win neg...
    base_neg, base_pos, win_neg, win_pos = batch.group_counts(
        polar, group.astype(np.int64), ["acme"] * 4)
    return why(win_neg, win_pos, base_neg, base_pos, Counter(base_neg) + Counter(base_pos),
               Counter(win_neg) + Counter(win_pos), k=10)


def test_a_burst_of_complaints_about_one_topic_is_the_top_negative_driver() -> None:
    rng = random.Random(15)
    baseline = chatter(rng, 6000)
    window = chatter(rng, 400) + [(rng.choice(BURST), 0) for _ in range(60)]
    rng.shuffle(window)
    result = drivers_of(baseline, window)
    negative = [d.term for d in result.negative]
    positive = [d.term for d in result.positive]
    assert "battery" in negative[:3], negative
    assert "battery" not in positive, positive
    assert "acme" not in negative + positive  # the brand's own name explains nothing
    # The standing vocabulary of complaints is not a driver: it is in the baseline too.
    assert not {"terrible", "worst", "hate"} & set(negative[:3])
    assert all(d.count >= 3 and d.z > 0 for d in result.negative + result.positive)


def test_ordinary_chatter_has_no_strong_driver() -> None:
    rng = random.Random(7)
    result = drivers_of(chatter(rng, 6000), chatter(rng, 400))
    assert all(d.z < 3.5 for d in result.negative + result.positive), result


def zipf_batches(rng: random.Random, batches: int, vocabulary: int) -> list[Counter[str]]:
    weights = [1 / (i + 1) for i in range(vocabulary)]
    terms = [f"t{i}" for i in range(vocabulary)]
    return [Counter(rng.choices(terms, weights, k=rng.randint(1, 300))) for _ in range(batches)]


@pytest.mark.parametrize("seed", range(8))
def test_top_k_pruning_keeps_its_stated_error_bounds(seed: int) -> None:
    rng = random.Random(seed)
    k = 25
    kept: dict[str, int] = {}
    truth: Counter[str] = Counter()
    for increments in zipf_batches(rng, 60, 400):
        kept = merge_top_k(kept, increments, k)
        truth.update(increments)
        assert len(kept) <= k
    m = min_kept(kept, k)
    total = sum(truth.values())
    assert sum(kept.values()) == total  # Space-Saving moves counts, never loses them
    assert 0 < m <= total / k
    for term, count in kept.items():
        assert truth[term] <= count <= truth[term] + m
    assert {t for t, c in truth.items() if c > m} <= set(kept)


def test_top_k_pruning_is_exact_within_k_terms_and_deterministic() -> None:
    rng = random.Random(3)
    batches = zipf_batches(rng, 30, 20)
    kept: dict[str, int] = {}
    for increments in batches:
        kept = merge_top_k(kept, increments, 20)
    assert kept == dict(sum(batches, Counter()))
    assert min_kept(kept, 21) == 0 and min_kept(kept, 20) == min(kept.values())
    # The same batches with their increments listed in another order: the same result.
    a: dict[str, int] = {}
    b: dict[str, int] = {}
    for increments in zipf_batches(random.Random(4), 30, 200):
        a = merge_top_k(a, increments, 10)
        b = merge_top_k(b, dict(reversed(list(increments.items()))), 10)
    assert a == b


def test_a_burst_term_survives_pruning_among_a_long_tail() -> None:
    rng = random.Random(5)
    kept: dict[str, int] = {}
    for i, increments in enumerate(zipf_batches(rng, 40, 3000)):
        if i >= 30:
            increments["battery"] += 20
        kept = merge_top_k(kept, increments, 30)
    assert kept["battery"] >= 200


def test_window_error_is_the_sum_of_the_buckets_bounds() -> None:
    rng = random.Random(9)
    buckets = []
    for _ in range(6):
        kept: dict[str, int] = {}
        truth: Counter[str] = Counter()
        for increments in zipf_batches(rng, 10, 500):
            kept = merge_top_k(kept, increments, 15)
            truth.update(increments)
        buckets.append((kept, truth))
    bound = sum(min_kept(kept, 15) for kept, _ in buckets)
    for term in {t for _, truth in buckets for t in truth}:
        summed = sum(kept.get(term, 0) for kept, _ in buckets)
        true = sum(truth[term] for _, truth in buckets)
        assert true - bound <= summed <= true + bound


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must"):
        merge_top_k({}, {"a": 1}, 0)
