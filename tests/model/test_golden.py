"""Golden outputs pin the SHIPPED quantized model: labels exactly, scores within a tolerance.

If the shipped model is retrained on purpose, regenerate with fixtures/make_golden.py and review
the label changes in the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.scorer import ScoreBatch, SentimentScorer

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden.json").read_text("utf-8"))
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def batch() -> ScoreBatch:
    return SentimentScorer().score([row["text"] for row in GOLDEN["posts"]])


def test_golden_file_matches_the_shipped_model_version() -> None:
    assert SentimentScorer().version == GOLDEN["model_version"]


def test_labels_are_pinned(batch: ScoreBatch) -> None:
    assert batch.label_names() == [row["label"] for row in GOLDEN["posts"]]


def test_scores_are_pinned_within_tolerance(batch: ScoreBatch) -> None:
    expected = np.array([row["probs"] for row in GOLDEN["posts"]], dtype=np.float32)
    np.testing.assert_allclose(batch.probs, expected, atol=TOLERANCE)
    intensity = np.array([row["intensity"] for row in GOLDEN["posts"]], dtype=np.float32)
    np.testing.assert_allclose(batch.intensity, intensity, atol=2 * TOLERANCE)


def test_golden_posts_are_mostly_right() -> None:
    # The golden labels are what the model says, not the truth; this keeps an eye on the truth.
    obvious = {"I hate Mondays": "negative", "Happy birthday to my best friend!": "positive",
               "Worst customer service ever. Never buying from them again.": "negative",
               "I absolutely love my new phone, best purchase this year!": "positive"}
    labels = {row["text"]: row["label"] for row in GOLDEN["posts"]}
    assert all(labels[text] == want for text, want in obvious.items())
