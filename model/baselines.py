"""VADER and TextBlob, scored on the same data as our model (they need the `train` extra)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from model.errors import TrainingUnavailableError

Labeller = Callable[[Sequence[str]], npt.NDArray[np.int64]]


def vader() -> Labeller:
    """VADER compound score, documented thresholds: >= 0.05 positive, <= -0.05 negative."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise TrainingUnavailableError("VADER needs the `train` extra (vaderSentiment)") from exc
    analyzer = SentimentIntensityAnalyzer()

    def label(texts: Sequence[str]) -> npt.NDArray[np.int64]:
        compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
        return np.where(compound >= 0.05, 2, np.where(compound <= -0.05, 0, 1)).astype(np.int64)

    return label


def textblob() -> Labeller:
    """TextBlob's pattern polarity: > 0 positive, < 0 negative, 0 neutral."""
    try:
        from textblob import TextBlob
    except ImportError as exc:
        raise TrainingUnavailableError("TextBlob needs the `train` extra (textblob)") from exc

    def label(texts: Sequence[str]) -> npt.NDArray[np.int64]:
        polarity = np.array([TextBlob(t).sentiment.polarity for t in texts])
        return np.where(polarity > 0, 2, np.where(polarity < 0, 0, 1)).astype(np.int64)

    return label


BASELINES: dict[str, Callable[[], Labeller]] = {"vader": vader, "textblob": textblob}
