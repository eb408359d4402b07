"""ops/bench/multilingual_member_weight.py: the per-member counts, their grid, and the weighted
mean of the members' probabilities (the same arithmetic as repeating a member in training)."""

from __future__ import annotations

import numpy as np
import pytest

from ops.bench.multilingual_member_weight import (
    NON_ENGLISH,
    last_member_counts,
    parse_weights,
    score,
    weighted_average,
)


def test_parse_weights_expands_ranges_into_every_combination() -> None:
    assert parse_weights("1,1,1,2,0") == [(1, 1, 1, 2, 0)]
    assert parse_weights("1,0:2,1:2") == [(1, 0, 1), (1, 0, 2), (1, 1, 1), (1, 1, 2),
                                          (1, 2, 1), (1, 2, 2)]
    assert len(parse_weights("1,1,1,0:3,0:3")) == 16


def test_parse_weights_drops_the_empty_ensemble_and_rejects_bad_ranges() -> None:
    assert parse_weights("0,0:1") == [(0, 1)]
    with pytest.raises(ValueError):
        parse_weights("1,3:1")
    with pytest.raises(ValueError):
        parse_weights("1,-1")


def test_copies_are_the_last_member_counted_k_times() -> None:
    assert last_member_counts(4, 0) == (1, 1, 1, 0)
    assert last_member_counts(4, 2) == (1, 1, 1, 2)


def test_weighted_average_is_the_mean_over_repeated_members() -> None:
    a, b, c = (np.array([[0.6, 0.3, 0.1]]), np.array([[0.2, 0.5, 0.3]]),
               np.array([[0.1, 0.1, 0.8]]))
    # counts (1, 2, 0) == the plain mean of [a, b, b]
    np.testing.assert_allclose(weighted_average([a, b, c], (1, 2, 0)), (a + b + b) / 3)
    np.testing.assert_allclose(weighted_average([a, b, c], (1, 1, 1)), (a + b + c) / 3)
    # s12m's formula for --copies k, bit for bit
    for k in range(4):
        old = (sum([a, b]) + k * c) / (2 + k)
        assert np.array_equal(weighted_average([a, b, c], last_member_counts(3, k)), old)
    with pytest.raises(ValueError):
        weighted_average([a, b], (1, 1, 1))
    with pytest.raises(ValueError):
        weighted_average([a, b], (0, 0))


def test_score_follows_the_weights() -> None:
    # member 0 always says class 0, member 1 is always right (labels 0, 1, 2 in turn)
    labels = np.array([0, 1, 2] * 4)
    wrong = np.tile([0.5, 0.25, 0.25], (12, 1))
    right = np.eye(3)[labels] * 0.6 + 0.1
    probs = {code: [wrong, right] for code in NON_ENGLISH}
    truth = {code: labels for code in NON_ENGLISH}
    assert score(probs, truth, (0, 1))["avg_7"] == 100.0
    assert score(probs, truth, (1, 0))["avg_7"] < 50.0
    assert score(probs, truth, (1, 1))["de"] == 100.0  # the mean picks the right class
