"""`sentistream model evaluate`: quality and speed of a model on a labelled CSV.

``evaluate_model`` is the one-model summary (the shipped model by default); ``full_report`` puts
every quantized variant, their weight-quantization errors, and VADER and TextBlob side by side.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from model.data import UMSAB, load_csv, umsab
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


# Macro-F1 on UMSAB test published with the data set (XLM-T README, cardiffnlp/xlm-t).
PUBLISHED = {
    "FastText mono": {"ar": 46.0, "en": 50.9, "fr": 54.8, "de": 59.6, "hi": 37.1, "it": 54.7,
                      "pt": 55.1, "es": 50.1, "all": 51.0},
    "XLM-R multi": {"ar": 64.3, "en": 68.5, "fr": 70.5, "de": 72.8, "hi": 53.4, "it": 68.6,
                    "pt": 69.8, "es": 66.0, "all": 66.8},
    "XLM-Tw multi": {"ar": 66.9, "en": 70.6, "fr": 71.2, "de": 77.3, "hi": 56.4, "it": 69.1,
                     "pt": 75.4, "es": 67.9, "all": 69.4},
}


def evaluate_languages(model_path: Path | None, batch: int = 256, split: str = "test"
                       ) -> dict[str, Any]:
    """Macro-F1 (and the rest of ``scores``) per UMSAB language on its test split (``split``:
    val to choose between candidates), the average over the 7 non-English languages and over
    all 8, beside the published baselines (of test).

    ``macro_f1`` scores every test post as its data set's language (the model that serves it,
    no language detection): the sentiment model alone. ``routed_macro_f1`` is what a stream
    gets: language detected, unsupported posts left unscored (counted as misses), and
    ``routed_coverage`` the share of posts scored."""
    scorer = SentimentScorer(model_path, num_threads=1)
    rows: dict[str, dict[str, float]] = {}
    for code in UMSAB:
        data = load_csv(umsab(code, split))
        if code not in scorer.model_languages:
            continue
        labels = np.concatenate([scorer.score_as(data.texts[i : i + batch], code).labels
                                 for i in range(0, len(data), batch)])
        routed = [scorer.score_posts(data.texts[i : i + batch])
                  for i in range(0, len(data), batch)]
        routed_labels = np.concatenate([r.labels for r in routed])
        rows[code] = {"n": len(data), **scores(data.labels, labels),
                      "routed_macro_f1": scores(data.labels, routed_labels)["macro_f1"],
                      "routed_coverage": round(100 * float(np.mean(np.concatenate(
                          [r.supported for r in routed]))), 1)}
    others = [rows[c]["macro_f1"] for c in rows if c != "en"] or [0.0]
    return {
        "model": str(scorer.model_path), "version": scorer.version,
        "model_languages": list(scorer.model_languages), "split": split, "per_language": rows,
        "macro_f1_avg_7_non_english": round(float(np.mean(others)), 2),
        "macro_f1_avg_all": round(float(np.mean([r["macro_f1"] for r in rows.values()])), 2),
        "published_macro_f1": PUBLISHED,
    }


def languages_markdown(result: dict[str, Any]) -> str:
    """The per-language table of ``evaluate_languages`` as Markdown."""
    names = list(PUBLISHED)
    lines = ["| language | macro-F1 (ours) | routed: macro-F1 / posts scored | "
             + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for code, row in result["per_language"].items():
        lines.append(f"| {UMSAB[code]} ({code}) | {row['macro_f1']:.1f} | "
                     f"{row['routed_macro_f1']:.1f} / {row['routed_coverage']:.1f}% | "
                     + " | ".join(f"{PUBLISHED[n][code]:.1f}" for n in names) + " |")
    seven = {n: np.mean([v for c, v in PUBLISHED[n].items() if c not in ("en", "all")])
             for n in names}
    # Our averages to two places: they are judged against round targets (58), and one place
    # rounded 57.98 up onto it.
    lines.append(f"| average, 7 non-English | **{result['macro_f1_avg_7_non_english']:.2f}** | | "
                 + " | ".join(f"{seven[n]:.1f}" for n in names) + " |")
    lines.append(f"| average, all 8 | {result['macro_f1_avg_all']:.2f} | | "
                 + " | ".join(f"{PUBLISHED[n]['all']:.1f}" for n in names) + " |")
    return "\n".join(lines)
