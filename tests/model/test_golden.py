"""Golden outputs pin the SHIPPED quantized model: labels exactly, scores within a tolerance.

If the shipped model is retrained on purpose, regenerate with fixtures/make_golden.py and review
the label changes in the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.scorer import PostScores, SentimentScorer

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden.json").read_text("utf-8"))
TOLERANCE = 0.02
SCORED = [i for i, row in enumerate(GOLDEN["posts"]) if row["probs"] is not None]


@pytest.fixture(scope="module")
def batch() -> PostScores:
    return SentimentScorer().score_posts([row["text"] for row in GOLDEN["posts"]])


def test_golden_file_matches_the_shipped_model_version() -> None:
    assert SentimentScorer().version == GOLDEN["model_version"]


def test_languages_and_labels_are_pinned(batch: PostScores) -> None:
    assert batch.languages == [row["language"] for row in GOLDEN["posts"]]
    assert batch.label_names() == [row["label"] for row in GOLDEN["posts"]]


def test_scores_are_pinned_within_tolerance(batch: PostScores) -> None:
    expected = np.array([GOLDEN["posts"][i]["probs"] for i in SCORED], dtype=np.float32)
    np.testing.assert_allclose(batch.probs[SCORED], expected, atol=TOLERANCE)
    intensity = np.array([GOLDEN["posts"][i]["intensity"] for i in SCORED], dtype=np.float32)
    np.testing.assert_allclose(batch.intensity[SCORED], intensity, atol=2 * TOLERANCE)
    assert np.isnan(np.delete(batch.probs, SCORED, axis=0)).all()


def test_golden_posts_are_mostly_right() -> None:
    # The golden labels are what the model says, not the truth; this keeps an eye on the truth.
    obvious = {"I hate Mondays": "negative", "Happy birthday to my best friend!": "positive",
               "Worst customer service ever. Never buying from them again.": "negative",
               "I absolutely love my new phone, best purchase this year!": "positive",
               "ich liebe dieses Handy": "positive",
               "adorei o atendimento, muito obrigado!": "positive",
               "che schifo, il peggior servizio di sempre": "negative",
               # "odio este producto, es una basura" comes out positive (+0.09): "odio" is in 5
               # and "basura" in 2 of UMSAB's 1,839 Spanish training tweets (MODEL_CARD.md).
               "この製品は最悪です": "unsupported_language",
               "я очень люблю этот телефон": "unsupported_language"}
    labels = {row["text"]: row["label"] for row in GOLDEN["posts"]}
    assert all(labels[text] == want for text, want in obvious.items())
