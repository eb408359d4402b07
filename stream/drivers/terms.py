"""Driver terms of a batch of posts: words, #hashtags and word bigrams, once per post.

The batch is split by the model's own tokenizer (``model.tokenizer.raw_tokens``: one regex pass
over the joined texts, with the same normalisation of case, elongation, @users, URLs and
numbers), so a term means what the model saw. Per-token work is done once per *distinct* raw
token and remembered across batches (like ``model.token_table``); per-post work is numpy:

* a word is kept unless it is a stopword (``stopwords.STOPWORDS``), shorter than 2 or longer
  than ``MAX_TERM_CHARS`` characters, a number, a URL or an @user; ``apple's`` counts as
  ``apple``;
* a hashtag is kept as ``#tag`` (stopwords do not apply to hashtags);
* a bigram is two kept plain words next to each other in the post ("battery life"; "the
  battery is dead" gives no bigram, since "the" and "is" are dropped);
* each term counts once per post, however often the post repeats it ("fail fail fail" is one
  post about "fail"), so a term's count is the number of posts that use it.

A brand's own names are left out of *that brand's* counts only ("apple" still explains a move
of google's sentiment): its name, aliases, hashtags, a multi-word alias as a bigram and joined
as a hashtag (``#applewatch``), and every bigram that contains one of its single words.
A brand the brands file does not define (named by a post's own ``brand`` field) loses its name
by the same rule (``own_names``), applied when counting: per group, with numpy over the pairs.

Bounds: the tables of distinct raw tokens, terms and bigrams start afresh when one passes
``MAX_TABLE`` entries (checked between batches; ~40 MB at most), and a term is at most
``MAX_TERM_CHARS`` characters, so a hostile post cannot grow memory or a Redis member.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from model.tokenizer import HASHTAG, SEP, normal_form, raw_tokens, tokenize
from stream.drivers.arrays import run_bounds, sorted_unique, unique_inverse
from stream.drivers.stopwords import STOPWORDS

MAX_TERM_CHARS = 40
MAX_TABLE = 200_000
_SEP_ID, _DROP_ID = -2, -1
_NO = -3  # no such term: equals no term id, and no half of a word's (-1, -1)
_WORD = re.compile(r"[^\W\d_][\w']*")  # starts with a letter: "4g" and "_x_" are not words
_BIGRAM_SHIFT = 32  # a bigram's key is (first id << 32) | second id

Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


class TokenRows(Protocol):
    """What ``extract_rows`` reads of the model's token table (``model.token_table``)."""

    @property
    def raws(self) -> list[str]: ...
    @property
    def generation(self) -> int: ...


class RowValues:
    """Values of each row of a model token table (``TokenRows``), computed once per row as the
    table grows (``compute`` of the new rows' raw tokens: one array per value, as many as
    ``empty`` has), and started afresh when the table resets (a new generation) or another
    table is read. What the drivers' readers of the scorer's token rows keep."""

    def __init__(self, compute: Callable[[Sequence[str]], tuple[npt.NDArray[Any], ...]],
                 empty: tuple[npt.NDArray[Any], ...]) -> None:
        self._compute, self._empty = compute, empty
        self._table: TokenRows | None = None
        self._generation = -1
        self._values = empty

    def of(self, table: TokenRows) -> tuple[npt.NDArray[Any], ...]:
        """Every row's values, up to the table's last row."""
        if table is not self._table or table.generation != self._generation:
            self._table, self._generation, self._values = table, table.generation, self._empty
        known = len(self._values[0])
        if len(table.raws) > known:
            fresh = self._compute(table.raws[known:])
            self._values = tuple(np.concatenate((old, new))
                                 for old, new in zip(self._values, fresh, strict=True))
        return self._values


