"""Per-token work, done once per distinct token and in batches.

The table maps a raw token to a row of small numpy arrays (word id, flags, lexicon bin, extra
feature ids). Tokens first seen in a batch are queued by a dict lookup and filled together by
``flush``; their character n-grams are hashed for the whole queue at once with numpy (a
polynomial hash over UTF-32 code points), not per n-gram in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

MAX_EXTRAS = 16  # marker + char-gram columns per token
MAX_ROWS = 250_000  # a long-running stream must not grow the table forever (~20 MB at most)
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: mixes code points well

NormalForm = Callable[[str], tuple[str, list[int]]]


class Features(Protocol):
    """What the table needs from the tokenizer that owns it."""

    lexicon: dict[str, float]
    char_offset: int
    char_range: tuple[int, int, int]  # (min n, max n, buckets); buckets 0 = no char n-grams

    def word_id(self, text: str) -> int: ...
    def token_flags(self, text: str) -> tuple[bool, bool, int]: ...


def char_gram_ids(words: list[str], first_n: int, last_n: int, buckets: int
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(word index, bucket) of every n-gram (n = first_n..last_n) of each "<word>", ordered by
    word, then n, then position; hashed for all words at once."""
    marked = [f"<{w}>" for w in words]
    lengths = np.fromiter(map(len, marked), dtype=np.int64, count=len(marked))
    codes = np.frombuffer("".join(marked).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    owner = np.repeat(np.arange(len(words)), lengths)
    owners, grams, order_n = [], [], []
    for n in range(first_n, last_n + 1):
        if len(codes) < n:
            continue
        h = np.full(len(codes) - n + 1, 0xCBF29CE484222325, dtype=np.uint64)
        for k in range(n):  # wrapping uint64 arithmetic: deterministic on every platform
            h = (h ^ codes[k : len(codes) - n + 1 + k]) * _MULTIPLIER
        valid = owner[: len(h)] == owner[n - 1 :]
        owners.append(owner[: len(h)][valid])
        grams.append((h[valid] % np.uint64(buckets)).astype(np.int64))
        order_n.append(np.full(int(valid.sum()), n))
    if not owners:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    who = np.concatenate(owners)
    order = np.lexsort((np.concatenate(order_n), who))  # stable within each (word, n)
    return who[order], np.concatenate(grams)[order]


class TokenTable(dict[str, int]):
    """Raw token -> row; ``flush()`` fills the rows of the tokens queued since the last flush."""

    def __init__(self, features: Features, normal_form: NormalForm, separator: str) -> None:
        super().__init__()
        self._features, self._normal_form, self._separator = features, normal_form, separator
        self._pending: list[str] = []
        self.word = np.zeros(4096, dtype=np.int64)
        self.negator = np.zeros(4096, dtype=bool)
        self.boundary = np.zeros(4096, dtype=bool)
        self.lexicon = np.zeros(4096, dtype=np.int64)  # valence bin + 1; 0 = not in the lexicon
        self.extras = np.zeros((4096, MAX_EXTRAS), dtype=np.int32)
        self.reset()

    def reset(self) -> None:
        self.clear()
        self._pending = []
        # Row -> raw token, and a count of resets: what lets a reader of the rows (the driver
        # terms, stream/drivers/terms.py) map rows to its own ids without a dict lookup.
        self.raws: list[str] = []
        self.generation = getattr(self, "generation", -1) + 1
        self[self._separator]  # row 0: the separator between posts
        self.flush()

    def __missing__(self, raw: str) -> int:
        row = len(self)
        self[raw] = row
        self._pending.append(raw)
        self.raws.append(raw)
        return row

    def flush(self) -> None:
        if not self._pending:
            return
        start, raws = len(self) - len(self._pending), self._pending
        self._pending = []
        while len(self) > len(self.word):
            self._grow()
        rows = slice(start, start + len(raws))
        forms = [self._normal_form(raw) for raw in raws]
        texts = [text for text, _ in forms]
        feats = self._features
        self.word[rows] = [feats.word_id(t) for t in texts]
        flags = [feats.token_flags(t) for t in texts]
        self.negator[rows] = [f[0] for f in flags]
        self.boundary[rows] = [f[1] for f in flags]
        self.lexicon[rows] = [f[2] for f in flags]
        extras = np.zeros((len(raws), MAX_EXTRAS), dtype=np.int32)
        used = np.zeros(len(raws), dtype=np.int64)
        for i, (_, markers) in enumerate(forms):
            if markers:
                extras[i, : len(markers)] = markers
                used[i] = len(markers)
        self._add_char_grams(texts, extras, used)
        self.extras[rows] = extras

    def _add_char_grams(self, texts: list[str], extras: npt.NDArray[np.int32],
                        used: npt.NDArray[np.int64]) -> None:
        first_n, last_n, buckets = self._features.char_range
        eligible = [i for i, t in enumerate(texts) if len(t) > 1 and t[0].isalpha()]
        if not buckets or not eligible:
            return
        who, grams = char_gram_ids([texts[i] for i in eligible], first_n, last_n, buckets)
        starts = np.searchsorted(who, np.arange(len(eligible)))
        index = np.asarray(eligible)[who]
        column = np.arange(len(who)) - starts[who] + used[index]
        keep = column < MAX_EXTRAS
        extras[index[keep], column[keep]] = grams[keep] + self._features.char_offset

    def _grow(self) -> None:
        self.word = np.concatenate([self.word, np.zeros_like(self.word)])
        self.negator = np.concatenate([self.negator, np.zeros_like(self.negator)])
        self.boundary = np.concatenate([self.boundary, np.zeros_like(self.boundary)])
        self.lexicon = np.concatenate([self.lexicon, np.zeros_like(self.lexicon)])
        self.extras = np.concatenate([self.extras, np.zeros_like(self.extras)])
