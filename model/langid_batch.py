"""py3langid's classifier on a whole batch at once: its byte DFA walked in numpy, in lock step.

py3langid (0.4) walks each text's bytes through a DFA in a Python loop, ~100-170 us per tweet:
as the second opinion on the ~6% of a multilingual stream that CLD2 does not place, it cost more
than CLD2 on every post. Here every text of the batch advances one byte per numpy step (texts
sorted longest first, so the active ones are a prefix), the features are counted with one
``np.unique`` and scored with one gather-multiply-reduce. Same features, same naive Bayes model,
same labels (float32 sums in another order: tests/model/test_langid_batch.py checks the labels
against py3langid's own ``classify``).

This is the one module that reads py3langid's attributes (``tk_nextmove``, ``_rowbase``,
``tk_output``, ``nb_ptc``, ``nb_pc``, ``nb_classes``, ``_alias_pairs``, ``_encode``): should an
upgrade move them, ``BatchClassifier`` fails at load with a message naming them, and the fast
test fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from py3langid.langid import RAW_FLOOR, LanguageIdentifier

from model.errors import ModelFileError

_NEEDED = ("tk_nextmove", "_rowbase", "tk_output", "nb_ptc", "nb_pc", "nb_classes",
           "_alias_pairs", "_encode", "_norm_probs", "min_confidence")


class BatchClassifier:
    """``classify(text)[0]`` of a py3langid identifier (raw scores, no confidence floor) for
    many texts in one pass."""

    def __init__(self, identifier: LanguageIdentifier) -> None:
        missing = [name for name in _NEEDED if not hasattr(identifier, name)]
        if missing:
            raise ModelFileError(f"py3langid changed: {', '.join(missing)} are gone; pin "
                                 "py3langid 0.4 or update model/langid_batch.py")
        if identifier._norm_probs or identifier.min_confidence is not None:
            raise ValueError("BatchClassifier reproduces raw scores only (norm_probs=False)")
        self.identifier = identifier
        self._next = np.asarray(identifier.tk_nextmove, np.int64)
        self._rowbase = np.asarray(identifier._rowbase, np.int64)
        self._output = np.asarray(identifier.tk_output, np.int64)
        self._ptc = np.asarray(identifier.nb_ptc, np.float32)
        self._pc = np.asarray(identifier.nb_pc, np.float32)
        self._classes = list(identifier.nb_classes)
        self._aliases = list(identifier._alias_pairs)

    def classify(self, texts: Sequence[str]) -> list[str]:
        """The best language of each text (py3langid's codes)."""
        if not texts:
            return []
        encoded = [self.identifier._encode(text) for text in texts]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        order = np.argsort(-lengths, kind="stable")
        rows, feats = self._walk([encoded[i] for i in order.tolist()], lengths[order])
        scores = self._score(rows, feats, len(texts))
        best = scores.argmax(axis=1).tolist()
        out = [""] * len(texts)
        for rank, i in enumerate(order.tolist()):
            out[i] = self._classes[best[rank]]
        return out

    def _walk(self, encoded: list[bytes], lengths: npt.NDArray[np.int64]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(text row, feature) of every feature the DFA emits; rows sorted longest first."""
        width = int(lengths[0])
        data = np.zeros((len(encoded), max(width, 1)), np.int64)
        for row, raw in enumerate(encoded):
            data[row, :len(raw)] = np.frombuffer(raw, np.uint8)
        # active[j]: how many texts (a prefix: longest first) still have a byte at j.
        active = np.searchsorted(-lengths, -np.arange(width), side="left")
        state = np.zeros(len(encoded), np.int64)
        rows, feats = [], []
        for j, k in enumerate(active.tolist()):
            now = self._next[self._rowbase[state[:k]] + data[:k, j]]
            state[:k] = now
            f = self._output[now]
            hit = np.flatnonzero(f >= 0)
            if len(hit):
                rows.append(hit)
                feats.append(f[hit])
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(feats)

    def _score(self, rows: npt.NDArray[np.int64], feats: npt.NDArray[np.int64],
               n: int) -> npt.NDArray[np.float32]:
        """Naive Bayes scores: sum over a text's features of log1p(count) * P(feature | class),
        plus the class prior; texts without features get py3langid's floor everywhere."""
        scores = np.full((n, len(self._classes)), RAW_FLOOR, np.float32)
        if len(rows):
            width = self._ptc.shape[0]
            keys, counts = np.unique(rows * width + feats, return_counts=True)
            text_of, feat_of = keys // width, keys % width
            parts = np.log1p(counts.astype(np.float32))[:, None] * self._ptc[feat_of]
            starts = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
            scores[text_of[starts]] = np.add.reduceat(parts, starts, axis=0) + self._pc
        for first, dupe in self._aliases:  # as py3langid: the dupe folded into the first
            scores[:, first] = np.maximum(scores[:, first], scores[:, dupe])
            scores[:, dupe] = RAW_FLOOR
        return scores