@dataclass(frozen=True)
class BatchTerms:
    """The terms of each post of one batch, as (post, term id) pairs sorted by post (a post
    that repeats a term has its pair twice; counts take each post once).

    ``terms`` maps an id to its text, ``excluded`` a brand of the brands file to the ids of its
    own names, ``index`` a text to its id, ``first`` and ``second`` a bigram's id to its words'
    ids (-1 for a word); all are the extractor's tables: later batches only append to them, and
    a fresh start replaces them, so the ids of an old ``BatchTerms`` keep their meaning."""

    n_posts: int
    post: Int64Array
    term: Int64Array
    terms: Sequence[str]
    excluded: Mapping[str, Sequence[int]]
    index: Mapping[str, int] = field(default_factory=dict)
    first: Int32Array = field(default_factory=lambda: np.zeros(0, np.int32))
    second: Int32Array = field(default_factory=lambda: np.zeros(0, np.int32))
    owned: BoolArray = field(default_factory=lambda: np.zeros(0, bool))  # id -> in ``excluded``

    def of_post(self, i: int) -> list[str]:
        lo, hi = np.searchsorted(self.post, [i, i + 1]).tolist()
        return sorted({self.terms[t] for t in self.term[lo:hi].tolist()})

    def counts(self, posts: Sequence[int] | Int64Array, brand: str | None = None
               ) -> dict[str, int]:
        """Posts per term among ``posts`` (indices into the batch), without ``brand``'s names."""
        idx = np.asarray(posts, np.int64)
        return self.group_counts(idx, np.zeros(len(idx), np.int64), [brand])[0]

    def group_counts(self, pair_post: Int64Array, pair_group: Int64Array,
                     group_brand: Sequence[str | None]) -> list[dict[str, int]]:
        """Posts per term in each group, in one numpy pass over the whole batch.

        ``(pair_post[j], pair_group[j])`` says that post ``pair_post[j]`` belongs to group
        ``pair_group[j]`` (a post may be in several groups, e.g. one per brand it names);
        group ``g`` is about ``group_brand[g]``, whose own names are left out (None: none)."""
        found = self._count(pair_post, pair_group, group_brand)
        if found is None:
            return [{} for _ in range(len(group_brand))]
        uniq, count, width = found
        bounds = np.searchsorted(uniq // width, np.arange(len(group_brand) + 1)).tolist()
        names = list(map(self.terms.__getitem__, (uniq % width).tolist()))
        count_list = count.tolist()
        return [dict(zip(names[lo:hi], count_list[lo:hi], strict=True))
                for lo, hi in pairwise(bounds)]

    def group_ranked(self, pair_post: Int64Array, pair_group: Int64Array,
                     group_brand: Sequence[str | None]) -> list[list[str | int]]:
        """``group_counts`` as flat ``[term, count, ...]`` lists, the largest count first and
        ties by term (``merge_top_k``'s order, what the worker's Space-Saving op is sent): one
        numpy sort for the whole batch instead of two Python sorts and a dict per group."""
        found = self._count(pair_post, pair_group, group_brand)
        if found is None:
            return [[] for _ in range(len(group_brand))]
        uniq, count, width = found
        group, term = uniq // width, uniq % width
        distinct, term_of = unique_inverse(term)
        texts = list(map(self.terms.__getitem__, distinct.tolist()))
        rank = np.empty(len(texts), np.int64)  # a term's place in str order (code points)
        rank[sorted(range(len(texts)), key=texts.__getitem__)] = np.arange(len(texts))
        order = _rank_order(group, count, rank[term_of])
        flat: list[str | int] = [""] * (2 * len(order))
        flat[0::2] = map(texts.__getitem__, term_of[order].tolist())
        flat[1::2] = count[order].tolist()
        bounds = np.searchsorted(group, np.arange(len(group_brand) + 1)).tolist()
        return [flat[2 * lo:2 * hi] for lo, hi in pairwise(bounds)]

    def _count(self, pair_post: Int64Array, pair_group: Int64Array,
               group_brand: Sequence[str | None]
               ) -> tuple[Int64Array, Int64Array, int] | None:
        """(group * width + term, its posts, width), sorted; None when nothing is counted."""
        width = max(len(self.terms), 1)
        found = self._pairs_of_terms(pair_post, pair_group)
        if found is None:
            return None
        posts, key, term = found[0], found[1] * width + found[2], found[2]
        drop = [g * width + np.asarray(self.excluded[b], np.int64)
                for g, b in enumerate(group_brand) if b is not None and b in self.excluded]
        own = self._own_ids(group_brand)
        if own is not None:
            # A group's own word, its other names, and every bigram with the word in either
            # place: gathers and compares over the pairs (no list of each word's bigrams).
            group, term = found[1], found[2]
            word, other = own[0][group], own[1][group]
            mine = (term == word) | (term == other) | (term == own[2][group])
            mine |= (self.first[term] == word) | (self.second[term] == word)
            keep = ~mine
            key, posts, term = key[keep], posts[keep], term[keep]
            if not len(key):
                return None
        dropped = np.sort(np.concatenate(drop)) if drop else np.zeros(0, np.int64)
        if len(dropped):
            # A few dozen keys to drop among thousands: a binary search in them of the keys
            # whose term is some brand's own name (a gather of ``owned`` finds those), not of
            # every key (half of what ``np.isin``'s sort of both took on the worker's batches).
            maybe = (np.flatnonzero(self.owned[term]) if len(self.owned)
                     else np.arange(len(key)))
            at = np.searchsorted(dropped, key[maybe])
            at[at == len(dropped)] = 0
            hit = maybe[dropped[at] == key[maybe]]
            if len(hit):
                keep = np.ones(len(key), bool)
                keep[hit] = False
                key, posts = key[keep], posts[keep]
                if not len(key):
                    return None
        # One sort of (group, term, post) drops a post's repeats of a term and leaves the
        # (group, term) runs in order, so counting them needs no second sort.
        uniq = sorted_unique(key * self.n_posts + posts) // self.n_posts
        starts, ends = run_bounds(uniq)
        return uniq[starts], ends - starts, width

    def _own_ids(self, group_brand: Sequence[str | None]
                 ) -> tuple[Int64Array, Int64Array, Int64Array] | None:
        """Per group, the ids of its brand's word and two other names by ``own_names`` (``_NO``
        for none), for a brand outside the brands file; None when no group has any. Python
        once per distinct brand of the batch (a few dict lookups). A brand in ``excluded`` is
        the file's, whose names are all there already; one of the file's that is not has none
        of them in the tables yet."""
        code: dict[str | None, int] = {None: 0}
        own: list[tuple[int, ...]] = [(_NO, _NO, _NO)]  # per distinct brand
        index, excluded = self.index, self.excluded
        for b in group_brand:
            if b not in code:
                code[b] = len(own)
                if b in excluded:
                    own.append((_NO, _NO, _NO))
                    continue
                names, word = own_names(b)
                ids = [index.get(t, _NO) for t in names if t != word]
                own.append((index.get(word, _NO) if word is not None else _NO,
                            *ids, *[_NO] * (2 - len(ids))))
        distinct = np.asarray(own, np.int64)
        if not (distinct != _NO).any():  # the usual batch: every brand the file's
            return None
        table = distinct[np.fromiter(map(code.__getitem__, group_brand), np.int64,
                                     len(group_brand))]
        return table[:, 0], table[:, 1], table[:, 2]

    def _pairs_of_terms(self, pair_post: Int64Array, pair_group: Int64Array
                        ) -> tuple[Int64Array, Int64Array, Int64Array] | None:
        """(post, group, term) of every term of every (post, group) pair; None if none."""
        group_of = np.full(self.n_posts, -1, np.int64)
        group_of[pair_post] = pair_group
        if np.count_nonzero(group_of >= 0) == len(pair_post):
            # Each post in one group at most (posts naming one brand: the usual batch): a mask
            # of the batch's terms, instead of gathering each pair's run of them.
            group = group_of[self.post]
            sel = group >= 0
            if not sel.any():
                return None
            return self.post[sel], group[sel], self.term[sel]
        starts = np.searchsorted(self.post, np.arange(self.n_posts + 1))
        first = starts[pair_post]
        lengths = starts[pair_post + 1] - first
        total = int(lengths.sum())
        if total == 0:
            return None
        offsets = np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
        return (np.repeat(pair_post, lengths), np.repeat(pair_group.astype(np.int64), lengths),
                self.term[np.arange(total) + offsets])


@lru_cache(maxsize=4096)
def own_names(brand: str) -> tuple[tuple[str, ...], str | None]:
    """A brand's own terms by its name alone (``TermExtractor``'s rule for the brands file's
    names): the terms, and the plain word every bigram of which is its own too (None: none).
    "zorblax": zorblax, #zorblax and its bigrams; "quux labs": "quux labs", quuxlabs,
    #quuxlabs and quuxlabs' bigrams. Cached: the worker asks once per group of every batch."""
    words = [w for w in tokenize(brand) if w != SEP]
    if not words:
        return (), None
    if len(words) == 1:
        return (words[0], "#" + words[0]), words[0]
    joined = "".join(words)
    return (" ".join(words[:2]), joined, "#" + joined), joined


def _rank_order(group: Int64Array, count: Int64Array, rank: Int64Array) -> Int64Array:
    """The order by group, then count descending, then rank: one argsort of a packed int64
    key when the three fit in 62 bits (always, in practice: ~3x faster than ``lexsort``);
    the (group, rank) pairs are distinct, so any sort of the key gives the same order."""
    if not len(group):
        return np.zeros(0, np.int64)
    top = int(count.max())
    rank_bits, count_bits = int(rank.max()).bit_length(), top.bit_length()
    if int(group.max()).bit_length() + count_bits + rank_bits > 62:
        return np.lexsort((rank, -count, group))
    key = (group << (count_bits + rank_bits)) | ((top - count) << rank_bits) | rank
    return np.argsort(key)


class Brand(Protocol):
    """What term extraction needs of a brand (``stream.worker.brands.Brand`` has it): the names
    whose words are left out of that brand's own terms."""

    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def hashtags(self) -> tuple[str, ...]: ...


class TermExtractor:
    """Turns batches of texts into ``BatchTerms``; built once per brands file."""

    def __init__(self, brands: Sequence[Brand] = (),
                 stopwords: frozenset[str] = STOPWORDS) -> None:
        self._stopwords = stopwords
        self._alias_words: dict[str, set[str]] = {}  # a brand's single word -> its brands
        self._alias_bigrams: dict[str, set[str]] = {}  # "apple watch" -> {"apple"}
        for brand in brands:
            for name in (brand.name, *brand.aliases, *brand.hashtags):
                words = [w for w in tokenize(name) if w != SEP]
                if len(words) == 1:
                    self._alias_words.setdefault(words[0], set()).add(brand.name)
                elif words:
                    self._alias_bigrams.setdefault(" ".join(words[:2]), set()).add(brand.name)
                    self._alias_words.setdefault("".join(words), set()).add(brand.name)
        self._reset()

    def _reset(self) -> None:
        self._raw: dict[str, int] = {SEP: _SEP_ID}  # raw token -> term id, _DROP_ID or _SEP_ID
        self._index: dict[str, int] = {}  # term -> id
        self._terms: list[str] = []
        self._plain = np.zeros(4096, bool)  # id -> a plain word (may start a bigram)
        self._owned = np.zeros(4096, bool)  # id -> some brand's own name (in _excluded)
        self._first = np.full(4096, -1, np.int32)  # id -> a bigram's first word's id
        self._second = np.full(4096, -1, np.int32)  # ... its second's
        self._bigrams: dict[int, int] = {}  # bigram key -> term id
        self._excluded: dict[str, list[int]] = {}
        # The model table's row -> our term id (or _DROP_ID, _SEP_ID).
        self._row_ids = RowValues(self._ids_of_raws, (np.zeros(0, np.int64),))

    def extract(self, texts: Sequence[str], only: BoolArray | None = None) -> BatchTerms:
        """The terms of each text (one regex pass over the batch); with ``only``, of the texts
        it marks (the others have none, and are not split at all)."""
        if only is None:
            return self.extract_tokens(raw_tokens(texts) if texts else [], len(texts))
        chosen = np.flatnonzero(only)
        picked = [texts[i] for i in chosen.tolist()]
        sub = self.extract_tokens(raw_tokens(picked) if picked else [], len(picked))
        return BatchTerms(len(texts), chosen[sub.post], sub.term, sub.terms, sub.excluded,
                          sub.index, sub.first, sub.second, sub.owned)

    def extract_tokens(self, tokens: Sequence[str], n_posts: int) -> BatchTerms:
        """The terms of a batch already split by ``model.tokenizer.raw_tokens``."""
        self._check_bounds()
        raw = self._raw
        for token in set(tokens).difference(raw):
            raw[token] = self._token_id(token)
        ids = np.fromiter(map(raw.__getitem__, tokens), np.int64, len(tokens))
        return self._terms_of(ids, n_posts)

    def extract_rows(self, rows: Int64Array, table: TokenRows, n_posts: int,
                     only: BoolArray | None = None) -> BatchTerms:
        """The terms of a batch the model's tokenizer just encoded (``Tokenizer.encode_rows``):
        its rows map to terms with numpy, so the worker splits and looks up its texts once.
        With ``only``, the terms of the posts it marks (the worker's negative and positive
        posts: neutral ones are never counted, and are ~half a batch, whose bigrams and sorts
        were computed for nothing); the others have none."""
        self._check_bounds()
        (ids,) = self._row_ids.of(table)
        return self._terms_of(ids[rows], n_posts, only)

    def _ids_of_raws(self, raws: Sequence[str]) -> tuple[Int64Array]:
        raw = self._raw
        return (np.asarray([raw[t] if t in raw else raw.setdefault(t, self._token_id(t))
                            for t in raws], np.int64),)

    def _check_bounds(self) -> None:
        if max(len(self._raw), len(self._index), len(self._bigrams)) > MAX_TABLE:
            self._reset()  # between batches, so the ids of one batch stay consistent

    def _terms_of(self, ids: Int64Array, n_posts: int,
                  only: BoolArray | None = None) -> BatchTerms:
        if not n_posts:
            empty = np.zeros(0, np.int64)
            return BatchTerms(0, empty, empty, self._terms, self._excluded, self._index,
                              self._first, self._second, self._owned)
        is_sep = ids == _SEP_ID
        post = np.cumsum(is_sep) - is_sep
        kept = ids >= 0
        if only is not None:  # a separator's post is the one it ends: never out of range
            kept &= only[post]
        plain = np.zeros(len(ids), bool)
        plain[kept] = self._plain[ids[kept]]
        pair = plain[:-1] & plain[1:]  # a separator is never plain: no bigram spans two posts
        bigram_ids = self._bigram_ids((ids[:-1][pair] << _BIGRAM_SHIFT) | ids[1:][pair])
        posts = np.concatenate((post[kept], post[:-1][pair]))
        # Two runs sorted by post: a stable sort merges them in linear time.
        order = np.argsort(posts, kind="stable")
        terms = np.concatenate((ids[kept], bigram_ids))[order]
        return BatchTerms(n_posts, posts[order], terms, self._terms, self._excluded,
                          self._index, self._first, self._second, self._owned)

    def _bigram_ids(self, keys: Int64Array) -> Int64Array:
        uniq, inverse = unique_inverse(keys)
        table = self._bigrams
        keys_list = uniq.tolist()
        known = list(map(table.get, keys_list))
        if None not in known:  # every bigram seen before (no set of the batch's keys)
            return np.asarray(known, np.int64)[inverse]
        for k in set(keys_list).difference(table):
            first, second = self._terms[k >> _BIGRAM_SHIFT], self._terms[k & 0xFFFFFFFF]
            text = f"{first} {second}"
            owners = (self._alias_words.get(first, set()) | self._alias_words.get(second, set())
                      | self._alias_bigrams.get(text, set()))
            table[k] = self._add_term(text, False, owners)
            self._first[table[k]], self._second[table[k]] = k >> _BIGRAM_SHIFT, k & 0xFFFFFFFF
        found = np.fromiter(map(table.__getitem__, keys_list), np.int64, len(uniq))
        return found[inverse]

    def _token_id(self, token: str) -> int:
        """The term id of a raw token, or _DROP_ID (once per distinct raw token)."""
        text, markers = normal_form(token)
        hashtag = HASHTAG in markers and token[0] == "#"
        if not _WORD.fullmatch(text):
            return _DROP_ID
        if text.endswith("'s"):
            text = text[:-2]
        if not 2 <= len(text) <= MAX_TERM_CHARS or (not hashtag and text in self._stopwords):
            return _DROP_ID
        owners = self._alias_words.get(text, set())
        return self._add_term("#" + text if hashtag else text, not hashtag, owners)

    def _add_term(self, text: str, plain: bool, owners: set[str]) -> int:
        found = self._index.get(text)
        if found is not None:
            return found
        term_id = self._index[text] = len(self._terms)
        self._terms.append(text)
        if term_id >= len(self._plain):
            self._plain = np.concatenate((self._plain, np.zeros(len(self._plain), bool)))
            self._owned = np.concatenate((self._owned, np.zeros(len(self._owned), bool)))
            self._first = np.concatenate((self._first, np.full_like(self._first, -1)))
            self._second = np.concatenate((self._second, np.full_like(self._second, -1)))
        self._plain[term_id] = plain
        for brand in owners:
            self._excluded.setdefault(brand, []).append(term_id)
        self._owned[term_id] = bool(owners)
        return term_id
