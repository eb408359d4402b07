"""`sentistream model train`: fit the tokenizer and a Keras model, with fixed seeds, early stopping
on validation macro-recall, class weights, and per-class biases tuned on validation.

Writes to the output directory: ``tokenizer.json``, ``model.keras``, ``history.json``.
TensorFlow is imported only here and in quantize.py, never by the scorer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.architectures import (
    LINEAR_MEMBERS,
    ArchConfig,
    build,
    build_linear,
    combine,
    fold_linear,
)
from model.data import Labelled, load_csv, load_csvs
from model.errors import TrainingUnavailableError
from model.metrics import scores, tune_biases
from model.tokenizer import Tokenizer, TokenizerConfig

log = logging.getLogger(__name__)
Rows = tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.float32]]
KERAS_FILE = "model.keras"
HISTORY_FILE = "history.json"
# Linear members (``LINEAR_MEMBERS``): their L2 strength and epoch are picked on the validation
# CSVs (mean of their macro-F1, each CSV alike: one language each), Adam at LINEAR_LR.
LINEAR_L2 = (1e-6, 1e-5, 1e-4, 1e-3)
LINEAR_LR = 1e-2
LINEAR_EPOCHS = 12
LINEAR_BATCH = 256


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved in history.json."""

    arch: ArchConfig = field(default_factory=ArchConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    epochs: int = 8
    patience: int = 2
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 1234
    class_weights: bool = True
    # Balance the classes within each training CSV rather than over the pooled rows: pooled,
    # TweetEval's few negatives (15%) tilt the balanced UMSAB rows (negative x1.2, neutral x0.9
    # at UMSAB x8); per source, each UMSAB language keeps its own 1/3 : 1/3 : 1/3.
    class_weights_per_source: bool = False
    # Cross-entropy against (1 - s) * one-hot + s / 3: a softer target on 1,839 tweets a language.
    label_smoothing: float = 0.0
    tune_biases: bool = False  # measured: val-tuned offsets hurt test (val/test shift)
    extra_csv: str = ""  # extra (e.g. distant-supervision) training rows, weighted below
    extra_weight: float = 0.3
    # The languages the model is trained for (ISO 639-1); saved in model.json for routing.
    languages: tuple[str, ...] = ("en",)
    # Weight of each training CSV's rows, in order (missing ones: 1.0); e.g. to up-weight the
    # 1,839 tweets of a UMSAB language beside TweetEval's 45,615 English ones.
    source_weights: tuple[float, ...] = ()
    # k-fold members: the rows of the CSVs listed in ``fold_sources`` (indexes into the training
    # CSVs) are cut into ``folds`` seeded folds, stratified per CSV; member i trains without fold
    # i % folds and stops early on it (beside the validation CSVs). Every row is trained on by
    # k-1 of k members and the members see different data, so their average varies less.
    folds: int = 0
    fold_sources: tuple[int, ...] = ()


def import_tensorflow() -> Any:
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise TrainingUnavailableError(
            "training and quantization need TensorFlow: pip install 'sentistream[train]'"
        ) from exc
    return tf


def encode(tokenizer: Tokenizer, texts: list[str]) -> npt.NDArray[np.int32]:
    return np.concatenate([tokenizer.encode(texts[i : i + 2048])
                           for i in range(0, len(texts), 2048)])


def train(train_csvs: Sequence[Path], val_csvs: Sequence[Path], out_dir: Path,
          config: TrainConfig) -> dict[str, Any]:
    """Train, keep the epoch with the best validation macro-recall, save and return the history.

    Rows of all training CSVs are pooled (one model for every language); early stopping looks
    at the pooled validation CSVs."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(config.seed)
    # TensorFlow already ran in this process (tests) cannot change its pool: keep it then.
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_inter_op_parallelism_threads(1)
    started = time.time()
    (train_set, sizes), (val_set, val_sizes) = load_csvs(train_csvs), load_csvs(val_csvs)
    tok_config = config.tokenizer
    if config.arch.name == "simplernn":  # the reference baseline: 5000 word ids, in order
        tok_config = TokenizerConfig(**{**asdict(tok_config), "mode": "words",
                                        "max_vocab": config.arch.rnn_vocab - 2,
                                        "max_features": config.arch.rnn_length})
    tokenizer = Tokenizer.fit(train_set.texts, tok_config)
    x_train, y_train, weights = _training_rows(tokenizer, train_set, sizes, config)
    x_val = encode(tokenizer, val_set.texts)
    fold = fold_ids(sizes, config, len(y_train))
    num_features = (config.arch.rnn_vocab if tok_config.mode == "words"
                    else tokenizer.num_features)
    history: list[dict[str, Any]] = []
    nets, best_recall = [], -1.0
    members = config.arch.members if config.arch.name == "bag" else ("all",)
    for index, member in enumerate(members):
        repeat = index if member in members[:index] else 0  # Keras names must be unique
        if member in LINEAR_MEMBERS:
            nets.append(_fit_linear(member, (x_train, y_train, weights),
                                    (x_val, val_set.labels, val_sizes), num_features,
                                    config, history, f"linear_{member}_{index}"))
            continue
        net = build(config.arch, num_features, tok_config.max_features, member,
                    tokenizer.char_offset, repeat)
        member_rows, member_val = (x_train, y_train, weights), (x_val, val_set.labels)
        if config.folds:
            out = fold == index % config.folds
            member_rows = (x_train[~out], y_train[~out], weights[~out])
            member_val = (np.concatenate([x_val, x_train[out]]),
                          np.concatenate([val_set.labels, y_train[out]]))
        best_recall = _fit(net, member_rows, member_val, config, history, member)
        nets.append(net)
    net = combine(nets, tok_config.max_features)
    offsets = np.zeros(3, dtype=np.float32)
    if config.tune_biases and len(nets) == 1:
        val_probs = net.predict(x_val, batch_size=2048, verbose=0)
        offsets = tune_biases(val_probs, val_set.labels)
        dense = net.get_layer("logits")
        kernel, bias = dense.get_weights()
        dense.set_weights([kernel, bias + offsets])  # baked into the model: no scorer logic
    final_val = scores(val_set.labels, net.predict(x_val, batch_size=2048, verbose=0).argmax(1))
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out_dir)
    net.save(out_dir / KERAS_FILE)
    summary = {
        "train_csv": [str(p) for p in train_csvs], "val_csv": [str(p) for p in val_csvs],
        "config": asdict(config), "languages": list(config.languages),
        "num_features": num_features, "epochs": history,
        "best_val_macro_recall": (best_recall if len(nets) == 1 and best_recall >= 0
                                  else final_val["macro_recall"]),
        "bias_offsets": offsets.tolist(), "val_after_offsets": final_val,
        "train_rows": len(train_set), "seconds": round(time.time() - started, 1),
    }
    (out_dir / HISTORY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def nb_ratios(x: npt.NDArray[np.int32], y: npt.NDArray[np.int64], w: npt.NDArray[np.float32],
              features: int, alpha: float = 1.0) -> npt.NDArray[np.float32]:
    """(features, 3) log-count ratios of each binarized feature, class c against the rest
    (Wang and Manning 2012), counted over the rows weighted by ``w``, smoothed by ``alpha``."""
    ordered = np.sort(x, axis=1)
    first = np.ones(x.shape, dtype=bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # each id once per post
    present = first & (ordered > 0)
    rows = np.broadcast_to(np.arange(len(x))[:, None], x.shape)[present]
    ids = ordered[present]
    out = np.zeros((features, 3), dtype=np.float32)
    for c in range(3):
        mine = y[rows] == c
        p = alpha + np.bincount(ids[mine], weights=w[rows][mine], minlength=features)
        q = alpha + np.bincount(ids[~mine], weights=w[rows][~mine], minlength=features)
        out[:, c] = np.log((p / p.sum()) / (q / q.sum()))
    return out


def per_source_macro_f1(labels: npt.NDArray[np.int64], probs: npt.NDArray[Any],
                        sizes: Sequence[int]) -> float:
    """Mean over the validation CSVs of each one's macro-F1 (every language alike)."""
    ends = np.cumsum(sizes)
    return float(np.mean([scores(labels[e - n:e], probs[e - n:e].argmax(1))["macro_f1"]
                          for n, e in zip(sizes, ends, strict=True)]))


def _fit_linear(kind: str, train_rows: Rows,
                val: tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], list[int]],
                num_features: int, config: TrainConfig, history: list[dict[str, Any]],
                name: str) -> Any:
    """A linear member (``architectures.build_linear``), its L2 strength (LINEAR_L2) and epoch
    chosen on the mean per-CSV validation macro-F1, folded into one Embedding for serving."""
    import keras

    x, y, w = train_rows
    width = x.shape[1]
    ratios = nb_ratios(x, y, w, num_features) if kind == "nblr" else None
    best: tuple[float, float] = (-1.0, 0.0)
    kept: list[Any] = []
    chosen_entry: dict[str, Any] = {}
    for l2 in LINEAR_L2:
        keras.utils.set_random_seed(config.seed)
        net = build_linear(num_features, width, ratios, l2)
        net.compile(keras.optimizers.Adam(LINEAR_LR), "sparse_categorical_crossentropy")
        top, waited = -1.0, 0
        for epoch in range(1, LINEAR_EPOCHS + 1):
            tick = time.time()
            fit = net.fit(x, y, sample_weight=w, batch_size=LINEAR_BATCH, epochs=1, shuffle=True,
                          verbose=0)
            probs = net.predict(val[0], batch_size=2048, verbose=0)
            f1 = per_source_macro_f1(val[1], probs, val[2])
            history.append({"member": kind, "l2": l2, "epoch": epoch,
                            "loss": float(fit.history["loss"][-1]),
                            "val_mean_macro_f1_per_csv": round(f1, 2),
                            **{f"val_{k}": v for k, v in scores(val[1], probs.argmax(1)).items()},
                            "seconds": round(time.time() - tick, 1)})
            log.info("%s epoch %d: %s", kind, epoch, history[-1])
            if f1 > best[0]:
                best = (f1, l2)
                kept = [v.numpy() for v in net.weights]
                chosen_entry = dict(history[-1])
            if f1 > top:
                top, waited = f1, 0
            else:
                waited += 1
                if waited >= config.patience:
                    break
    chosen = build_linear(num_features, width, ratios, best[1])
    for variable, value in zip(chosen.weights, kept, strict=True):
        variable.assign(value)
    history.append({**chosen_entry, "chosen_l2": best[1]})  # the member as kept
    return fold_linear(chosen, num_features, width, name)


