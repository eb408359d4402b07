"""Reposts: retweets ("RT @user: ...") and copies of a text already posted about the same brand.

A post is a repost when it is a retweet, or when its *fingerprint* was already seen for the
same brand in the same UTC hour of event time. The fingerprint is a stable 64-bit hash
(XXH3-64, seed 0; Python's ``hash()`` is salted per process) of the text after
normalisation: leading ``RT @user:`` prefixes, URLs (every share gets its own short link) and
case are dropped and whitespace runs become one space. So "RT @bob: Battery died AGAIN
https://t.co/x" and "battery  died again" are the same text. A text that is empty after
normalisation (only a link, say) has no fingerprint (0) and is never a copy by text.

Design of the worker integration (the write path is not changed yet; this is its plan):

* Key ``{<p>:b:<b>}:fp:<hour start>``, a Redis set of ``member(fingerprint)`` (16 hex
  characters). It carries the brand's hash tag, so the group script that writes the brand's
  buckets also ``SADD``s there, atomically with the aggregates.
* Per post of the group, in offset order, the script does what ``mark_reposts`` does here:
  ``repost = retweet or (fp ~= 0 and SADD(key, fp) == 0)``, adding only while
  ``SCARD(key) < MAX_FINGERPRINTS`` (past it a new text is not remembered: its later copies
  count as originals, so ``reposts`` stays a lower bound and never a double count), then
  ``HINCRBY reposts`` on every bucket (m, h, d) the post lands in.
* Exact under redelivery like the other fields: the script skips a group whose offsets are
  at or below the brand's stored offset *before* any ``SADD``, and a straddling group is resent
  without the records already applied, so every post meets the set once, in offset order.
* Bounds: at most ``MAX_FINGERPRINTS`` members per brand-hour (~70 bytes each in a Redis
  hashtable set, ~7 MB at the cap), with ``EXPIRE`` refreshed on each write to
  ``FINGERPRINT_TTL_S``: a copy arriving later than that (by arrival time) about an old hour
  counts as an original.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import xxhash

from stream.drivers.arrays import sorted_unique

MAX_FINGERPRINTS = 100_000
FINGERPRINT_TTL_S = 2 * 3600
NO_FINGERPRINT = 0

_RETWEET = re.compile(r"\s*RT\s+@\w+", re.IGNORECASE)
_RT_PREFIX = re.compile(r"^(?:\s*RT\s+@\w+\s*:?)+", re.IGNORECASE)
# Applied after casefold(), without IGNORECASE and one literal prefix each, so the regex engine
# jumps to the next "http"/"www." instead of trying every position (~10x faster on a batch).
_URLS = (re.compile(r"https?://[^\s\x00]+"), re.compile(r"www\.[^\s\x00]+"))
_SEP = "\x00"
# XXH3-64 rather than BLAKE2b (until 2026-12-03): 0.04 against 0.55 us a post on the worker's
# batches, the largest single step of the drivers' own cost (issue 15). A fingerprint only has
# to tell texts apart, not resist a forger: to make a post count as a copy of another, one has
# to know the other's text beforehand, and then posting that very text does the same. Changing
# the hash makes the stored sets of the current and previous hour miss once: a copy of a post
# from before the upgrade counts as an original (``reposts`` a lower bound, as at the cap).
_HASH_64 = xxhash.xxh3_64_intdigest

# Bytes of UTF-8 whitespace other than a single space, or lead bytes of multi-byte whitespace
# (str.split's whitespace: 09-0D, 1C-1F, 20, U+0085, U+00A0, U+1680, U+2000-200A, U+2028,
# U+2029, U+202F, U+205F, U+3000).
_OTHER_WHITESPACE = np.zeros(256, bool)
_OTHER_WHITESPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 0xC2, 0xE1, 0xE2, 0xE3]] = True
_SPACE_OR_NUL = np.zeros(256, bool)
_SPACE_OR_NUL[[0, 32]] = True

UInt64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


def is_retweet(texts: Sequence[str]) -> BoolArray:
    """Whether each text starts with ``RT @user`` (the old retweet convention)."""
    return np.fromiter((m is not None for m in map(_RETWEET.match, texts)), bool, len(texts))


def normalize(text: str) -> str:
    """The text two copies of one post share (see the module docstring)."""
    # The prefix first, then NUL: the order of ``fingerprints`` (which strips it before
    # joining the batch on NUL), so that a NUL before "RT @user" gives one fingerprint either way.
    text = _RT_PREFIX.sub("", text).replace(_SEP, " ").casefold()
    return " ".join(_strip_urls(text).split())


def _strip_urls(text: str) -> str:
    for url in _URLS:
        text = url.sub(" ", text)
    return text


def fingerprint(text: str) -> int:
    """The stable unsigned 64-bit fingerprint of a text; NO_FINGERPRINT when nothing is left."""
    return _hash(normalize(text))


def _hash(norm: str) -> int:
    if not norm:
        return NO_FINGERPRINT
    value = _HASH_64(norm.encode("utf-8", "surrogatepass"))
    return value or 1  # 0 means "no fingerprint"; a real text hashing to 0 (p = 2**-64) is 1


def fingerprints(texts: Sequence[str], retweet: BoolArray | None = None) -> UInt64Array:
    """``fingerprint`` of every text, normalised as one joined string: case and URLs in one C
    pass per batch, the ``RT @user:`` prefix only on the retweets (``is_retweet``; computed
    when not given), whitespace per post; then XXH3-64 per post through a C-level map (no
    Python frame per post)."""
    if not texts:
        return np.zeros(0, np.uint64)
    texts = list(texts)
    for i in np.flatnonzero(is_retweet(texts) if retweet is None else retweet).tolist():
        texts[i] = _RT_PREFIX.sub("", texts[i])
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:  # a text with NUL in it would shift the posts
        joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
    joined = _strip_urls(joined.casefold())
    # One UTF-8 encoding of the batch, split back into posts (NUL is only ever NUL); then
    # whitespace runs become one space, with str.split, in the posts that need it only.
    data = joined.encode("utf-8", "surrogatepass")
    parts = data.split(_SEP.encode())
    for i in _uneven_whitespace(data).tolist():
        text = parts[i].decode("utf-8", "surrogatepass")
        parts[i] = " ".join(text.split()).encode("utf-8", "surrogatepass")
    values = np.fromiter(map(_HASH_64, parts), np.uint64, len(parts))
    values[values == NO_FINGERPRINT] = 1  # as _hash: a real text hashing to 0 is 1
    values[np.fromiter(map(len, parts), np.int64, len(parts)) == 0] = NO_FINGERPRINT
    return values


def _uneven_whitespace(data: bytes) -> npt.NDArray[np.int64]:
    """The posts of a NUL-joined UTF-8 batch that ``" ".join(text.split())`` could change: a
    space next to a space, a NUL or an end, or any other whitespace byte; a lead byte of a
    multi-byte whitespace character (C2, E1, E2, E3: U+0085, U+00A0, U+1680, U+2000-U+3000)
    counts too, so some posts with other characters of those ranges go the slow way (still
    exact). One numpy pass over the batch's bytes: ``str.split`` per post was ~0.4 us per
    post of generated texts, which mostly need nothing."""
    b = np.frombuffer(data, np.uint8)
    edge = np.empty(len(b) + 2, bool)
    edge[0] = edge[-1] = True
    np.take(_SPACE_OR_NUL, b, out=edge[1:-1])
    uneven = _OTHER_WHITESPACE[b]
    uneven |= (b == 32) & (edge[:-2] | edge[2:])
    at = np.flatnonzero(uneven)
    if not len(at):
        return at
    return sorted_unique(np.searchsorted(np.flatnonzero(b == 0), at).astype(np.int64))


def member(value: int) -> str:
    """A fingerprint as a Redis set member: 16 hex characters (Lua numbers are doubles, and
    would round a 64-bit integer)."""
    return f"{value:016x}"


def mark_reposts(retweet: BoolArray, fps: UInt64Array, seen: set[int],
                 cap: int = MAX_FINGERPRINTS) -> BoolArray:
    """Which posts are reposts, given the fingerprints already ``seen`` (updated in place).

    The reference of what the worker's script will do per brand-hour, post by post in offset
    order; also the ground truth of the tests."""
    out = np.zeros(len(fps), bool)
    for i, (rt, fp) in enumerate(zip(retweet.tolist(), fps.tolist(), strict=True)):
        copy = False
        if fp != NO_FINGERPRINT:
            if fp in seen:
                copy = True
            elif len(seen) < cap:
                seen.add(fp)
        out[i] = rt or copy
    return out
