"""The social-media tokenizer shared by training and serving, so there is no train/serve skew.

Speed comes from doing per-post work per batch and per-token work once per distinct token:
  1. the batch is joined into one string and split into raw tokens by ONE compiled ``findall``;
  2. each distinct raw token is normalised once (case, elongation, numbers, @user, #tag, URL) and
     remembered as a row of small numpy tables (word id, flags, extra feature ids);
  3. negation scope, word bigrams and the padded output are computed with numpy over the batch.

Feature ids (row numbers of the model's embedding table):
    0                       padding
    1 .. 7                  markers: <caps> <elong> <hashtag> (and spare rows)
    8 .. 19                 lexicon valence bin of a word or emoji (lexicon.py), plain or negated
    24 .. 24+V-1            words of the vocabulary (fitted on the training data)
    then W buckets          out-of-vocabulary words, hashed
    then N buckets          words in the scope of a negation ("not good" != "good"), hashed
    then B buckets          word bigrams, hashed from the two word ids
    then C buckets          character n-grams of each word (fastText style), hashed
"""

from __future__ import annotations

import bisect
import html
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.errors import ModelFileError
from model.lexicon import sentiment_lexicon
from model.token_table import MAX_ROWS, TokenTable

TOKENIZER_FILE = "tokenizer.json"
SEP = "\n"  # posts are joined with it; it is also the sentinel token between posts
CAPS, ELONG, HASHTAG = 1, 2, 3
LEXICON_BASE = 8  # 8..13: lexicon valence bins; 14..19: the same bins under negation
LEXICON_EDGES = (-2.5, -1.5, 0.0, 1.5, 2.5)  # VADER valences run from -4 to +4
FIRST_WORD_ID = 24

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_EMOTICON = (
    r"[<>]?[:;=8][\-o\*'^]?[\)\]\(\[dDpP/\\\}\{@\|3]+"
    r"|[\)\]\(\[\}\{][\-o\*'^]?[:;=8]|</?3+|\^[_\-.]?\^"
)
_EMOJI = r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2190-\u21FF]"
# A word character: \w plus the combining marks that \w leaves out, so that Devanagari vowel
# signs (matras, viramas) and Arabic harakat stay inside their word instead of splitting it
# ("हिन्दी" was 3 tokens). Devanagari dandas (U+0964-5) stay out: they end a sentence.
_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff"
_W = rf"[\w{_MARKS}]"
_TOKEN = re.compile(
    rf"(?:https?://|www\.)\S+|\d+(?:[.,:/]\d+)*{_W}*|[@#]?{_W}+(?:'{_W}+)*|"
    + _EMOTICON + r"|[!?.,;:\u0964\u0965\u060c\u061b\u061f]+|" + _EMOJI + "|" + SEP
)
# Arabic spelling variants that carry no sentiment: optional vowel marks and tatweel go,
# hamza-carrying alefs become a bare alef, alef maqsura a ya ("مُمْتَاز" = "ممتاز").
_ARABIC = str.maketrans({**{chr(c): None for c in (*range(0x0610, 0x061B),
                                                   *range(0x064B, 0x0660), 0x0670, 0x0640)},
                         "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627",
                         "\u0649": "\u064a"})
_ARABIC_LETTER = re.compile("[\u0600-\u06ff]")
_REPEAT = re.compile(r"(\w)\1{2,}")
_PUNCT_REPEAT = re.compile(r"([!?.,;:])\1{2,}")
NEGATORS = frozenset((
    "not", "no", "never", "cannot", "nothing", "nobody", "none", "nor", "neither", "without",
    "dont", "cant", "wont", "isnt", "didnt", "doesnt", "aint", "wasnt",
    # the other languages of the multilingual model (UMSAB): de, fr, es/pt/it, ar, romanized hi
    "nicht", "kein", "keine", "keinen", "nie", "niemals", "nichts", "ohne",
    "pas", "jamais", "rien", "sans", "ni", "nunca", "nada", "nadie", "sin", "não", "nao",
    "nem", "sem", "non", "mai", "niente", "senza", "لا", "ليس", "لم", "لن", "مش", "ما",
    "nahi", "nahin", "nai", "mat",
))
BOUNDARIES = frozenset("!?.,;:\u0964\u0965\u060c\u061b\u061f") | {SEP}
NEGATION_SCOPE = 3  # words after a negator that it flips

IntArray = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TokenizerConfig:
    """Sizes of the hashed feature spaces; saved beside the model."""

    max_vocab: int = 30000
    min_count: int = 2
    word_buckets: int = 8192
    negated_buckets: int = 16384
    bigram_buckets: int = 40000
    char_buckets: int = 24000
    char_min: int = 3
    char_max: int = 4
    max_features: int = 160
    # "bag": the hashed feature bag above; "words": the sequence of word ids only (1 = unknown),
    # for sequence models such as the SimpleRNN baseline, with ids below max_vocab + 2.
    mode: str = "bag"
    lexicon: bool = True  # add lexicon valence bins (model/lexicon.py; saved in tokenizer.json)
    # Emoji valences from the Emoji Sentiment Ranking instead of VADER's (model/lexicon.py).
    emoji_ranking: bool = False


