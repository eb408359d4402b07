"""Reposts: retweets ("RT @user: ...") and copies of a text already posted about the same brand.

Both are read from the model tokenizer's tokens (``model.tokenizer.raw_tokens``), the ones the
scorer just made (``RowFingerprints``: numpy over the batch's table rows, no second pass over
the texts), or from the texts themselves (``retweets_and_fingerprints``: the same values):

* a post is a **retweet** when its first two tokens are ``RT`` (any case) and an ``@user``;
* its **fingerprint** is a stable 64-bit hash of its tokens in order, case aside (casefolded),
  with links and the retweet prefix (``RT @user`` and an optional ``:``, repeated) left out.
  So "RT @bob: Battery died AGAIN https://t.co/x" and "battery  died again" are the same
  text, and so are two texts that differ only in characters the tokenizer drops (``-``, ``$``,
  quotes, brackets: what the model does not see either). A post with no token left (only a
  link) has no fingerprint (0) and is never a copy by text.

A post is a repost when it is a retweet, or when its fingerprint was already seen for the same
brand in the same UTC hour of event time (or the hour before). Until 2026-12-03 the fingerprint
was BLAKE2b of the normalised text, ~1.05 us a post of the worker's ~5 us of driver work, and
the retweet test a regex per post (0.16): these are ~0.2 together (issue 15).

The hash: each distinct token's XXH3-64 (seed 0) of its casefolded UTF-8, computed once per
row of the tokenizer's table; a post's is ``mix(sum_j token_j * P**j + n * G)`` modulo 2**64,
over its kept tokens (P, G odd constants; ``mix`` the SplitMix64 finaliser), so numpy does the
whole batch at once. It only has to tell texts apart: it is not made to resist a forger, who
would need the other post's text beforehand, and could then simply post it.

The worker's script (``stream/worker/sink.py``, op ``r``) keeps per brand-hour the Redis set
``{<p>:b:<b>}:fp:h:<hour>`` of ``member(fingerprint)`` (16 hex characters) and decides, post by
post in offset order, what ``mark_reposts`` does here: ``repost = retweet or (fp ~= 0 and fp is
in the hour's set or the previous hour's)``, adding new fingerprints while the set holds fewer
than ``MAX_FINGERPRINTS`` (past it a new text is not remembered: its later copies count as
originals, so ``reposts`` stays a lower bound and never a double count). Exact under
redelivery like the other fields; the sets expire ``FINGERPRINT_TTL_S`` after their last write.
Changing the hash (an upgrade from a version before 2026-12-03) makes the live sets miss once:
for up to 2 h a copy of an older post counts as an original.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import xxhash

from model.tokenizer import SEP, raw_tokens
from stream.drivers.terms import RowValues, TokenRows

MAX_FINGERPRINTS = 100_000
FINGERPRINT_TTL_S = 2 * 3600
NO_FINGERPRINT = 0

# What a token is to the fingerprint (its "kind"): a plain token is hashed; the three prefix
# kinds are hashed too when they are not in the prefix; a link and the end of a post are not.
PLAIN, RT, USER, COLON, LINK, END = range(6)
_LINK = re.compile(r"(?:https?://|www\.)\S+")  # the tokenizer's link token (model/tokenizer.py)
_POWER = np.uint64(0x9E3779B97F4A7C15)  # odd: every power is odd, and none is 0
_LENGTH = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_HASH_64 = xxhash.xxh3_64_intdigest

UInt64Array = npt.NDArray[np.uint64]
UInt8Array = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]


def token_value(raw: str) -> tuple[int, int]:
    """(hash, kind) of one raw token: the hash is 0 for a link and for the end of a post."""
    if raw == SEP:
        return 0, END
    if _LINK.match(raw):
        return 0, LINK
    text = raw.casefold()
    if text == "rt":
        kind = RT
    elif raw[0] == "@" and len(raw) > 1:
        kind = USER
    else:
        kind = COLON if raw == ":" else PLAIN
    return _HASH_64(text.encode("utf-8", "surrogatepass")) or 1, kind


class RowFingerprints:
    """Retweets and fingerprints of a batch from the table rows the scorer's tokenizer made
    (``Tokenizer.encode_rows``): each row's value once (when the table grows), then numpy."""

    def __init__(self) -> None:
        self._values = RowValues(_values, (np.zeros(0, np.uint64), np.zeros(0, np.uint8)))

    def of_rows(self, rows: Int64Array, table: TokenRows,
                n_posts: int) -> tuple[BoolArray, UInt64Array]:
        """``n_posts``: an empty batch's rows still hold one end of post."""
        hashes, kinds = self._values.of(table)
        retweet, fps = of_tokens(hashes[rows], kinds[rows])
        return retweet[:n_posts], fps[:n_posts]


