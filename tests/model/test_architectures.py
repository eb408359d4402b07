"""The bag network survives full-integer int8: short and long posts keep their float32
probabilities whatever lengths the calibration data hold; and its int8 graph stays on ops with
fast kernels (needs the `train` extra)."""

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


def _long(seed: int) -> list[int]:
    return list(np.random.default_rng(seed).integers(1, LOUD, WIDTH))


def _int8(net: object, calibration: npt.NDArray[np.int32]) -> Interpreter:
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    _configure(tf, converter, "int8-full", calibration)
    return Interpreter(model_content=converter.convert())


def _int8_error(calibration: npt.NDArray[np.int32], posts: npt.NDArray[np.int32]) -> float:
    """Largest difference of a probability between full-integer int8 and float32."""
    net = _network()
    interpreter = _int8(net, calibration)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, posts.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, posts)
    interpreter.invoke()
    quantized = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return float(np.abs(quantized - net.predict(posts, verbose=0)).max())  # type: ignore[attr-defined]


def test_short_posts_keep_their_probabilities_beside_long_loud_ones() -> None:
    # A sum of rows (then a division) is quantized with the range of the long loud posts.
    calibration = _posts([[LOUD] * WIDTH] * 8 + [[i, i + 1] for i in range(1, 40, 2)])
    assert _int8_error(calibration, _posts([[i, i + 7] for i in range(1, 40, 3)])) < 0.05


def test_long_posts_keep_their_probabilities_beside_short_loud_ones() -> None:
    # Rows divided before the sum are quantized with the range of the short loud posts.
    calibration = _posts([[LOUD]] * 8 + [_long(i) for i in range(20)])
    assert _int8_error(calibration, _posts([_long(100 + i) for i in range(8)])) < 0.05


def test_int8_graph_divides_once_per_post_not_per_feature() -> None:
    # An int8 DIV has no XNNPACK kernel: dividing the whole (batch, width) mask by the count
    # ran 4x slower than the rest of the member together. Only (batch, 1) tensors may divide.
    interpreter = _int8(_network(), _posts([_long(i)[: 2 + i] for i in range(20)]))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [8, WIDTH])
    interpreter.allocate_tensors()
    shapes = {t["index"]: tuple(t["shape"]) for t in interpreter.get_tensor_details()}
    divisions = [shapes[out] for op in interpreter._get_ops_details()
                 if op["op_name"] == "DIV" for out in op["outputs"]]
    assert divisions, "the mean divides by the post's feature count somewhere"
    assert all(shape[-1] == 1 for shape in divisions), divisions
