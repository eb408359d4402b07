"""Would per-language class offsets help the multilingual companion? Scored on the selection split.

Usage: nice -n 10 .venv/bin/python -m ops.bench.multilingual_calibration MODEL_DIR [MODEL_DIR...] \
           [--log model/sweeps/multilingual.jsonl]

Each MODEL_DIR is a ``sel-*`` run of ``ops/bench/multilingual_sweep.py`` (trained without the
selection cut). Log-probability offsets per class (``model.metrics.tune_biases``) are tuned on
UMSAB val, per language or pooled over the 7, then applied to the selection cut (the offsets
cannot be tuned on the cut they are scored on). One JSON line per model is appended to the log.
Test is never read.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.data import load_csv, umsab
from model.metrics import scores, tune_biases
from model.tokenizer import Tokenizer
from model.train import KERAS_FILE, encode, import_tensorflow
from ops.bench.multilingual_sweep import NON_ENGLISH


def _macro_f1(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32],
              offsets: npt.NDArray[np.float32]) -> float:
    return scores(labels, (np.log(np.clip(probs, 1e-7, 1.0)) + offsets).argmax(1))["macro_f1"]


def calibrate(model_dir: Path, selection: Path) -> dict[str, object]:
    tf = import_tensorflow()
    net = tf.keras.models.load_model(model_dir / KERAS_FILE, safe_mode=False)
    tokenizer = Tokenizer.load(model_dir)
    Scored = dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]
    val: Scored = {}
    cut: Scored = {}
    for code in NON_ENGLISH:
        for name, data in (("val", load_csv(umsab(code, "val"))),
                           ("cut", load_csv(selection / f"{code}-cut.csv"))):
            probs = net.predict(encode(tokenizer, data.texts), batch_size=2048, verbose=0)
            (val if name == "val" else cut)[code] = (probs, data.labels)
    pooled = tune_biases(np.concatenate([p for p, _ in val.values()]),
                         np.concatenate([y for _, y in val.values()]))
    none = np.zeros(3, dtype=np.float32)
    rows = {code: {"none": _macro_f1(y, p, none), "pooled": _macro_f1(y, p, pooled),
                   "per_language": _macro_f1(y, p, tune_biases(*val[code]))}
            for code, (p, y) in cut.items()}
    return {"name": f"calibration:{model_dir.name}", "scored_on": "selection split cut from train",
            "offsets_tuned_on": "UMSAB val", "cut_macro_f1": rows,
            "cut_avg_7": {kind: round(float(np.mean([r[kind] for r in rows.values()])), 2)
                          for kind in ("none", "pooled", "per_language")},
            "at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("model_dirs", nargs="+", type=Path)
    parser.add_argument("--selection", type=Path, default=Path("build/sweep/selection-split"))
    parser.add_argument("--log", type=Path, default=Path("model/sweeps/multilingual.jsonl"))
    args = parser.parse_args()
    for model_dir in args.model_dirs:
        row = calibrate(model_dir, args.selection)
        with args.log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(row["name"], row["cut_avg_7"], flush=True)


if __name__ == "__main__":
    main()
