"""`sentistream model evaluate`: quality and speed of a model on a labelled CSV.

``evaluate_model`` is the one-model summary (the shipped model by default); ``full_report`` puts
every quantized variant, their weight-quantization errors, and VADER and TextBlob side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from model.data import load_csv
from model.metrics import scores
from model.scorer import SentimentScorer
from model.throughput import posts_per_second


def evaluate_model(model_path: Path | None, data_csv: Path, batch: int = 256) -> dict[str, Any]:
    """macro_recall, accuracy, macro_f1 (percent), n and posts/s at ``batch`` on one thread.

    posts_per_s_cold is the first pass over the data, when every distinct token is new to the
    tokenizer's cache; posts_per_s is the steady state of a long-running stream.
    """
    data = load_csv(data_csv)
    scorer = SentimentScorer(model_path, num_threads=1)
    started = time.perf_counter()
    labels = np.concatenate([scorer.score(data.texts[i : i + batch]).labels
                             for i in range(0, len(data), batch)])
    cold = len(data) / (time.perf_counter() - started)
    warm = posts_per_second(scorer.score, data.texts, batch, min_seconds=2.0)
    return {
        "model": str(scorer.model_path), "version": scorer.version, "data": str(data_csv),
        "n": len(data), **scores(data.labels, labels),
        "posts_per_s": round(warm), "posts_per_s_cold": round(cold), "batch": batch,
        "threads": 1, "size_bytes": scorer.model_path.stat().st_size,
    }
