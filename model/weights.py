"""Weight quantization error per tensor, read from the .tflite files themselves (no TensorFlow).

The method's fixed-point formulas: Q(x, n) = round(x * 2^n) and E(x, n) = |x - Q(x, n) / 2^n|,
for n = 4..8 fractional bits, beside the affine int8 scheme LiteRT really uses
(x ~ scale * (q - zero_point), per tensor or per output channel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter

PROBE_BATCH = 7  # activations get this leading dimension, so weights are the tensors without it
FRACTION_BITS = (4, 5, 6, 7, 8)


def fixed_point_error(x: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float64]:
    """E(x, n) = |x - Q(x, n) / 2^n| with Q(x, n) = round(x * 2^n)."""
    scaled = np.round(x.astype(np.float64) * 2.0**n)
    return np.abs(x - scaled / 2.0**n)


def _weights(path: Path) -> list[dict[str, Any]]:
    """Constant weight tensors of a model: name, data and quantization parameters."""
    interpreter = Interpreter(model_path=str(path))
    (inp,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(inp["index"], [PROBE_BATCH, *inp["shape"][1:]])
    interpreter.allocate_tensors()
    found = []
    for detail in interpreter.get_tensor_details():
        shape = detail["shape"]
        if len(shape) == 0 or shape[0] == PROBE_BATCH or detail["index"] == inp["index"]:
            continue
        try:
            data = interpreter.get_tensor(detail["index"])
        except ValueError:
            continue
        if data.dtype not in (np.float32, np.int8) or data.size < 2:
            continue
        found.append({"name": detail["name"], "data": data.copy(),
                      "quant": detail["quantization_parameters"]})
    return found


def _dequantize(data: npt.NDArray[np.int8], quant: dict[str, Any]) -> npt.NDArray[np.float64]:
    scales, zeros = quant["scales"].astype(np.float64), quant["zero_points"].astype(np.float64)
    if len(scales) > 1:  # per channel along quantized_dimension
        shape = [1] * data.ndim
        shape[quant["quantized_dimension"]] = len(scales)
        scales, zeros = scales.reshape(shape), zeros.reshape(shape)
    out: npt.NDArray[np.float64] = scales * (data.astype(np.float64) - zeros)
    return out


def quantization_errors(float_model: Path, int8_models: dict[str, Path]) -> list[dict[str, Any]]:
    """Per float32 weight tensor: E(x, n) mean/max for n=4..8, and each int8 file's affine error."""
    reference = [w for w in _weights(float_model) if w["data"].dtype == np.float32]
    quantized = {v: [w for w in _weights(p) if w["data"].dtype == np.int8]
                 for v, p in int8_models.items()}
    rows = []
    for w in reference:
        x = w["data"]
        row: dict[str, Any] = {"tensor": w["name"], "shape": list(x.shape), "size": int(x.size),
                               "abs_max": float(np.abs(x).max())}
        for n in FRACTION_BITS:
            err = fixed_point_error(x, n)
            row[f"fixed_n{n}"] = {"mean": float(err.mean()), "max": float(err.max())}
        for variant, tensors in quantized.items():
            same_shape = [q for q in tensors if q["data"].shape == x.shape]
            # Names survive conversion; the shape alone is ambiguous in an ensemble.
            match = next((q for q in same_shape if q["name"] == w["name"]),
                         same_shape[0] if len(same_shape) == 1 else None)
            if match is None:
                row[f"affine_{variant}"] = None  # not int8 in this variant (float or int32)
                continue
            err = np.abs(x - _dequantize(match["data"], match["quant"]))
            row[f"affine_{variant}"] = {
                "mean": float(err.mean()), "max": float(err.max()),
                "scales": len(match["quant"]["scales"]),
            }
        rows.append(row)
    return rows