def retweets_and_fingerprints(texts: Sequence[str]) -> tuple[BoolArray, UInt64Array]:
    """What ``RowFingerprints`` gives, from the texts (one ``raw_tokens`` pass)."""
    if not texts:
        return np.zeros(0, bool), np.zeros(0, np.uint64)
    tokens = raw_tokens(texts)
    distinct = list(dict.fromkeys(tokens))
    index = dict(zip(distinct, range(len(distinct)), strict=True))
    hashes, kinds = _values(distinct)
    at = np.fromiter(map(index.__getitem__, tokens), np.int64, len(tokens))
    return of_tokens(hashes[at], kinds[at])


def _values(raws: Sequence[str]) -> tuple[UInt64Array, UInt8Array]:
    values = [token_value(raw) for raw in raws]
    return (np.fromiter((h for h, _ in values), np.uint64, len(values)),
            np.fromiter((k for _, k in values), np.uint8, len(values)))


def is_retweet(texts: Sequence[str]) -> BoolArray:
    """Whether each text starts with ``RT @user`` (the old retweet convention)."""
    return retweets_and_fingerprints(texts)[0]


def fingerprints(texts: Sequence[str]) -> UInt64Array:
    """The fingerprint of each text (NO_FINGERPRINT when no token is left)."""
    return retweets_and_fingerprints(texts)[1]


def fingerprint(text: str) -> int:
    """The stable unsigned 64-bit fingerprint of one text."""
    return int(fingerprints([text])[0])


def normal_tokens(text: str) -> list[str]:
    """The tokens a text's fingerprint is made of, casefolded (for inspection and tests)."""
    tokens = [t for t in raw_tokens([text]) if t != SEP]
    while (len(tokens) >= 2 and tokens[0].casefold() == "rt" and tokens[1][0] == "@"
           and len(tokens[1]) > 1):
        tokens = tokens[3:] if tokens[2:3] == [":"] else tokens[2:]
    return [t.casefold() for t in tokens if not _LINK.match(t)]


def of_tokens(hashes: UInt64Array, kinds: UInt8Array) -> tuple[BoolArray, UInt64Array]:
    """Retweets and fingerprints of the posts of a batch's tokens (``token_value`` of each; an
    END token closes every post)."""
    end = np.flatnonzero(kinds == END)
    n = len(end)
    start = np.empty(n, np.int64)
    start[:1] = 0
    start[1:] = end[:-1] + 1
    retweet, cut = _prefixes(kinds, start, end)
    post = np.repeat(np.arange(n), end - start + 1)  # each token's post (its END too)
    keep = hashes != 0
    keep &= np.arange(len(kinds)) >= cut[post]
    kept = np.flatnonzero(keep)
    counts = np.bincount(post[kept], minlength=n)
    firsts = np.cumsum(counts) - counts  # each post's first place among the kept tokens
    place = np.arange(len(kept)) - np.repeat(firsts, counts)
    terms = hashes[kept] * _powers(int(counts.max(initial=0)))[place]
    sums = np.zeros(len(kept) + 1, np.uint64)
    np.cumsum(terms, dtype=np.uint64, out=sums[1:])
    total = sums[firsts + counts] - sums[firsts]  # modulo 2**64, like the terms
    values = _mix(total + counts.astype(np.uint64) * _LENGTH)
    values[values == NO_FINGERPRINT] = 1  # a real text hashing to 0 (p = 2**-64) is 1
    values[counts == 0] = NO_FINGERPRINT
    return retweet, values


def _prefixes(kinds: UInt8Array, start: Int64Array,
              end: Int64Array) -> tuple[BoolArray, Int64Array]:
    """Which posts are retweets, and where each post's text begins after its retweet prefixes
    ("RT", "@user", an optional ":"; repeated, as in "RT @ann: RT @bob: ...")."""
    retweet = np.zeros(len(start), bool)
    cut = start.copy()
    todo = np.arange(len(start))
    first = True
    while len(todo):
        at = cut[todo]
        inside = at + 1 < end[todo]  # a post's END is its last token: at + 1 is in the array
        todo, at = todo[inside], at[inside]
        found = (kinds[at] == RT) & (kinds[at + 1] == USER)
        todo, at = todo[found], at[found] + 2
        if first:
            retweet[todo] = True
            first = False
        cut[todo] = at + (kinds[at] == COLON)  # at <= END's index: in the array
    return retweet, cut


@lru_cache(maxsize=1)
def _power_table(size: int) -> UInt64Array:
    powers = np.full(size, _POWER, np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)  # modulo 2**64


def _powers(count: int) -> UInt64Array:
    """P**0 .. P**(count - 1) at least, modulo 2**64 (a table grown in powers of two: the
    longest post is bounded by SENTISTREAM_MAX_TEXT_CHARS)."""
    return _power_table(max(1024, 1 << max(count - 1, 0).bit_length()))


def _mix(z: UInt64Array) -> UInt64Array:
    """SplitMix64's finaliser: every bit of the sum reaches every bit of the fingerprint."""
    z = z ^ (z >> np.uint64(30))
    z *= _MIX[0]
    z ^= z >> np.uint64(27)
    z *= _MIX[1]
    return z ^ (z >> np.uint64(31))


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
