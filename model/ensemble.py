"""`sentistream model merge`: one model averaging the members of several trained ones.

Runs of one recipe that differ only in their seed share a tokenizer (it is fitted on the data,
not drawn at random), so their members read the same feature ids and can be averaged in one
graph: the seeds' noise averages out at the cost of a few more gathers per post. Training side
only (imports Keras); the result is a model directory that ``quantize`` takes as usual.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from model.architectures import ArchConfig, build, combine
from model.errors import DataError
from model.tokenizer import TOKENIZER_FILE, Tokenizer
from model.train import HISTORY_FILE, KERAS_FILE, import_tensorflow


def merge(model_dirs: Sequence[Path], out_dir: Path) -> dict[str, Any]:
    """Write into ``out_dir`` one Keras model whose output is the mean of the probabilities of
    every member of every model in ``model_dirs``, with their tokenizer and a history.json."""
    import_tensorflow()
    import keras

    if len(model_dirs) < 2:
        raise DataError("merge needs at least two trained model directories")
    tokenizer_text = (model_dirs[0] / TOKENIZER_FILE).read_text(encoding="utf-8")
    for other in model_dirs[1:]:
        if (other / TOKENIZER_FILE).read_text(encoding="utf-8") != tokenizer_text:
            raise DataError(f"{other} has another tokenizer than {model_dirs[0]}: only runs of "
                            "one recipe (same data and tokenizer options) can be merged")
    tokenizer = Tokenizer.load(model_dirs[0] / TOKENIZER_FILE)
    histories = [json.loads((d / HISTORY_FILE).read_text(encoding="utf-8")) for d in model_dirs]
    members: list[Any] = []
    kinds: list[str] = []
    for model_dir, history in zip(model_dirs, histories, strict=True):
        arch = _arch(history)
        net = keras.models.load_model(model_dir / KERAS_FILE, safe_mode=False)
        trained = [layer for layer in net.layers if isinstance(layer, keras.Model)] or [net]
        for kind, old in zip(arch.members, trained, strict=True):
            # Rebuilt under a new index: Keras needs unique member names in one model.
            new = build(arch, history["num_features"], tokenizer.config.max_features, kind,
                        tokenizer.char_offset, len(members))
            new.set_weights(old.get_weights())
            members.append(new)
            kinds.append(kind)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(out_dir)
    combine(members, tokenizer.config.max_features).save(out_dir / KERAS_FILE)
    first = histories[0]
    summary = {
        **first,
        "config": {**first["config"],
                   "arch": asdict(replace(_arch(first), members=tuple(kinds)))},
        "merged_from": [str(d) for d in model_dirs],
        "seeds": [h["config"]["seed"] for h in histories],
        "epochs": [e for h in histories for e in h["epochs"]],
    }
    (out_dir / HISTORY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _arch(history: dict[str, Any]) -> ArchConfig:
    saved = history["config"]["arch"]
    return ArchConfig(**{**saved, "members": tuple(saved["members"])})
