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

from model.errors import EmptyInputError, LanguageSettingError, ModelFileError
from model.languages import NO_WORDS, LanguageRouter
from model.token_table import MAX_ROWS
from model.tokenizer import TOKENIZER_FILE, Tokenizer

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "sentiment.tflite"  # model.json says which variant it is
METADATA_FILE = "model.json"
MAX_CHUNK = 256  # larger batches run in chunks of this many posts
Rows = npt.NDArray[np.int64]


class _Labelled:
    """A batch's rows, whose ``labels`` index ``NAMES``: row i's label is NAMES[labels[i]]."""

    NAMES: ClassVar[tuple[str, ...]]
    labels: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.labels)

    def label_names(self) -> list[str]:
        return [self.NAMES[i] for i in self.labels.tolist()]


@dataclass(frozen=True)
class ScoreBatch(_Labelled):
    """Scores of a batch, row i for text i."""

    LABELS: ClassVar[tuple[str, str, str]] = ("negative", "neutral", "positive")
    NAMES = LABELS

    labels: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32]


@dataclass(frozen=True)
class PostScores(_Labelled):
    """Scores of a batch of posts routed by language, row i for post i.

    Posts in a language the scorer does not score get label ``UNSUPPORTED``
    ("unsupported_language") and NaN probabilities and intensity: no sentiment at all, so that
    nothing can count or average them by mistake.
    """

    UNSUPPORTED: ClassVar[int] = 3
    LABEL_NAMES: ClassVar[tuple[str, ...]] = (*ScoreBatch.LABELS, "unsupported_language")
    NAMES = LABEL_NAMES

    languages: list[str]  # ISO 639 code, "und" (undetermined) or "zxx" (no words)
    supported: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int64]  # 0..2 as in ScoreBatch, or 3 = UNSUPPORTED
    probs: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32]


