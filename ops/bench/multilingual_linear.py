"""A linear member beside the bag companion: logistic regression, plain or NB-scaled
(Wang and Manning 2012, "Baselines and Bigrams"), on the companion's own hashed features.

Usage: nice -n 19 .venv/bin/python ops/bench/multilingual_linear.py \
           --bag build/sweep/sel-3m-te7-x8 [--bag build/sweep/sel-3m-te7-x8-s7] \
           [--kinds lr,nblr] [--log model/sweeps/multilingual.jsonl]

Each ``--bag`` is a ``sel-*`` run of ``ops/bench/multilingual_sweep.py`` (its tokenizer, seed and
training rows are reused: TweetEval train + UMSAB train minus the selection cut, UMSAB rows
x``umsab_weight``, pooled class weights). For each kind a linear member is trained on those rows:

    logit_c(post) = b_c + sum over the post's feature ids f of  s(post) * r[c, f] * w[c, f]

with s = 1/sqrt(number of features) and r = 1 ("lr") or the log-count ratio of the binarized
feature between class c and the rest, counted on the (weighted) training rows ("nblr", the
NBSVM scaling; L2 on w then pulls toward 0 features that NB finds uninformative). Its L2 strength
and epoch are chosen on UMSAB val (average macro-F1 of the 7; the bag stopped on it too), never on
the selection cut. The candidate, fixed before any run, is the bag's three members plus this one,
averaged (probabilities, equal weights, as ``architectures.combine`` does); it is scored on the
selection cut and logged as one JSON line. In the int8 graph the member is one Embedding(V, 3)
of fixed r * w: a gather and a weighted sum, like a bag member without its Dense head.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.data import load_csv, load_csvs, tweeteval, umsab
from model.metrics import scores
from model.tokenizer import Tokenizer
from model.train import (
    KERAS_FILE,
    TrainConfig,
    _training_rows,
    encode,
    import_tensorflow,
    nb_ratios,
)

NON_ENGLISH = ("ar", "de", "es", "fr", "hi", "it", "pt")
LAMBDAS = (1e-7, 1e-6, 1e-5)
MAX_EPOCHS = 12
PATIENCE = 2
BATCH = 256


def build_linear(features: int, width: int, ratios: npt.NDArray[np.float32], lam: float) -> Any:
    keras = import_tensorflow().keras  # TensorFlow's Keras 3: the `train` extra's, no other

    _Bias = _bias_layer()
    ids = keras.Input((width,), dtype="int32", name="ids")
    scale = keras.layers.Embedding(features, 3, trainable=False, name="nb_ratio")
    weight = keras.layers.Embedding(features, 3, name="linear",
                                    embeddings_initializer="zeros",
                                    embeddings_regularizer=keras.regularizers.L2(lam))
    mask = keras.ops.cast(ids > 0, "float32")
    share = mask / keras.ops.sqrt(keras.ops.maximum(keras.ops.sum(mask, 1, keepdims=True), 1.0))
    rows = scale(ids) * weight(ids)
    logits = keras.ops.squeeze(keras.ops.matmul(keras.ops.expand_dims(share, 1), rows), 1)
    probs = keras.layers.Softmax(name="probs")(_Bias(name="bias")(logits))
    net = keras.Model(ids, probs, name="linear_member")
    scale.set_weights([ratios])
    return net


def _bias_layer() -> Any:
    layer: Any = import_tensorflow().keras.layers.Layer  # TensorFlow's Keras 3 (the `train` extra)

    class Bias(layer):  # type: ignore[misc]
        """Adds one trainable offset per class."""

        def build(self, input_shape: Any) -> None:
            self.offset = self.add_weight(shape=(3,), initializer="zeros", name="offset")

        def call(self, x: Any) -> Any:
            return x + self.offset

    return Bias


def avg7(probs: dict[str, npt.NDArray[Any]], labels: dict[str, npt.NDArray[np.int64]]
         ) -> tuple[float, dict[str, float]]:
    per = {c: scores(labels[c], probs[c].argmax(1))["macro_f1"] for c in NON_ENGLISH}
    return round(float(np.mean(list(per.values()))), 2), per


def fit_member(kind: str, x: npt.NDArray[np.int32], y: npt.NDArray[np.int64],
               w: npt.NDArray[np.float32], features: int, val_x: dict[str, Any],
               val_y: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    """The member of ``kind`` with the best UMSAB val average over LAMBDAS and epochs."""
    keras = import_tensorflow().keras  # TensorFlow's Keras 3: the `train` extra's, no other

    ratios = (nb_ratios(x, y, w, features) if kind == "nblr"
              else np.ones((features, 3), dtype=np.float32))
    best: tuple[float, Any, dict[str, Any]] = (-1.0, None, {})
    trace = []
    for lam in LAMBDAS:
        keras.utils.set_random_seed(seed)
        net = build_linear(features, x.shape[1], ratios, lam)
        net.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        top, waited = -1.0, 0
        for epoch in range(1, MAX_EPOCHS + 1):
            net.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
            val = avg7({c: net.predict(val_x[c], batch_size=4096, verbose=0)
                        for c in NON_ENGLISH}, val_y)[0]
            trace.append((lam, epoch, val))
            if val > best[0]:
                best = (val, net.get_weights(), {"lambda": lam, "epoch": epoch, "val_avg_7": val})
            if val > top:
                top, waited = val, 0
            else:
                waited += 1
                if waited >= PATIENCE:
                    break
    net = build_linear(features, x.shape[1], ratios, best[2]["lambda"])
    net.set_weights(best[1])
    return net, {**best[2], "trace": trace}


def run(bag: Path, kinds: list[str], log: Path) -> list[dict[str, Any]]:
    tf = import_tensorflow()
    history = json.loads((bag / "history.json").read_text(encoding="utf-8"))
    started = time.time()
    cfg = history["config"]
    config = TrainConfig(source_weights=tuple(cfg["source_weights"]),
                         class_weights=cfg["class_weights"])
    tokenizer = Tokenizer.load(bag)
    train_set, sizes = load_csvs([Path(p) for p in history["train_csv"]])
    x, y, w = _training_rows(tokenizer, train_set, sizes, config)
    cut_dir = bag.parent / "selection-split"
    cut = {c: load_csv(cut_dir / f"{c}-cut.csv") for c in NON_ENGLISH}
    val = {c: load_csv(umsab(c, "val")) for c in NON_ENGLISH}
    cut_x = {c: encode(tokenizer, cut[c].texts) for c in NON_ENGLISH}
    val_x = {c: encode(tokenizer, val[c].texts) for c in NON_ENGLISH}
    cut_y = {c: cut[c].labels for c in NON_ENGLISH}
    val_y = {c: val[c].labels for c in NON_ENGLISH}
    net = tf.keras.models.load_model(bag / KERAS_FILE, safe_mode=False)
    bag_cut = {c: net.predict(cut_x[c], batch_size=4096, verbose=0) for c in NON_ENGLISH}
    members = len(cfg["arch"]["members"])
    bag_avg, bag_per = avg7(bag_cut, cut_y)
    te = load_csv(tweeteval("val"))
    te_x = encode(tokenizer, te.texts)
    rows = []
    for kind in kinds:
        tick = time.time()
        member, chosen = fit_member(kind, x, y, w, tokenizer.num_features, val_x, val_y,
                                    cfg["seed"])
        lin_cut = {c: member.predict(cut_x[c], batch_size=4096, verbose=0) for c in NON_ENGLISH}
        ens = {c: (members * bag_cut[c] + lin_cut[c]) / (members + 1) for c in NON_ENGLISH}
        ens_avg, ens_per = avg7(ens, cut_y)
        alone_avg, alone_per = avg7(lin_cut, cut_y)
        te_probs = ((members * net.predict(te_x, batch_size=4096, verbose=0)
                     + member.predict(te_x, batch_size=4096, verbose=0)) / (members + 1))
        row = {"name": f"{bag.name}+{kind}", "bag": str(bag), "kind": kind, "seed": cfg["seed"],
               "scored_on": "selection split cut from train", "chosen_on_umsab_val": chosen,
               "bag_avg_7": bag_avg, "bag_macro_f1": bag_per,
               "member_alone_avg_7": alone_avg, "member_alone_macro_f1": alone_per,
               "val_avg_7": ens_avg, "val_macro_f1": ens_per,
               "tweeteval_val_macro_recall_ensemble": scores(te.labels, te_probs.argmax(1))[
                   "macro_recall"],
               "seconds": round(time.time() - tick, 1),
               "at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
        rows.append(row)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{row['name']}: bag {bag_avg} -> bag+{kind} {ens_avg} (alone {alone_avg}; "
              f"chosen {chosen['lambda']}, epoch {chosen['epoch']}) {ens_per}", flush=True)
    print(f"total {time.time() - started:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bag", type=Path, action="append", required=True)
    parser.add_argument("--kinds", default="lr,nblr")
    parser.add_argument("--log", type=Path, default=Path("model/sweeps/multilingual.jsonl"))
    args = parser.parse_args()
    for bag in args.bag:
        run(bag, args.kinds.split(","), args.log)


if __name__ == "__main__":
    main()