def prepare(texts: Sequence[str]) -> str:
    """One string for the batch, posts separated by ``SEP``, escapes and entities decoded.

    Escapes and entities are decoded post by post, before the join: a decoded newline
    (``\\u000a``, ``&#10;``) then becomes a space inside its own post and can never add or
    merge a post boundary (decoding the joined string did, and shifted a batch's features).
    """
    s = SEP.join([_decode(t) if ("\\u" in t or "&" in t) else t.replace(SEP, " ")
                  for t in texts])
    return s.replace("\u2019", "'").replace("\u2018", "'").replace("\r", " ")


def _decode(text: str) -> str:
    t = text.replace("\u2019", "'").replace("\u2018", "'").replace("\r", " ")
    if "\\u" in t:  # TweetEval keeps literal \u2019 escapes from the 2013 files
        t = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), t).replace("\u2019", "'")
    if "&" in t:
        t = html.unescape(t)
    return t.replace(SEP, " ")


def normal_form(raw: str) -> tuple[str, list[int]]:
    """A raw token's normalised text and its marker features (caps, elongation, hashtag)."""
    markers = []
    if raw[0] == "#" and len(raw) > 1:
        markers.append(HASHTAG)
        raw = raw[1:]
    if raw[0] == "@" and len(raw) > 1:
        return "<user>", markers
    if raw.startswith(("http", "www.")):
        return "<url>", markers
    if len(raw) > 1 and raw.isupper():
        markers.append(CAPS)
    text = raw.lower()
    if _ARABIC_LETTER.search(text):
        text = text.translate(_ARABIC) or text
    if text[0].isdigit():
        return "<num>", markers
    squeezed = _REPEAT.sub(r"\1\1", text)
    if squeezed != text:
        markers.append(ELONG)
    return _PUNCT_REPEAT.sub(r"\1\1\1", squeezed), markers


def raw_tokens(texts: Sequence[str]) -> list[str]:
    """The raw tokens of a whole batch from one regex pass; a ``SEP`` token ends every post."""
    return _TOKEN.findall(prepare(texts) + SEP)


def tokenize(text: str) -> list[str]:
    """The normalised tokens of one post (for inspection, tests and vocabulary fitting)."""
    return [normal_form(raw)[0] for raw in _TOKEN.findall(prepare([text]))]


def _hash(text: str) -> int:
    # crc32 is stable across processes (Python's hash() is salted) and runs in C.
    return zlib.crc32(text.encode("utf-8"))


