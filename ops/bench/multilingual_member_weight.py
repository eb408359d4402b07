"""The weight of a trained ensemble's last member, scored on the selection cut (never on test).

Usage: nice -n 19 .venv/bin/python ops/bench/multilingual_member_weight.py \
           build/sweep/sel-3m-te7-x8-nblr [build/sweep/sel-3m-te7-x8-nblr-s7] [--copies 0,1,2,3]

For each ``sel-*`` run of ``ops/bench/multilingual_sweep.py`` whose last member is a linear one
(``--members all,no-chars,all,nblr``), the members' probabilities on the selection cut are
averaged with the last member counted k times (k = 0: the bag alone; 1: as trained; 2: the
same as training ``...,nblr,nblr``, whose two copies are identical, seeded alike), and the
average macro-F1 of the 7 languages is printed and logged as one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from model.data import load_csv
from model.metrics import scores
from model.tokenizer import Tokenizer
from model.train import KERAS_FILE, encode, import_tensorflow

NON_ENGLISH = ("ar", "de", "es", "fr", "hi", "it", "pt")


def weigh(run: Path, copies: list[int]) -> dict[str, float]:
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
    out = {}
    for k in copies:
        per = []
        for code in NON_ENGLISH:
            p = (sum(probs[code][:-1]) + k * probs[code][-1]) / (len(members) - 1 + k)
            per.append(scores(labels[code], p.argmax(1))["macro_f1"])
        out[str(k)] = round(float(np.mean(per)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--copies", default="0,1,2,3")
    parser.add_argument("--log", type=Path, default=Path("model/sweeps/multilingual.jsonl"))
    args = parser.parse_args()
    copies = [int(k) for k in args.copies.split(",")]
    for run in args.runs:
        row = {"name": f"member-weight:{run.name}", "scored_on": "selection split cut from train",
               "last_member_copies_avg_7": weigh(run, copies),
               "at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
        with args.log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