class _Model:
    """One LiteRT model file and the tokenizer beside it."""

    def __init__(self, path: Path, num_threads: int) -> None:
        self.path = path
        self.tokenizer = Tokenizer.load(path.parent / TOKENIZER_FILE)
        self.version, self.languages, self.companions = _metadata(path)
        self._interpreter = _load_interpreter(path, num_threads)
        self._input, self._output = self._check_signature()
        self._rows = 0
        self._last_texts: Sequence[str] | None = None
        self._last_rows: list[tuple[int, npt.NDArray[np.int64]]] = []

    def score(self, texts: Sequence[str]) -> ScoreBatch:
        self._last_texts, self._last_rows = texts, []
        chunks = [self._probs(texts[i : i + MAX_CHUNK]) for i in range(0, len(texts), MAX_CHUNK)]
        probs = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return ScoreBatch(
            labels=probs.argmax(axis=1).astype(np.int64),
            probs=probs,
            intensity=np.clip(probs[:, 2] - probs[:, 0], -1.0, 1.0).astype(np.float32),
        )

    def _probs(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        ids, token_rows = self.tokenizer.encode_rows(texts)
        self._last_rows.append((self.tokenizer.table.generation, token_rows))
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

    def token_rows(self, texts: Sequence[str]) -> npt.NDArray[np.int64] | None:
        """The token-table rows (``Tokenizer.encode_rows``) of the last ``score`` call when it
        scored exactly ``texts`` (the same list) and the table has not been reset since."""
        generation = self.tokenizer.table.generation
        if texts is not self._last_texts or any(g != generation for g, _ in self._last_rows):
            return None
        rows = [r for _, r in self._last_rows]
        return rows[0] if len(rows) == 1 else np.concatenate(rows)

    def _check_signature(self) -> tuple[int, int]:
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        width = self.tokenizer.config.max_features
        if (len(inputs) != 1 or inputs[0]["dtype"] != np.int32
                or list(inputs[0]["shape"][1:]) != [width]
                or len(outputs) != 1 or list(outputs[0]["shape"][1:]) != [3]):
            raise ModelFileError(
                f"model file {self.path} does not fit this scorer: it needs one int32 input "
                f"of shape (batch, {width}) and one (batch, 3) output, found "
                f"{[(d['shape'].tolist(), d['dtype'].__name__) for d in inputs]} -> "
                f"{[d['shape'].tolist() for d in outputs]}; retrain with `sentistream model train`"
            )
        return int(inputs[0]["index"]), int(outputs[0]["index"])


class SentimentScorer:
    """Scores batches of post texts with a LiteRT model and the tokenizer saved beside it.

    A model directory may name *companion* models in its model.json (``"companions":
    ["multilingual"]``: sub-directories, each with its own model.json listing its languages).
    Each language is scored by the first model that lists it, the main model first; ``score``
    always uses the main model. ``languages``: the languages to score (SENTISTREAM_LANGUAGES);
    None or empty = every language of the models (``model_languages``).
    """

    def __init__(self, model_path: str | Path | None = None, num_threads: int = 1,
                 languages: Iterable[str] | None = None) -> None:
        self.model_path = Path(model_path) if model_path else SHIPPED_MODEL
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        main = _Model(self.model_path, num_threads)
        self._models = [main] + [_Model(self.model_path.parent / name / SHIPPED_MODEL.name,
                                        num_threads) for name in main.companions]
        self.tokenizer = main.tokenizer
        self.version = "+".join(m.version for m in self._models)
        self._model_of: dict[str, int] = {}
        for index, m in enumerate(self._models):
            for code in m.languages:
                self._model_of.setdefault(code, index)
        self._model_of[NO_WORDS] = 0  # emoji-only posts: the main model
        self.model_languages = tuple(sorted(set(self._model_of) - {NO_WORDS}))
        self.router = LanguageRouter(self.model_languages, languages)
        # The last score_posts call: its texts, and (model index, its posts, the texts it got)
        # per model that scored some; what token_rows splices the main table's rows from.
        self._routed: tuple[Sequence[str], list[tuple[int, Rows, Sequence[str]]]] | None = None
        # Per companion: its table's row -> the main table's row of the same raw token, valid
        # for one (companion generation, main generation).
        self._to_main: dict[int, tuple[tuple[int, int], Rows]] = {}

    def load_detectors(self) -> None:
        """Load every language detector now (py3langid's ~1.5-2 s of CPU, once), not in the
        first batch that holds a post CLD2 does not place: a stream's worker calls it at start.
        Callers that score a few posts need not: it loads when first needed."""
        self.router.detector.load()

    def score_posts(self, texts: Sequence[str],
                    langs: Sequence[str | None] | None = None) -> PostScores:
        """Detect each post's language (an explicit ``langs[i]`` wins), score the supported
        ones with the model of their language and mark the others unsupported_language.
        Raises EmptyInputError when empty."""
        if not texts:
            raise EmptyInputError("score_posts() needs at least one text; got an empty batch")
        if isinstance(texts, str):
            raise TypeError("score_posts() takes a list of texts, not a single string")
        routed = self.router.route(texts, langs)
        n = len(texts)
        labels = np.full(n, PostScores.UNSUPPORTED, dtype=np.int64)
        probs = np.full((n, 3), np.nan, dtype=np.float32)
        intensity = np.full(n, np.nan, dtype=np.float32)
        which = np.fromiter((self._model_of.get(code, -1) if ok else -1 for code, ok in
                             zip(routed.codes, routed.supported.tolist(), strict=True)),
                            dtype=np.int64, count=n)
        parts: list[tuple[int, Rows, Sequence[str]]] = []
        for index, m in enumerate(self._models):
            rows = np.flatnonzero(which == index)
            if len(rows):
                sub = texts if len(rows) == n else [texts[i] for i in rows.tolist()]
                scored = m.score(sub)
                labels[rows], probs[rows], intensity[rows] = (scored.labels, scored.probs,
                                                              scored.intensity)
                parts.append((index, rows, sub))
        self._routed = (texts, parts)
        return PostScores(routed.codes, routed.supported, labels, probs, intensity)

    def token_rows(self, texts: Sequence[str]) -> Rows | None:
        """The main tokenizer's table rows of ``texts`` (``Tokenizer.encode_rows``: row 0 ends
        each post) when the last ``score`` or ``score_posts`` call scored exactly that list,
        for readers of the same tokens (``stream.drivers.terms.extract_rows``, with
        ``tokenizer.table``); None otherwise. A batch routed to several models gets its rows
        spliced from each model's, mapped to the main table, and the unsupported posts' rows
        looked up: a second tokenization of the batch cost ~10 us per post."""
        main = self._models[0]
        rows = main.token_rows(texts)
        if rows is not None or self._routed is None or texts is not self._routed[0]:
            return rows
        table = main.tokenizer.table
        parts = self._routed[1]
        if len(table) > MAX_ROWS and all(index for index, _, _ in parts):
            table.reset()  # bounded as encode_rows keeps it (it checked when main scored)
        generation = table.generation
        pieces: list[tuple[Rows, Rows]] = []
        covered = np.zeros(len(texts), bool)
        for index, posts, sub in parts:
            found = self._models[index].token_rows(sub)
            if found is None:
                return None
            pieces.append((posts, self._in_main(index, found) if index else found))
            covered[posts] = True
        rest = np.flatnonzero(~covered)
        if len(rest):
            pieces.append((rest, main.tokenizer.table_rows([texts[i] for i in rest.tolist()])))
        return _splice(pieces, len(texts)) if table.generation == generation else None

    def _in_main(self, index: int, rows: Rows) -> Rows:
        """A companion's table rows as the main table's rows of the same raw tokens."""
        own, main = self._models[index].tokenizer.table, self._models[0].tokenizer
        generations = (own.generation, main.table.generation)
        known, mapping = self._to_main.get(index, (generations, np.zeros(0, np.int64)))
        if known != generations:
            mapping = np.zeros(0, np.int64)
        if len(own.raws) > len(mapping):  # only the tokens new to the companion's table
            mapping = np.concatenate((mapping, main.rows_of(own.raws[len(mapping):])))
        self._to_main[index] = (generations, mapping)
        mapped: Rows = mapping[rows]
        return mapped

    def score(self, texts: Sequence[str]) -> ScoreBatch:
        """Score a non-empty list of texts with the main model, whatever their language (raises
        EmptyInputError for an empty one). Streams should call score_posts."""
        return self.score_as(texts, None)

    def score_as(self, texts: Sequence[str], language: str | None) -> ScoreBatch:
        """Score texts with the model that serves ``language`` (None: the main model)."""
        if not texts:
            raise EmptyInputError("score() needs at least one text; got an empty batch")
        if isinstance(texts, str):
            raise TypeError("score() takes a list of texts, not a single string")
        index = 0 if language is None else self._model_of.get(language)
        if index is None:
            raise LanguageSettingError(f"no model scores {language!r}; the models know "
                                       f"{', '.join(self.model_languages)}")
        return self._models[index].score(texts)


def _splice(pieces: Sequence[tuple[Rows, Rows]], n: int) -> Rows | None:
    """One batch's token rows from pieces (the posts of a piece, ascending; their rows, each
    post ended by row 0) that cover posts 0..n-1 once; None if a piece's posts do not match."""
    ends = [np.flatnonzero(rows == 0) for _, rows in pieces]
    if any(len(e) != len(posts) for e, (posts, _) in zip(ends, pieces, strict=True)):
        return None
    lengths = np.zeros(n, np.int64)
    for e, (posts, _) in zip(ends, pieces, strict=True):
        lengths[posts] = np.diff(e, prepend=-1)
    offsets = np.cumsum(lengths) - lengths  # where each post's rows start in the batch
    out = np.empty(int(lengths.sum()), np.int64)
    for e, (posts, rows) in zip(ends, pieces, strict=True):
        length = lengths[posts]
        out[np.repeat(offsets[posts] - (e + 1 - length), length) + np.arange(len(rows))] = rows
    return out


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


def _metadata(model_path: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(version, languages, companions) of a model from the model.json beside it; models
    trained before languages existed (or without model.json) are English only."""
    meta_path = model_path.parent / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        variant = next((v for v, name in meta.get("variants", {}).items()
                        if name == model_path.name), model_path.stem)
        languages = tuple(str(code) for code in meta.get("languages", ["en"]))
        if not languages:
            raise ValueError("its list of languages is empty")
        companions = tuple(str(name) for name in meta.get("companions", []))
        if any("/" in name or name.startswith(".") for name in companions):
            raise ValueError(f"companions must be sub-directory names, got {companions}")
        version = f"{meta.get('version', meta.get('architecture', 'model'))}:{variant}"
        return version, languages, companions
    except FileNotFoundError:
        return model_path.stem, ("en",), ()
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"model metadata {meta_path} is corrupt ({exc}); re-export it "
                             "with `sentistream model quantize`") from exc
