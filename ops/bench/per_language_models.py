"""One model per language vs the one multilingual model: UMSAB test macro-F1, language by language.

Usage: nice .venv/bin/python ops/bench/per_language_models.py --multilingual build/model \
           [--languages ar,de,es,fr,hi,it,pt] [--out build/per-language] [--json]

For each language it trains the shipped recipe (same tokenizer, members, seed) on that
language's UMSAB train split alone (early stopping on its val split), quantizes it to int8-full
and scores that language's test split; the multilingual model's int8-full file in
``--multilingual`` is scored on the same split. Needs the `train` extra; ~1 min per language on
2 shared cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from model.data import load_csv, recipe, umsab
from model.metrics import scores
from model.quantize import quantize, variant_file
from model.scorer import SentimentScorer
from model.train import TrainConfig, train


def macro_f1(model: Path, code: str) -> float:
    data = load_csv(umsab(code, "test"))
    labels = SentimentScorer(model).score(data.texts).labels
    return scores(data.labels, labels)["macro_f1"]


def compare(multilingual: Path, languages: list[str], out: Path) -> list[dict[str, Any]]:
    shared = multilingual / variant_file("int8-full")
    rows = []
    for code in languages:
        model_dir = out / code
        summary = train(recipe([code], "train"), recipe([code], "val"), model_dir,
                        TrainConfig(languages=(code,)))
        written = quantize(model_dir, recipe([code], "train"), variants=("int8-full",))
        own = written["int8-full"]
        rows.append({"language": code, "own_model": macro_f1(own, code),
                     "multilingual": macro_f1(shared, code),
                     "own_size_bytes": own.stat().st_size, "seconds": summary["seconds"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--multilingual", type=Path, required=True)
    parser.add_argument("--languages", default="ar,de,es,fr,hi,it,pt")
    parser.add_argument("--out", type=Path, default=Path("build/per-language"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = compare(args.multilingual, args.languages.split(","), args.out)
    if args.json:
        print(json.dumps(rows))
        return
    print("| language | own model (UMSAB train only) | multilingual model | own model size |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['language']} | {r['own_model']:.1f} | {r['multilingual']:.1f} | "
              f"{r['own_size_bytes'] / 1e6:.2f} MB |")
    print(f"| average | {np.mean([r['own_model'] for r in rows]):.1f} | "
          f"{np.mean([r['multilingual'] for r in rows]):.1f} | |")


if __name__ == "__main__":
    main()
