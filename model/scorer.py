"""The runtime scorer: tokenizer -> int8 LiteRT model -> labels, probabilities, intensity.

Plain and synchronous: every file is loaded and checked once, then each call runs
preprocess -> invoke -> postprocess on the whole batch. One interpreter and its tensors are
reused across calls; the interpreter is resized only when the (power-of-two rounded) batch size
changes. Never imports TensorFlow. One scorer must be used from one thread at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter

from model.errors import EmptyInputError, ModelFileError
from model.languages import LanguageRouter
from model.tokenizer import TOKENIZER_FILE, Tokenizer

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "sentiment.tflite"  # model.json says which variant it is
METADATA_FILE = "model.json"
MAX_CHUNK = 256  # larger batches run in chunks of this many posts


@dataclass(frozen=True)
class ScoreBatch:
    """Scores of a batch, row i for text i."""

    LABELS: ClassVar[tuple[str, str, str]] = ("negative", "neutral", "positive")

    labels: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.labels)

    def label_names(self) -> list[str]:
        return [self.LABELS[i] for i in self.labels.tolist()]


@dataclass(frozen=True)
class PostScores:
    """Scores of a batch of posts routed by language, row i for post i.

    Posts in a language the scorer does not score get label ``UNSUPPORTED``
    ("unsupported_language") and NaN probabilities and intensity: no sentiment at all, so that
    nothing can count or average them by mistake.
    """

    UNSUPPORTED: ClassVar[int] = 3
    LABEL_NAMES: ClassVar[tuple[str, ...]] = (*ScoreBatch.LABELS, "unsupported_language")

    languages: list[str]  # ISO 639 code, "und" (undetermined) or "zxx" (no words)
    supported: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int64]  # 0..2 as in ScoreBatch, or 3 = UNSUPPORTED
    probs: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.labels)

    def label_names(self) -> list[str]:
        return [self.LABEL_NAMES[i] for i in self.labels.tolist()]


class SentimentScorer:
    """Scores batches of post texts with a LiteRT model and the tokenizer saved beside it.

    ``languages``: the languages to score (SENTISTREAM_LANGUAGES); None or empty = every
    language the model was trained for (``model_languages``, from model.json).
    """

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1,
                 languages: Iterable[str] | None = None) -> None:
        self.model_path = Path(model_path) if model_path else SHIPPED_MODEL
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.tokenizer = Tokenizer.load(self.model_path.parent / TOKENIZER_FILE)
        self.version, self.model_languages = _metadata(self.model_path)
        self.router = LanguageRouter(self.model_languages, languages)
        self._interpreter = _load_interpreter(self.model_path, num_threads)
        self._input, self._output = self._check_signature()
        self._rows = 0

    def score_posts(self, texts: Sequence[str],
                    langs: Sequence[str | None] | None = None) -> PostScores:
        """Detect each post's language (an explicit ``langs[i]`` wins), score the supported
        ones and mark the others unsupported_language. Raises EmptyInputError when empty."""
        if not texts:
            raise EmptyInputError("score_posts() needs at least one text; got an empty batch")
        if isinstance(texts, str):
            raise TypeError("score_posts() takes a list of texts, not a single string")
        routed = self.router.route(texts, langs)
        n = len(texts)
        labels = np.full(n, PostScores.UNSUPPORTED, dtype=np.int64)
        probs = np.full((n, 3), np.nan, dtype=np.float32)
        intensity = np.full(n, np.nan, dtype=np.float32)
        rows = np.flatnonzero(routed.supported)
        if len(rows):
            scored = self.score(texts if len(rows) == n else [texts[i] for i in rows.tolist()])
            labels[rows], probs[rows], intensity[rows] = (scored.labels, scored.probs,
                                                          scored.intensity)
        return PostScores(routed.codes, routed.supported, labels, probs, intensity)

    def score(self, texts: Sequence[str]) -> ScoreBatch:
        """Score a non-empty list of texts, whatever their language (raises EmptyInputError
        for an empty one). Streams should call score_posts, which routes by language."""
        if not texts:
            raise EmptyInputError("score() needs at least one text; got an empty batch")
        if isinstance(texts, str):
            raise TypeError("score() takes a list of texts, not a single string")
        chunks = [self._probs(texts[i : i + MAX_CHUNK]) for i in range(0, len(texts), MAX_CHUNK)]
        probs = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return ScoreBatch(
            labels=probs.argmax(axis=1).astype(np.int64),
            probs=probs,
            intensity=np.clip(probs[:, 2] - probs[:, 0], -1.0, 1.0).astype(np.float32),
        )

    def _probs(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        ids = self.tokenizer.encode(texts)
        n = len(texts)
        rows = 1 << (n - 1).bit_length()  # round up: few distinct shapes, few reallocations
        if rows != self._rows:
            self._interpreter.resize_tensor_input(self._input, [rows, ids.shape[1]])
            self._interpreter.allocate_tensors()
            self._rows = rows
        if rows != n:
            ids = np.concatenate([ids, np.zeros((rows - n, ids.shape[1]), dtype=np.int32)])
        self._interpreter.set_tensor(self._input, ids)
        self._interpreter.invoke()
        out = np.asarray(self._interpreter.get_tensor(self._output)[:n], dtype=np.float32)
        # A full-integer model's probabilities are steps of 1/256 and need not sum to 1.
        probs: npt.NDArray[np.float32] = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-6)
        return probs

    def _check_signature(self) -> tuple[int, int]:
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        width = self.tokenizer.config.max_features
        if (len(inputs) != 1 or inputs[0]["dtype"] != np.int32
                or list(inputs[0]["shape"][1:]) != [width]
                or len(outputs) != 1 or list(outputs[0]["shape"][1:]) != [3]):
            raise ModelFileError(
                f"model file {self.model_path} does not fit this scorer: it needs one int32 input "
                f"of shape (batch, {width}) and one (batch, 3) output, found "
                f"{[(d['shape'].tolist(), d['dtype'].__name__) for d in inputs]} -> "
                f"{[d['shape'].tolist() for d in outputs]}; retrain with `sentistream model train`"
            )
        return int(inputs[0]["index"]), int(outputs[0]["index"])


def _load_interpreter(path: Path, num_threads: int) -> Interpreter:
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; set SENTISTREAM_MODEL_PATH to a "
                             ".tflite file or leave it empty for the shipped model")
    try:
        interpreter = Interpreter(model_content=path.read_bytes(), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"model file {path} is not a valid LiteRT model ({exc}); "
                             "re-export it with `sentistream model quantize`") from exc
    return interpreter


def _metadata(model_path: Path) -> tuple[str, tuple[str, ...]]:
    """(version, languages) of a model from the model.json beside it; models trained before
    languages existed (or without model.json) are English only."""
    meta_path = model_path.parent / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        variant = next((v for v, name in meta.get("variants", {}).items()
                        if name == model_path.name), model_path.stem)
        languages = tuple(str(code) for code in meta.get("languages", ["en"]))
        if not languages:
            raise ValueError("its list of languages is empty")
        return f"{meta.get('version', meta.get('architecture', 'model'))}:{variant}", languages
    except FileNotFoundError:
        return model_path.stem, ("en",)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"model metadata {meta_path} is corrupt ({exc}); re-export it "
                             "with `sentistream model quantize`") from exc