class Tokenizer:
    """Turns a batch of posts into a padded int32 matrix of feature ids, shape (n, max_features)."""

    def __init__(self, vocab: dict[str, int], config: TokenizerConfig,
                 lexicon: dict[str, float] | None = None) -> None:
        self.config, self.vocab, self.lexicon = config, vocab, lexicon or {}
        self.first_word_id = min(vocab.values(), default=FIRST_WORD_ID)
        self.oov_offset = self.first_word_id + len(vocab)
        self.negated_offset = self.oov_offset + config.word_buckets
        self.bigram_offset = self.negated_offset + config.negated_buckets
        self.char_offset = self.bigram_offset + config.bigram_buckets
        self.num_features = self.char_offset + config.char_buckets
        self.char_range = (config.char_min, config.char_max, config.char_buckets)
        self._table = TokenTable(self, normal_form, SEP)

    def word_id(self, text: str) -> int:
        found = self.vocab.get(text)
        if found is not None:
            return found
        return self.oov_offset + _hash(text) % self.config.word_buckets

    def token_flags(self, text: str) -> tuple[bool, bool, int]:
        """(negator, boundary, lexicon valence bin + 1 or 0) of a normalised token."""
        valence = self.lexicon.get(text)
        lexicon_bin = 0 if valence is None else 1 + bisect.bisect_left(LEXICON_EDGES, valence)
        return text in NEGATORS or text.endswith("n't"), text[0] in BOUNDARIES, lexicon_bin

    @classmethod
    def fit(cls, texts: Iterable[str], config: TokenizerConfig | None = None) -> Tokenizer:
        """The vocabulary of training texts: the most frequent tokens seen min_count times."""
        config = config or TokenizerConfig()
        raw_counts: Counter[str] = Counter()
        for text in texts:
            raw_counts.update(_TOKEN.findall(prepare([text])))
        counts: Counter[str] = Counter()
        for raw, count in raw_counts.items():
            counts[normal_form(raw)[0]] += count
        counts.pop(SEP, None)
        common = [t for t, c in counts.most_common(config.max_vocab) if c >= config.min_count]
        vocab = {token: FIRST_WORD_ID + i for i, token in enumerate(common)}
        lexicon = sentiment_lexicon(config.emoji_ranking) if config.lexicon else None
        return cls(vocab, config, lexicon)

    @property
    def table(self) -> TokenTable:
        """Raw token -> row; ``table.raws`` maps a row back (see ``encode_rows``)."""
        return self._table

    def encode(self, texts: Sequence[str]) -> IntArray:
        """Feature ids of each post, padded with 0 to ``max_features`` (extra features dropped)."""
        return self.encode_rows(texts)[0]

    def encode_rows(self, texts: Sequence[str]) -> tuple[IntArray, Int64Array]:
        """``encode``, and the table row of every raw token of the batch (row 0 ends a post),
        valid while ``table.generation`` is unchanged: for readers of the same tokens."""
        table = self._table
        tokens = raw_tokens(texts)
        if len(table) > MAX_ROWS:
            table.reset()
        rows = np.fromiter(map(table.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        return self._features(texts, rows), rows

    def table_rows(self, texts: Sequence[str]) -> Int64Array:
        """The table rows of ``encode_rows`` without the features (for a reader of the tokens
        of posts this tokenizer does not score); never resets the table (``encode_rows`` does,
        so the rows handed out with a batch's scores stay valid)."""
        return self.rows_of(raw_tokens(texts))

    def rows_of(self, tokens: Sequence[str]) -> Int64Array:
        """The table row of each raw token (``raw_tokens``), interning the new ones."""
        return np.fromiter(map(self._table.__getitem__, tokens), dtype=np.int64,
                           count=len(tokens))

    def _features(self, texts: Sequence[str], rows: Int64Array) -> IntArray:
        table, cfg = self._table, self.config
        table.flush()  # fills the rows of tokens seen for the first time, all at once
        is_sep = rows == 0
        post = np.cumsum(is_sep) - is_sep  # post of every token (a separator ends its post)
        words = table.word[rows]
        if cfg.mode == "words":
            real = ~is_sep
            seq = np.where(words[real] < self.oov_offset, words[real] - self.first_word_id + 2, 1)
            return _pack([(seq, post[real])], len(texts), cfg.max_features)
        negated = self._negated(table.negator[rows], table.boundary[rows])
        words = np.where(negated, self.negated_offset + (words * 40503) % cfg.negated_buckets,
                         words)
        real = ~is_sep
        pair = real[:-1] & real[1:]
        bigrams = (words[:-1][pair] * 2654435761 + words[1:][pair]) % cfg.bigram_buckets
        extras = table.extras[rows[real]]
        has = extras > 0
        lex = table.lexicon[rows]
        in_lex = lex > 0
        lex_ids = LEXICON_BASE - 1 + lex[in_lex] + 6 * negated[in_lex]
        parts = [(words[real], post[real]), (lex_ids, post[in_lex]),
                 (bigrams + self.bigram_offset, post[:-1][pair]),
                 (extras[has], np.repeat(post[real], has.sum(axis=1)))]
        return _pack(parts, len(texts), cfg.max_features)

    @staticmethod
    def _negated(negator: npt.NDArray[np.bool_], boundary: npt.NDArray[np.bool_]
                 ) -> npt.NDArray[np.bool_]:
        """Tokens within NEGATION_SCOPE tokens after a negator, with no punctuation between."""
        walls = np.cumsum(boundary)
        out = np.zeros(len(negator), dtype=bool)
        for k in range(1, NEGATION_SCOPE + 1):
            out[k:] |= negator[:-k] & (walls[k:] == walls[:-k]) & ~negator[k:]
        return out & ~boundary

    def save(self, directory: Path) -> Path:
        path = directory / TOKENIZER_FILE
        words = sorted(self.vocab, key=self.vocab.__getitem__)
        payload = {"format": 1, "config": asdict(self.config), "vocab": words,
                   "first_word_id": self.first_word_id,
                   "lexicon": self.lexicon}
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        """Load ``tokenizer.json`` (or the one inside a directory); errors name the file."""
        if path.is_dir():
            path = path / TOKENIZER_FILE
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != 1:
                raise ValueError(f"format {payload.get('format')!r}, expected 1")
            config = TokenizerConfig(**payload["config"])
            # Files written before the lexicon rows existed numbered words from 8.
            first = int(payload.get("first_word_id", 8))
            vocab = {word: first + i for i, word in enumerate(payload["vocab"])}
            lexicon = {str(k): float(v) for k, v in payload.get("lexicon", {}).items()}
        except FileNotFoundError as exc:
            raise ModelFileError(f"tokenizer file {path} does not exist; it must sit beside the "
                                 "model (retrain, or reinstall the package)") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"tokenizer file {path} is corrupt or of another version "
                                 f"({exc}); retrain, or reinstall the package") from exc
        return cls(vocab, config, lexicon)


def _pack(parts: list[tuple[Int64Array, Int64Array]], n: int, width: int) -> IntArray:
    """Scatter (features, posts) parts into an (n, width) matrix, padding with 0.

    Within each part the post indices are already sorted, so a post's features land part by
    part, in order, without sorting; features beyond ``width`` are dropped (the last parts
    first)."""
    out = np.zeros((n, width), dtype=np.int32)
    filled = np.zeros(n, dtype=np.int64)
    for features, posts in parts:
        counts = np.bincount(posts, minlength=n)
        starts = np.cumsum(counts) - counts
        column = np.arange(len(posts)) - starts[posts] + filled[posts]
        keep = column < width
        out[posts[keep], column[keep]] = features[keep]
        filled += counts
    return out
