"""The weights of a trained ensemble's members, scored on the selection cut (never on test).

Usage: nice -n 19 .venv/bin/python ops/bench/multilingual_member_weight.py \
           build/sweep/sel-3m-te7-x8-nblr [build/sweep/sel-3m-te7-x8-nblr-s7] [--copies 0,1,2,3]
       nice -n 19 .venv/bin/python ops/bench/multilingual_member_weight.py \
           build/sweep/sel-3m-te7-x8-nblr-lr --weights 1,1,1,0:3,0:3

For each ``sel-*`` run of ``ops/bench/multilingual_sweep.py``, the members' probabilities on the
selection cut are averaged, member i counted ``counts[i]`` times (the same as training with that
member's name repeated ``counts[i]`` times: repeated members are seeded alike, hence identical),
and the average macro-F1 of the 7 languages is printed and logged as one JSON line per run.

- ``--copies K,...`` (s12m): every member once but the last, counted k times (k = 0: without it;
  1: as trained; 2: as ``...,nblr,nblr``). Logged as ``last_member_copies_avg_7``.
- ``--weights C,C,...``: one count per member, each an integer or an inclusive range ``a:b``;
  every combination of the ranges is scored (``1,1,1,0:3,0:3``: the three bag members once, the
  two linear members 0 to 3 times each). Logged as ``member_weights_avg_7`` (and per language).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.data import load_csv
from model.metrics import scores
from model.tokenizer import Tokenizer
from model.train import KERAS_FILE, encode, import_tensorflow

NON_ENGLISH = ("ar", "de", "es", "fr", "hi", "it", "pt")


def parse_weights(spec: str) -> list[tuple[int, ...]]:
    """``"1,1,1,0:2,1"`` -> every combination: (1,1,1,0,1), (1,1,1,1,1), (1,1,1,2,1)."""
    choices = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        first, last = int(low), int(high or low)
        if first < 0 or last < first:
            raise ValueError(f"bad member count {part!r}: want k >= 0 or a:b with 0 <= a <= b")
        choices.append(range(first, last + 1))
    return [combo for combo in itertools.product(*choices) if sum(combo) > 0]


def last_member_counts(members: int, k: int) -> tuple[int, ...]:
    """``--copies``' k as per-member counts: every member once, the last k times."""
    return (1,) * (members - 1) + (k,)


def weighted_average(probs: Sequence[npt.NDArray[Any]],
                     counts: Sequence[int]) -> npt.NDArray[Any]:
    """The mean of the members' probabilities with member i counted ``counts[i]`` times."""
    if len(probs) != len(counts):
        raise ValueError(f"{len(counts)} counts for {len(probs)} members")
    if sum(counts) <= 0:
        raise ValueError("at least one member must be counted")
    total = sum(k * p for k, p in zip(counts, probs, strict=True) if k)
    return np.asarray(total) / sum(counts)


def member_probs(run: Path) -> tuple[dict[str, list[npt.NDArray[Any]]],
                                     dict[str, npt.NDArray[np.int64]]]:
    """Each member's probabilities on the run's selection cut, per language, and the labels."""
    keras = import_tensorflow().keras  # TensorFlow's Keras 3: the `train` extra's, no other

    net = keras.models.load_model(run / KERAS_FILE, safe_mode=False)
    members = [layer for layer in net.layers if isinstance(layer, keras.Model)]
    tokenizer = Tokenizer.load(run)
    cut = run.parent / "selection-split"
    probs, labels = {}, {}
    for code in NON_ENGLISH:
        data = load_csv(cut / f"{code}-cut.csv")
        ids = encode(tokenizer, data.texts)
        probs[code] = [m.predict(ids, batch_size=4096, verbose=0) for m in members]
        labels[code] = data.labels
    return probs, labels


def score(probs: dict[str, list[npt.NDArray[Any]]], labels: dict[str, npt.NDArray[np.int64]],
          counts: Sequence[int]) -> dict[str, float]:
    """Macro-F1 per language of the weighted average, and their mean (``avg_7``)."""
    out = {code: scores(labels[code], weighted_average(probs[code], counts).argmax(1))["macro_f1"]
           for code in NON_ENGLISH}
    return {**{code: round(float(v), 2) for code, v in out.items()},
            "avg_7": round(float(np.mean(list(out.values()))), 2)}


def weigh(run: Path, copies: list[int]) -> dict[str, float]:
    """s12m's figure: the average of the 7 with the last member counted k times, per k."""
    probs, labels = member_probs(run)
    members = len(probs[NON_ENGLISH[0]])
    return {str(k): score(probs, labels, last_member_counts(members, k))["avg_7"] for k in copies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--copies", default="0,1,2,3")
    parser.add_argument("--weights", default=None,
                        help="one count (k or a:b) per member; replaces --copies")
    parser.add_argument("--log", type=Path, default=Path("model/sweeps/multilingual.jsonl"))
    args = parser.parse_args()
    for run in args.runs:
        row: dict[str, Any] = {"name": f"member-weight:{run.name}",
                               "scored_on": "selection split cut from train"}
        if args.weights is None:
            row["last_member_copies_avg_7"] = weigh(run, [int(k) for k in args.copies.split(",")])
        else:
            probs, labels = member_probs(run)
            grid = parse_weights(args.weights)
            if len(grid[0]) != len(probs[NON_ENGLISH[0]]):
                raise SystemExit(f"--weights has {len(grid[0])} counts, {run} has "
                                 f"{len(probs[NON_ENGLISH[0]])} members")
            per = {",".join(map(str, counts)): score(probs, labels, counts) for counts in grid}
            row["member_weights_avg_7"] = {key: v["avg_7"] for key, v in per.items()}
            row["member_weights_per_language"] = per
        row["at"] = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
        with args.log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
