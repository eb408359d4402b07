"""Metrics, val-tuned offsets and the fixed-point error formula, on numbers worked by hand."""

from __future__ import annotations

import numpy as np

from model.metrics import scores, tune_biases
from model.weights import fixed_point_error


def test_scores_match_a_hand_worked_example() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2])
    # recalls 1/2, 2/3, 1/1 -> 72.22; precisions 1, 2/3, 1/2; F1s 2/3, 2/3, 2/3
    assert scores(labels, predicted) == {"macro_recall": 72.22, "accuracy": 66.67,
                                         "macro_f1": 66.67}


def test_a_missing_class_counts_as_zero_recall() -> None:
    assert scores(np.array([0, 1, 2]), np.array([1, 1, 1]))["macro_recall"] == 33.33


def test_tuned_offsets_recover_a_shifted_minority_class() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    logits = np.eye(3)[labels] * 2.0 + rng.normal(0, 1, (600, 3))
    logits[:, 0] -= 1.5  # the model under-predicts negatives
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    offsets = tune_biases(probs.astype(np.float32), labels)
    before = scores(labels, probs.argmax(1))["macro_recall"]
    after = scores(labels, (np.log(probs) + offsets).argmax(1))["macro_recall"]
    assert offsets[0] > 0.5 and offsets[1] == 0.0 and after > before + 3


def test_fixed_point_error_formula() -> None:
    x = np.array([0.1, -0.30, 0.5, 1.03125], dtype=np.float32)
    # n=4: Q = round(x*16) = 2, -5, 8, 16 -> |x - Q/16| = 0.025, 0.0125, 0, 0.03125
    np.testing.assert_allclose(fixed_point_error(x, 4), [0.025, 0.0125, 0.0, 0.03125],
                               atol=1e-7)
    for n in range(4, 9):  # never more than half a step
        assert fixed_point_error(np.linspace(-2, 2, 1001, dtype=np.float32), n).max() \
            <= 2.0 ** -(n + 1) + 1e-7


def test_the_language_table_does_not_round_an_average_onto_its_target() -> None:
    """UMSAB's 7-language average is judged against 58: 57.98 printed as "58.0" read as met."""
    from model.data import UMSAB
    from model.evaluate import languages_markdown

    row = {"macro_f1": 60.0, "routed_macro_f1": 59.0, "routed_coverage": 99.0}
    table = languages_markdown({"per_language": {code: row for code in UMSAB},
                                "macro_f1_avg_7_non_english": 57.98, "macro_f1_avg_all": 59.234})
    assert "**57.98**" in table and "58.0" not in table
    assert "| average, all 8 | 59.23 |" in table
