"""The full evaluation report: every variant, their weight quantization error, and baselines.

Per variant: file size, macro-recall / accuracy / macro-F1, agreement with float32, and posts/s
at batch 1 and 256 on one thread, tokenization included. Written as JSON and as Markdown.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from model.baselines import BASELINES
from model.data import load_csv
from model.metrics import scores
from model.scorer import SentimentScorer
from model.throughput import posts_per_second
from model.weights import FRACTION_BITS, quantization_errors

VARIANT_FILES = {
    "float32": "sentiment_float32.tflite", "float16": "sentiment_float16.tflite",
    "int8-dynamic": "sentiment_int8_dynamic.tflite", "int8-full": "sentiment_int8_full.tflite",
}


def full_report(variants_dir: Path, data_csv: Path, baselines: bool = True,
                seconds: float = 2.0) -> dict[str, Any]:
    """Evaluate every variant found in ``variants_dir`` (and VADER/TextBlob) on ``data_csv``."""
    data = load_csv(data_csv)
    found = {v: variants_dir / f for v, f in VARIANT_FILES.items() if (variants_dir / f).exists()}
    rows: list[dict[str, Any]] = []
    predictions: dict[str, np.ndarray] = {}
    for variant, path in found.items():
        scorer = SentimentScorer(path, num_threads=1)
        labels = np.concatenate([scorer.score(data.texts[i : i + 256]).labels
                                 for i in range(0, len(data), 256)])
        predictions[variant] = labels
        rows.append({
            "name": variant, "size_bytes": path.stat().st_size, **scores(data.labels, labels),
            "posts_per_s_b1": round(posts_per_second(scorer.score, data.texts, 1, seconds)),
            "posts_per_s_b256": round(posts_per_second(scorer.score, data.texts, 256, seconds)),
        })
    reference = predictions.get("float32")
    for row in rows:
        if reference is not None:
            same = predictions[str(row["name"])] == reference
            row["agree_float32"] = round(100 * float(np.mean(same)), 2)
    if baselines:
        rows += [_baseline(name, data.texts, data.labels) for name in BASELINES]
    errors = []
    if "float32" in found:
        int8 = {v: p for v, p in found.items() if v.startswith("int8")}
        errors = quantization_errors(found["float32"], int8)
    report: dict[str, Any] = {"data": str(data_csv), "n": len(data), "rows": rows,
                              "weight_errors": errors}
    report["markdown"] = to_markdown(report)
    return report


def _baseline(name: str, texts: list[str], truth: np.ndarray) -> dict[str, Any]:
    label = BASELINES[name]()
    started = time.perf_counter()
    predicted = label(texts)
    rate = len(texts) / (time.perf_counter() - started)
    return {"name": name, "size_bytes": None, **scores(truth, predicted),
            "posts_per_s_b1": round(rate), "posts_per_s_b256": round(rate),
            "agree_float32": None}


def to_markdown(report: dict[str, Any]) -> str:
    lines = [f"Data: `{report['data']}` ({report['n']:,} posts). Throughput: one thread, "
             "tokenization included (baselines score one post at a time, so b1 = b256).", "",
             "| model | size | macro-recall | accuracy | macro-F1 | agrees with float32 | "
             "posts/s b1 | posts/s b256 |", "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        size = f"{r['size_bytes'] / 1e6:.2f} MB" if r["size_bytes"] else "–"
        agree = f"{r['agree_float32']:.2f}%" if r.get("agree_float32") is not None else "–"
        lines.append(f"| {r['name']} | {size} | {r['macro_recall']:.2f} | {r['accuracy']:.2f} | "
                     f"{r['macro_f1']:.2f} | {agree} | {r['posts_per_s_b1']:,} | "
                     f"{r['posts_per_s_b256']:,} |")
    if report["weight_errors"]:
        lines += ["", "Weight quantization error per tensor, mean / max of |x - x̂|: fixed point "
                  "E(x,n) = |x - round(x·2^n)/2^n| for n = 4..8, and LiteRT's affine int8.", "",
                  "| tensor | shape | " + " | ".join(f"E n={n}" for n in FRACTION_BITS)
                  + " | affine int8-dynamic | affine int8-full |",
                  "|---" * (4 + len(FRACTION_BITS)) + "|"]
        for e in report["weight_errors"]:
            cells = [_pair(e[f"fixed_n{n}"]) for n in FRACTION_BITS]
            cells += [_pair(e.get(f"affine_{v}")) for v in ("int8-dynamic", "int8-full")]
            lines.append(f"| `{e['tensor']}` | {'×'.join(map(str, e['shape']))} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pair(err: dict[str, float] | None) -> str:
    return "not int8" if err is None else f"{err['mean']:.2e} / {err['max']:.2e}"


def write_report(report: dict[str, Any], stem: Path) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    payload = {k: v for k, v in report.items() if k != "markdown"}
    json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    md_path.write_text(report["markdown"], encoding="utf-8")
    return json_path, md_path
