"""`sentistream model quantize`: convert the trained Keras model into four LiteRT variants.

float32 (reference), float16 (weights), dynamic-range int8 (weights int8, activations float at
run time) and full-integer int8 (weights and activations int8, calibrated on a representative
dataset drawn from the training data). Imports TensorFlow: training side only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model.data import load_csvs
from model.tokenizer import TOKENIZER_FILE, Tokenizer
from model.train import KERAS_FILE, encode, import_tensorflow

log = logging.getLogger(__name__)
VARIANTS = ("float32", "float16", "int8-dynamic", "int8-full")
METADATA_FILE = "model.json"


def variant_file(variant: str) -> str:
    return f"sentiment_{variant.replace('-', '_')}.tflite"


def quantize(model_dir: Path, train_csvs: Sequence[Path], out_dir: Path | None = None,
             variants: tuple[str, ...] = VARIANTS, calibration_rows: int = 1000,
             seed: int = 1234) -> dict[str, Path]:
    """Write one .tflite per variant (plus tokenizer.json and model.json) into ``out_dir``."""
    tf = import_tensorflow()
    import keras

    out_dir = out_dir or model_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    net = keras.models.load_model(model_dir / KERAS_FILE, safe_mode=False)
    tokenizer = Tokenizer.load(model_dir / TOKENIZER_FILE)
    texts = load_csvs(train_csvs)[0].texts  # every language in the calibration draw
    picked = np.random.default_rng(seed).permutation(len(texts))[:calibration_rows]
    calibration = encode(tokenizer, [texts[i] for i in picked])
    written: dict[str, Path] = {}
    for variant in variants:
        converter = tf.lite.TFLiteConverter.from_keras_model(net)
        _configure(tf, converter, variant, calibration)
        path = out_dir / variant_file(variant)
        path.write_bytes(converter.convert())
        log.info("%s: %s (%d bytes)", variant, path, path.stat().st_size)
        written[variant] = path
    if out_dir != model_dir:
        tokenizer.save(out_dir)
    _write_metadata(model_dir, out_dir, written)
    return written


def trained_languages(model_dir: Path) -> list[str]:
    """The languages a trained model directory was trained for (history.json; English before)."""
    history = json.loads((model_dir / "history.json").read_text(encoding="utf-8"))
    return list(history.get("languages", ["en"]))


def _configure(tf: Any, converter: Any, variant: str, calibration: np.ndarray) -> None:
    if variant == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8-full":
        def representative() -> Iterator[list[np.ndarray]]:
            for i in range(0, len(calibration), 1):
                yield [calibration[i : i + 1]]

        converter.representative_dataset = representative
        # Int8 everywhere inside; float probabilities in and out keep the scorer's API uniform.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif variant != "int8-dynamic":
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


def _write_metadata(model_dir: Path, out_dir: Path, written: dict[str, Path]) -> None:
    history = json.loads((model_dir / "history.json").read_text(encoding="utf-8"))
    arch = history["config"]["arch"]["name"]
    meta = {
        "format": 1,
        "version": f"{arch}-{datetime.now(UTC):%Y%m%d-%H%M}",
        "architecture": arch,
        "labels": ["negative", "neutral", "positive"],
        "variants": {v: p.name for v, p in written.items()},
        "tokenizer": TOKENIZER_FILE,
        # What the model was trained for: the scorer scores these languages only.
        "languages": history.get("languages", ["en"]),
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def ship(model_dir: Path, variant: str, shipped_dir: Path, companion: str = "") -> Path:
    """Copy one variant, its tokenizer and metadata into the package's shipped directory, or,
    with ``companion``, into its sub-directory of that name, listed in the main model.json
    (the scorer then routes that model's languages to it). Shipping a main model keeps the
    companions already shipped."""
    import shutil

    main_meta_path = shipped_dir / METADATA_FILE
    old_main = (json.loads(main_meta_path.read_text(encoding="utf-8"))
                if main_meta_path.exists() else {})
    target_dir = shipped_dir / companion if companion else shipped_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    for stale in target_dir.glob("*.tflite"):
        stale.unlink()
    target = target_dir / "sentiment.tflite"
    shutil.copy(model_dir / variant_file(variant), target)
    shutil.copy(model_dir / TOKENIZER_FILE, target_dir / TOKENIZER_FILE)
    meta = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    meta["variants"] = {variant: target.name}
    meta["shipped_variant"] = variant
    meta.setdefault("languages", ["en"])
    if companion:
        old_main["companions"] = sorted({*old_main.get("companions", []), companion})
        main_meta_path.write_text(json.dumps(old_main, indent=2), encoding="utf-8")
    else:
        kept = [c for c in old_main.get("companions", []) if (shipped_dir / c).is_dir()]
        if kept:
            meta["companions"] = kept
    (target_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return target
