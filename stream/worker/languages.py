"""Each post's language in the worker: scores routed by language, per-language bucket counts.

The model decides each post's language (``model.languages``: the post's own ``lang`` field wins,
else detection) and scores only the languages it supports (SENTISTREAM_LANGUAGES). This module
is what the stream does with that:

* a post in an unsupported language keeps label ``UNSUPPORTED`` (3) and NaN intensity: it counts
  in a bucket's ``n`` (volume) but in none of ``neg``/``neu``/``pos`` nor in ``isum_e6``, so NSS
  and mean intensity (divided by ``neg + neu + pos``, see ``stream.readers.query.stats``) ignore it;
* every bucket hash also holds, per language ``xx``, the fields of ``language_fields("xx")``
  (the non-zero ones):
  ``lang:xx`` (posts), ``lang:xx:neg|neu|pos`` and ``lang:xx:isum_e6`` (scored ones only),
  written by the same atomic script call as the rest, so they are exact under redelivery.

Bounded: a code is 2-3 lower-case ASCII letters (``safe_code``), and the router only returns
codes of its detectors' finite sets (~210) or ``und``; a hostile ``lang`` field that names no
known language is ignored and the text detected instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from stream.drivers.arrays import string_codes
from stream.schema.keys import language_fields  # the key scheme names the fields
from stream.worker.posts import Posts

UNSUPPORTED = 3  # label of a post the model does not score (model.scorer.PostScores)
RECORD_LABELS: tuple[str, ...] = ("negative", "neutral", "positive", "unsupported_language")
UNDETERMINED = "und"
_CODE = re.compile(r"[a-z]{2,3}")


def safe_code(code: str) -> str:
    """``code`` when it is 2-3 lower-case ASCII letters, else "und": safe in a hash field."""
    return code if _CODE.fullmatch(code) else UNDETERMINED


class ScoresLike(Protocol):
    @property
    def labels(self) -> npt.NDArray[np.int64]: ...
    @property
    def probs(self) -> npt.NDArray[np.float32]: ...
    @property
    def intensity(self) -> npt.NDArray[np.float32]: ...


class PostScoresLike(ScoresLike, Protocol):
    @property
    def languages(self) -> list[str]: ...


class RoutingScorer(Protocol):
    """What the worker needs of ``model.scorer.SentimentScorer``."""

    @property
    def version(self) -> str: ...
    def score(self, texts: list[str]) -> ScoresLike: ...
    def score_posts(self, texts: Sequence[str],
                    langs: Sequence[str | None] | None = None) -> PostScoresLike: ...


@dataclass(frozen=True)
class Routed:
    """A batch's scores, row i for post i; unsupported posts: label 3, NaN probs/intensity."""

    languages: list[str]
    labels: npt.NDArray[np.int64]
    probs: npt.NDArray[np.float32]
    intensity: npt.NDArray[np.float32]


def score_routed(scorer: RoutingScorer, texts: Sequence[str],
                 langs: Sequence[str | None]) -> Routed:
    """Score a batch through the scorer's language routing; ``langs[i]``: the post's ``lang``
    field (None when absent). Codes that are not safe field names become "und"."""
    s = scorer.score_posts(texts, langs)
    unique = set(s.languages)
    languages = s.languages
    if any(safe_code(c) != c for c in unique):  # never on the router's own codes
        languages = [safe_code(c) for c in languages]
    return Routed(languages, np.asarray(s.labels, np.int64), np.asarray(s.probs, np.float32),
                  np.asarray(s.intensity, np.float32))


def route_posts(scorer: RoutingScorer, posts: Posts, language_id: bool = True) -> Routed:
    """``score_routed`` on a batch of posts (their ``lang`` fields), setting
    ``posts.languages``: the one way the worker and the offline truths score. Without
    ``language_id`` (SENTISTREAM_LANGUAGE_ID=off) every post is scored by the main model and
    no language is recorded."""
    if not language_id:
        s = scorer.score(posts.texts)
        posts.languages = []
        return Routed([], np.asarray(s.labels, np.int64), np.asarray(s.probs, np.float32),
                      np.asarray(s.intensity, np.float32))
    routed = score_routed(scorer, posts.texts, [doc.get("lang") for doc in posts.docs])
    posts.languages = routed.languages
    return routed


def language_index(languages: Sequence[str]) -> tuple[list[str], npt.NDArray[np.int64]]:
    """A batch's distinct language codes, sorted, and each post's index among them: once per
    batch for every resolution's ``bucket_language_fields`` (``string_codes``, not numpy's sort
    of a string array: ~0.2 us a post less over the three resolutions)."""
    return string_codes(languages)


def bucket_language_fields(languages: tuple[list[str], npt.NDArray[np.int64]],
                           pair_post: npt.NDArray[np.int64],
                           bucket_of_pair: npt.NDArray[np.int64], labels: npt.NDArray[np.int64],
                           ie6: npt.NDArray[np.int64], buckets: int
                           ) -> list[list[str]]:
    """Per bucket (``bucket_of_pair``: 0..buckets-1 per (post, brand) pair), the language
    fields to add, flat as the script takes them (name, value, name, value...): posts per
    language and, for scored posts, their classes and intensity sum; zero counts left out.
    ``languages``: the batch's ``language_index``. Vectorized: one bincount per field over
    (bucket, language) pairs, then the non-zero cells of the (bucket, language, field) table
    named and formatted in numpy, not per field."""
    codes, lang_of_post = languages
    lang = lang_of_post[pair_post]
    key = bucket_of_pair * len(codes) + lang
    size = buckets * len(codes)
    isum = np.rint(np.bincount(key, weights=ie6.astype(np.float64), minlength=size)
                   ).astype(np.int64)
    table = np.stack([np.bincount(key, minlength=size),
                      *(np.bincount(key[labels == k], minlength=size) for k in range(3)),
                      isum], axis=1).reshape(buckets, -1)  # row: bucket; columns: code x field
    bucket, column = np.nonzero(table)  # row-major: each bucket's cells are contiguous
    names = np.asarray([name for c in codes for name in language_fields(c)], dtype=object)
    flat = np.empty(2 * len(column), dtype=object)
    flat[0::2] = names[column]
    flat[1::2] = table[bucket, column].astype(str).astype(object)
    ends = 2 * np.searchsorted(bucket, np.arange(1, buckets + 1))
    pairs = flat.tolist()
    return [pairs[start:end] for start, end in zip([0, *ends[:-1].tolist()], ends.tolist(),
                                                   strict=True)]
