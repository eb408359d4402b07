"""The bag network survives full-integer int8: a short post keeps its float32 probabilities
even when the calibration data hold long posts (needs the `train` extra)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("tensorflow", reason="converting to LiteRT needs the `train` extra")
pytestmark = pytest.mark.train

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from model.architectures import ArchConfig, build  # noqa: E402
from model.quantize import _configure  # noqa: E402
from model.train import import_tensorflow  # noqa: E402

WIDTH, FEATURES, LOUD = 160, 64, 63  # LOUD: one feature row far larger than the others


def _network() -> object:
    net = build(ArchConfig(members=("all",)), FEATURES, WIDTH, "all", char_offset=FEATURES)
    rng = np.random.default_rng(0)
    table = rng.normal(0, 0.1, (FEATURES, 16)).astype(np.float32)
    table[LOUD] = 1.0
    net.get_layer("embedding").set_weights([table])
    kernel = rng.normal(0, 2.0, (16, 3)).astype(np.float32)
    net.get_layer("logits").set_weights([kernel, np.zeros(3, np.float32)])
    return net


def _posts(rows: list[list[int]]) -> npt.NDArray[np.int32]:
    out = np.zeros((len(rows), WIDTH), dtype=np.int32)
    for i, ids in enumerate(rows):
        out[i, : len(ids)] = ids
    return out


def test_short_posts_keep_their_probabilities_in_int8_full() -> None:
    tf = import_tensorflow()
    net = _network()
    # Calibration as in a real corpus: long posts (here: one loud feature, 160 times) beside
    # short ones. A sum over all rows would be quantized with the long posts' range.
    calibration = _posts([[LOUD] * WIDTH] * 8 + [[i, i + 1] for i in range(1, 40, 2)])
    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    _configure(tf, converter, "int8-full", calibration)
    interpreter = Interpreter(model_content=converter.convert())
    short = _posts([[i, i + 7] for i in range(1, 40, 3)])
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], short.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], short)
    interpreter.invoke()
    quantized = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = net.predict(short, verbose=0)  # type: ignore[attr-defined]
    assert np.abs(quantized - expected).max() < 0.05
