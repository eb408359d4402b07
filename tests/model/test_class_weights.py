"""Class weights of the training rows: pooled over every CSV (the shipped recipe) or balanced
within each CSV (`TrainConfig.class_weights_per_source`)."""

from __future__ import annotations

import numpy as np

from model.train import TrainConfig, class_weights


def _rows() -> tuple[np.ndarray, list[int], np.ndarray]:
    # source 0: an English CSV with few negatives (like TweetEval); source 1: balanced (UMSAB),
    # weighted x8 like the companion's UMSAB rows
    y = np.array([0, 1, 1, 1, 2, 2] + [0, 1, 2] * 4, dtype=np.int64)
    sizes = [6, 12]
    source = np.repeat(np.array([1.0, 8.0], dtype=np.float32), sizes)
    return y, sizes, source


def test_pooled_class_weights_tilt_a_balanced_source_toward_the_rare_class() -> None:
    y, sizes, source = _rows()
    w = class_weights(y, sizes, source, TrainConfig())
    balanced = w[6:9]  # one row of each class of the balanced source
    assert balanced[0] > balanced[2] > balanced[1]  # negative up, neutral down
    # each class's weighted total is a third of the whole
    totals = np.bincount(y, weights=w * source, minlength=3)
    assert np.allclose(totals, totals.mean())


def test_per_source_class_weights_balance_each_csv_on_its_own() -> None:
    y, sizes, source = _rows()
    w = class_weights(y, sizes, source, TrainConfig(class_weights_per_source=True))
    assert np.allclose(w[6:], 1.0)  # already balanced: left alone
    assert np.allclose(w[:6], [2.0, 2 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    totals = np.bincount(y[:6], weights=w[:6], minlength=3)
    assert np.allclose(totals, 2.0)


def test_no_class_weights_is_all_ones() -> None:
    y, sizes, source = _rows()
    w = class_weights(y, sizes, source, TrainConfig(class_weights=False))
    assert (w == 1.0).all() and w.dtype == np.float32