def fold_ids(sizes: Sequence[int], config: TrainConfig, rows: int) -> npt.NDArray[np.int64]:
    """The fold of each training row (-1: trained on by every member), seeded, stratified per
    source CSV; rows past the CSVs (``extra_csv``) are never held out."""
    fold = np.full(rows, -1, dtype=np.int64)
    if not config.folds:
        return fold
    if config.folds < 2 or not config.fold_sources:
        raise ValueError("k-fold members need folds >= 2 and at least one source to fold")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    rng = np.random.default_rng(config.seed)
    for source in config.fold_sources:
        size = sizes[source]
        fold[starts[source] + rng.permutation(size)] = np.arange(size) % config.folds
    return fold


def _fit(net: Any, train_rows: Rows, val: tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]],
         config: TrainConfig, history: list[dict[str, Any]], member: str) -> float:
    """Train one network; keep the epoch with the best validation macro-recall (early stopping)."""
    import keras

    x_train, y_train, weights = train_rows
    targets: npt.NDArray[Any] = y_train
    if config.label_smoothing:  # the sparse loss has no smoothing: train on one-hot targets
        loss: Any = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        targets = np.eye(3, dtype=np.float32)[y_train]
    else:
        loss = "sparse_categorical_crossentropy"
    net.compile(keras.optimizers.Adam(config.learning_rate), loss)
    best_recall, best_weights, waited = -1.0, net.get_weights(), 0
    for epoch in range(config.epochs):
        tick = time.time()
        fit = net.fit(x_train, targets, sample_weight=weights, batch_size=config.batch_size,
                      epochs=1, shuffle=True, verbose=0)
        val_scores = scores(val[1], net.predict(val[0], batch_size=2048, verbose=0).argmax(1))
        history.append({"member": member, "epoch": epoch + 1,
                        "loss": float(fit.history["loss"][-1]),
                        **{f"val_{k}": v for k, v in val_scores.items()},
                        "seconds": round(time.time() - tick, 1)})
        log.info("%s epoch %d: %s", member, epoch + 1, history[-1])
        if val_scores["macro_recall"] > best_recall:
            best_recall, best_weights, waited = val_scores["macro_recall"], net.get_weights(), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    net.set_weights(best_weights)
    return best_recall


