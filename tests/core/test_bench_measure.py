"""ops/bench/measure.py: the paired bootstrap interval of a ratio of means, which the drivers'
cost reports beside its pooled ratio (a run's rounds scatter by +-15% on a shared machine)."""

from __future__ import annotations

import pytest

from ops.bench.measure import ratio_interval


def test_the_interval_holds_the_pooled_ratio_and_is_ordered() -> None:
    on = [18.0, 21.0, 20.0, 24.0, 19.5, 22.0, 17.0, 23.0, 20.5]
    off = [20.0, 22.0, 23.0, 25.0, 21.0, 24.5, 19.0, 24.0, 23.0]
    got = ratio_interval(on, off, level=0.9, draws=4000, seed=1)
    assert got["ratio"] == pytest.approx(sum(on) / sum(off), abs=1e-3)
    assert got["low"] < got["ratio"] < got["high"]
    assert got["n"] == 9 and got["level"] == 0.9
    assert ratio_interval(on, off, level=0.9, draws=4000, seed=1) == got  # seeded: reproducible


def test_pairs_that_agree_give_a_narrow_interval_and_scattered_pairs_a_wide_one() -> None:
    steady = ratio_interval([9.0] * 6, [10.0] * 6, draws=2000)
    assert steady["low"] == steady["high"] == pytest.approx(0.9)
    scattered = ratio_interval([7.0, 11.0, 8.0, 10.5, 7.5, 11.0], [10.0] * 6, draws=2000)
    assert scattered["high"] - scattered["low"] > 0.05


def test_the_pairs_are_resampled_together() -> None:
    # Each round's on and off move with the machine's speed: resampled as pairs, the ratio is
    # exactly 0.9 whatever the speed; resampled apart, the speeds would widen it.
    on = [9.0, 18.0, 4.5, 27.0]
    off = [10.0, 20.0, 5.0, 30.0]
    got = ratio_interval(on, off, draws=2000)
    assert got["low"] == pytest.approx(0.9) and got["high"] == pytest.approx(0.9)


def test_it_refuses_unpaired_or_empty_input() -> None:
    with pytest.raises(ValueError):
        ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        ratio_interval([], [])