def class_weights(y: npt.NDArray[np.int64], sizes: Sequence[int],
                  source: npt.NDArray[np.float32], config: TrainConfig) -> npt.NDArray[Any]:
    """Each row's class weight: its class's share made 1/3, over all rows (weighted by source)
    or, with ``class_weights_per_source``, within the row's own CSV."""
    if not config.class_weights:
        return np.ones(len(y), dtype=np.float32)
    if not config.class_weights_per_source:
        pooled = np.bincount(y, weights=source, minlength=3).astype(np.float32)
        per_class: npt.NDArray[Any] = source.sum() / (3 * np.maximum(pooled, 1))
        return per_class[y]  # float32 all the way, as trained before
    out = np.empty(len(y), dtype=np.float32)
    for start, stop in zip(np.cumsum([0, *sizes[:-1]]), np.cumsum(sizes), strict=True):
        counts = np.bincount(y[start:stop], minlength=3)
        out[start:stop] = ((stop - start) / (3 * np.maximum(counts, 1)))[y[start:stop]]
    return out


def _training_rows(tokenizer: Tokenizer, data: Labelled, sizes: list[int],
                   config: TrainConfig) -> Rows:
    """Encoded rows, labels and per-row weights (balanced classes, per-source weights; extra
    rows down-weighted)."""
    x, y = encode(tokenizer, data.texts), data.labels
    given = list(config.source_weights)[: len(sizes)]
    source = np.repeat(np.asarray(given + [1.0] * (len(sizes) - len(given)), np.float32), sizes)
    w = (class_weights(y, sizes, source, config) * source).astype(np.float32)
    if config.extra_csv:
        extra = load_csv(Path(config.extra_csv))
        x = np.concatenate([x, encode(tokenizer, extra.texts)])
        w = np.concatenate([w, np.full(len(extra), config.extra_weight, dtype=np.float32)])
        y = np.concatenate([y, extra.labels])
    return x, y, w
