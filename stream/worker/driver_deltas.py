"""What a batch adds to the driver keys of each (brand, partition) group, and the script ops.

Per group (``stream.worker.aggregates.GroupDelta``), computed with numpy over the whole batch:

* the authors of each bucket (m, h, d) for the unique-authors HyperLogLogs;
* for real brands, the posts per term of each class (neg, pos) and hour, from the
  terms the scorer's own token pass found (``TermExtractor.extract_rows``), and the newest
  example posts of each class and hour (retweets left out: they repeat someone else);
* which posts are retweets, and each post's text fingerprint, from the same token rows
  (``stream.drivers.reposts.RowFingerprints``);
* the group's posts in offset order for the repost op: its script decides, post by post, which
  are reposts (a retweet, or a fingerprint already in the brand's set of this hour or the
  previous one), atomically with the other increments.

``_all`` and ``_overflow`` get authors and reposts only (README "Why sentiment moved").
Everything rides in the group's one APPLY_LUA call (``stream.worker.sink``), so a redelivered group
is skipped before any of it is written, and a partial one is recomputed from its later records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise, repeat
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import orjson

from stream.drivers.arrays import run_bounds, unique_inverse
from stream.drivers.reposts import FINGERPRINT_TTL_S, RowFingerprints, retweets_and_fingerprints
from stream.drivers.terms import BatchTerms, TermExtractor, TokenRows
from stream.schema.keys import ALL_BRANDS, RESERVED_BRANDS, KeyScheme
from stream.worker.aggregates import GroupDelta, intensity_e6

if TYPE_CHECKING:
    from sentistream.settings import Settings
    from stream.worker.brands import BrandMatcher
    from stream.worker.posts import Posts

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_CLASSES = ((0, "neg"), (2, "pos"))  # label -> driver class
# label -> its slot in the repost op's sums (neg, neu, pos; 6: no sentiment, not written)
_LABEL_INDEX = ("2", "3", "4", "6")


@dataclass(frozen=True)
class DriverLimits:
    """Bounds of the driver keys (settings ``driver_*``) and retention of each resolution."""

    terms: int  # top K of an hour term set (there are no day sets: why.py sums the hours)
    examples: int
    fingerprints: int
    ttl: dict[str, int]  # resolution -> expiry of its keys, seconds (0 = none)
    brand_ttl: int = 0  # expiry of the brand's long-lived keys (``keys.brand_ttl_s``; 0 = none)


@dataclass(frozen=True)
class PostFeatures:
    """Per post of a batch: its terms, whether it is a retweet, its text fingerprint and its
    author ("" = none)."""

    terms: BatchTerms
    retweet: BoolArray
    fps: npt.NDArray[np.uint64]
    authors: list[str]


@dataclass
class RepostPosts:
    """A group's posts in offset order, in the repost op's own form (``attach`` builds those of
    every group of a batch with one numpy pass: per-group numpy calls on real tweets' ~430
    small groups per batch cost more than the posts did)."""

    profiles: list[tuple[int, int]]  # (minute, label 0-3: 3 = no sentiment), in sorted order
    of: list[int]  # each post's profile (index into ``profiles``)
    ie6: list[int]  # each post's intensity (0 without sentiment)
    fps: str  # each post's fingerprint, 16 hex digits (zeros: none)
    rts: str  # "1" per retweet, "0" otherwise


@dataclass
class DriverDelta:
    """The driver increments of one group."""

    reposts: RepostPosts
    authors: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    # (cls, res, start) -> [term, posts, ...], the largest first, ties by term
    terms: dict[tuple[str, str, int], list[str | int]] = field(default_factory=dict)
    examples: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # oldest first


class FeatureExtractor:
    """Per-batch features, from the scorer's token rows when it has them (no second pass)."""

    def __init__(self, extractor: TermExtractor) -> None:
        self.extractor = extractor
        self.reposts = RowFingerprints()

    def features(self, posts: Posts, scorer: object,
                 labels: Int64Array | None = None) -> PostFeatures:
        """With ``labels``, terms only for the negative and positive posts: nothing counts a
        neutral post's terms (``_add_terms``)."""
        texts = posts.texts
        only = None if labels is None else np.isin(labels, [label for label, _ in _CLASSES])
        rows = scorer.token_rows(texts) if isinstance(scorer, _HasRows) else None
        if rows is not None:
            table: TokenRows = scorer.tokenizer.table  # type: ignore[attr-defined]
            terms = self.extractor.extract_rows(rows, table, len(texts), only)
            retweet, fps = self.reposts.of_rows(rows, table, len(texts))
        else:
            terms = self.extractor.extract(texts, only)
            retweet, fps = retweets_and_fingerprints(texts)
        return PostFeatures(terms, retweet, fps, _authors(posts.docs))


class BatchDrivers:
    """The worker's one entry point (``stream.worker.pipeline``): features of a scored batch, and
    the driver increments of its groups; does nothing when SENTISTREAM_DRIVERS is off."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.drivers
        self.examples = settings.driver_examples
        self._extractor: FeatureExtractor | None = None
        self._matcher: BrandMatcher | None = None

    def attach(self, deltas: Sequence[GroupDelta], posts: Posts,
               brands: Sequence[tuple[str, ...]], labels: Int64Array,
               intensity: npt.NDArray[np.float32], scorer: object,
               matcher: BrandMatcher) -> PostFeatures | None:
        """Attach the drivers of a freshly computed batch; returns its features (kept for the
        partial case, ``attach_partial``)."""
        if not self.enabled or not len(posts):
            return None
        features = self.extractor_for(matcher).features(posts, scorer, labels)
        attach(deltas, posts, brands, labels, intensity_e6(intensity), features, None,
               self.examples)
        return features

    def extractor_for(self, matcher: BrandMatcher) -> FeatureExtractor:
        """The feature extractor of ``matcher``'s brands (a new one for a reloaded file)."""
        if self._extractor is None or matcher is not self._matcher:
            self._extractor = FeatureExtractor(TermExtractor(matcher.definitions))
            self._matcher = matcher
        return self._extractor

    def attach_partial(self, deltas: Sequence[GroupDelta], posts: Posts,
                       brands: Sequence[tuple[str, ...]], labels: Int64Array,
                       intensity: npt.NDArray[np.float32], features: PostFeatures | None,
                       mask: BoolArray) -> None:
        if features is not None:
            attach(deltas, posts, brands, labels, intensity_e6(intensity), features, mask,
                   self.examples)


def _authors(docs: Sequence[dict[str, Any]]) -> list[str]:
    authors = [d.get("author") or "" for d in docs]
    try:
        "\x1f".join(authors).encode("utf-8")  # one C pass; a lone surrogate is rare
    except UnicodeEncodeError:
        authors = [a.encode("utf-8", "replace").decode("utf-8") for a in authors]
    return authors


@runtime_checkable
class _HasRows(Protocol):
    def token_rows(self, texts: Sequence[str]) -> Int64Array | None: ...


def attach(deltas: Sequence[GroupDelta], posts: Posts, brands: Sequence[tuple[str, ...]],
           labels: Int64Array, ie6: Int64Array, features: PostFeatures, mask: BoolArray | None,
           examples: int) -> None:
    """Set ``delta.drivers`` on every group of ``deltas``, computed by ``batch_deltas`` from the
    batch, or from the posts of ``mask`` only (a partial group resent without the records
    already applied); the other arguments are always the whole batch's."""
    if not deltas:
        return
    index = np.flatnonzero(mask) if mask is not None else np.arange(len(posts))
    where = {(d.brand, d.partition): g for g, d in enumerate(deltas)}
    pair_post, pair_group = _pairs(brands, posts.partitions, index, where)
    order = np.lexsort((posts.offsets[pair_post], pair_group))
    pair_post, pair_group = pair_post[order], pair_group[order]
    created = posts.created_s
    for d, reposts in zip(deltas, _repost_posts(len(deltas), pair_post, pair_group, created,
                                                labels, ie6, features), strict=True):
        d.drivers = DriverDelta(reposts)
    _add_authors(deltas, pair_post, pair_group, created, features.authors)
    real = np.fromiter((d.brand not in RESERVED_BRANDS for d in deltas), bool, len(deltas))
    keep = real[pair_group]
    _add_terms(deltas, pair_post[keep], pair_group[keep], labels, created, features.terms)
    _add_examples(deltas, pair_post[keep], pair_group[keep], labels, created, features,
                  posts, examples)


def _pairs(brands: Sequence[tuple[str, ...]], partitions: Int64Array, index: Int64Array,
           where: dict[tuple[str, int], int]) -> tuple[Int64Array, Int64Array]:
    """(post, group) for every post of ``index`` and every group it counts in (C-level maps
    over the brand tuples, then numpy)."""
    names = sorted({b for b, _ in where})
    code = {b: i for i, b in enumerate(names)}
    parts = sorted({p for _, p in where})
    part_code = np.full(int(partitions.max()) + 1, -1, np.int64)
    part_code[parts] = np.arange(len(parts))
    table = np.full((len(names), len(parts)), -1, np.int64)
    for (b, p), g in where.items():
        table[code[b], part_code[p]] = g
    chosen = [brands[i] for i in index.tolist()] if len(index) != len(brands) else brands
    lengths = np.fromiter(map(len, chosen), np.int64, len(chosen))
    flat = list(map(code.get, chain.from_iterable(chosen), repeat(-1)))
    # Every post counts in _all too: its pairs appended as a block (the caller sorts the pairs
    # by group and offset), not a tuple per post with _all added.
    brand = np.concatenate((np.asarray(flat, np.int64),
                            np.full(len(index), code.get(ALL_BRANDS, -1), np.int64)))
    post = np.concatenate((np.repeat(index, lengths), index))
    part = part_code[partitions[post]]
    ok = (brand >= 0) & (part >= 0)
    group = np.full(len(post), -1, np.int64)
    group[ok] = table[brand[ok], part[ok]]
    ok &= group >= 0
    return post[ok], group[ok]


def _repost_posts(n_groups: int, pair_post: Int64Array, pair_group: Int64Array,
                  created: npt.NDArray[np.float64], labels: Int64Array, ie6: Int64Array,
                  features: PostFeatures) -> list[RepostPosts]:
    """The repost op's input of every group (pairs sorted by group, then offset): one numpy
    pass over all pairs, then slices."""
    bounds = np.searchsorted(pair_group, np.arange(n_groups + 1)).tolist()
    label = np.minimum(labels[pair_post], 3)
    key, span, low = _bucket_keys(pair_group, created[pair_post], 60)
    key = key * 4 + label  # (group, minute, label): the buckets and sets a post adds to
    uniq, inverse = unique_inverse(key)
    ustarts = np.searchsorted(uniq // (4 * span), np.arange(n_groups + 1))
    of = (inverse.reshape(-1) - ustarts[pair_group]).tolist()
    local = uniq % (4 * span)
    profiles = list(zip((((local >> 2) + low) * 60).tolist(), (local & 3).tolist(),
                        strict=True))
    ie6_list = np.where(label < 3, ie6[pair_post], 0).tolist()
    fps = features.fps[pair_post].astype(">u8").tobytes().hex()
    rts = (features.retweet[pair_post].astype(np.uint8) + ord("0")).tobytes().decode("ascii")
    ustart_list = ustarts.tolist()
    return [RepostPosts(profiles[ustart_list[g]:ustart_list[g + 1]], of[lo:hi], ie6_list[lo:hi],
                        fps[16 * lo:16 * hi], rts[lo:hi])
            for g, (lo, hi) in enumerate(pairwise(bounds))]


def _bucket_keys(pair_group: Int64Array, created: Int64Array | npt.NDArray[np.float64],
                 width: int) -> tuple[Int64Array, int, int]:
    """One int64 key per (group, bucket of ``width`` seconds): group * span + (bucket - low),
    with the span of the buckets present, so the keys of a live batch (a minute or two) are
    dense and ``unique_inverse`` needs no sort; returns the keys, span and low."""
    bucket = np.floor(created / width).astype(np.int64)
    if not len(bucket):
        return bucket, 1, 0
    low = int(bucket.min())
    span = int(bucket.max()) - low + 1
    return pair_group * span + (bucket - low), span, low


def _start_of(key: int, span: int, low: int, width: int) -> tuple[int, int]:
    """(group, bucket start in seconds) of a ``_bucket_keys`` key."""
    group, offset = divmod(key, span)
    return group, (offset + low) * width


def _add_authors(deltas: Sequence[GroupDelta], pair_post: Int64Array, pair_group: Int64Array,
                 created: npt.NDArray[np.float64], authors: list[str]) -> None:
    """The distinct authors of each group and minute, first seen first: one stable sort of the
    pairs by (group, minute), then one ``dict.fromkeys`` per run. A HyperLogLog's registers
    depend on neither the order nor the repeats of what ``PFADD`` is given, so the names are
    not sorted (``string_codes`` sorted every distinct name of the batch here before). Hours
    and days are the unions of their minutes (the same list when a group's posts share one
    minute, the live case, which ``driver_ops`` then sends once for the three keys)."""
    has = np.fromiter(map(bool, authors), bool, len(authors))  # "": no author
    keep = has[pair_post]
    post, group = pair_post[keep], pair_group[keep]
    if not len(post):
        return
    key, span, low = _bucket_keys(group, created[post], 60)
    order = np.argsort(key, kind="stable")  # stable: offset order within a run
    key, names = key[order], list(map(authors.__getitem__, post[order].tolist()))
    starts, ends = run_bounds(key)
    groups: dict[int, None] = {}  # the groups with authors, in order
    for u, lo, hi in zip(key[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        g, minute = _start_of(u, span, low, 60)
        _drivers(deltas[g]).authors[("m", minute)] = list(dict.fromkeys(names[lo:hi]))
        groups[g] = None
    for g in groups:
        _roll_up(_drivers(deltas[g]).authors)


def _roll_up(authors: dict[tuple[str, int], list[str]]) -> None:
    """Hour and day author lists from the minute lists of one group."""
    for res, width in (("h", 3600), ("d", 86400)):
        parts: dict[int, list[list[str]]] = {}
        for (r, start), members in list(authors.items()):
            if r == "m":
                parts.setdefault(start // width * width, []).append(members)
        for start, lists in parts.items():
            authors[(res, start)] = (lists[0] if len(lists) == 1
                                     else list(dict.fromkeys(chain.from_iterable(lists))))


def _add_terms(deltas: Sequence[GroupDelta], pair_post: Int64Array, pair_group: Int64Array,
               labels: Int64Array, created: npt.NDArray[np.float64], terms: BatchTerms) -> None:
    """Posts per term of each group, class and hour in one ``group_counts`` pass."""
    posts: list[Int64Array] = []
    groups: list[Int64Array] = []
    meta: list[tuple[int, str, int]] = []  # term group -> (delta, cls, hour)
    for label, cls in _CLASSES:
        sel = labels[pair_post] == label
        post, group = pair_post[sel], pair_group[sel]
        key, span, low = _bucket_keys(group, created[post], 3600)
        uniq, inverse = unique_inverse(key)
        posts.append(post)
        groups.append(inverse.astype(np.int64) + len(meta))
        meta += [(g, cls, hour) for g, hour in (_start_of(u, span, low, 3600)
                                                for u in uniq.tolist())]
    if not meta:
        return
    counts = terms.group_ranked(np.concatenate(posts), np.concatenate(groups),
                                [deltas[g].brand for g, _, _ in meta])
    for (g, cls, hour), found in zip(meta, counts, strict=True):
        if found:
            _drivers(deltas[g]).terms[(cls, "h", hour)] = found


def _add_examples(deltas: Sequence[GroupDelta], pair_post: Int64Array, pair_group: Int64Array,
                  labels: Int64Array, created: npt.NDArray[np.float64], features: PostFeatures,
                  posts: Posts, keep: int) -> None:
    """The newest posts of each group, class and hour (pairs are in offset order), ``keep``
    shared by the groups of one brand, class and hour in the batch: each sends its newest
    ceil(keep / groups). Redis keeps the newest ``keep`` pushed to the brand's list, so when
    every partition's group sent ``keep``, the last group applied overwrote the others: 3 of 4
    example JSONs built, sent and pushed for nothing on a 4-partition batch (~0.4 us a post of
    the worker, issue 15), and the list held one partition's posts only."""
    if keep <= 0:
        return
    brand_code = _brand_codes(deltas)
    for label, cls in _CLASSES:
        sel = (labels[pair_post] == label) & ~features.retweet[pair_post]
        post, group = pair_post[sel], pair_group[sel]
        if not len(post):
            continue
        key, span, low = _bucket_keys(group, created[post], 3600)
        order = np.argsort(key, kind="stable")  # stable: offset order within a key
        key, post = key[order], post[order]
        starts, ends = run_bounds(key)
        # Each run's share: the runs of one (brand, hour) split ``keep`` between them.
        brand_hour = brand_code[key[starts] // span] * span + key[starts] % span
        _, sharer = unique_inverse(brand_hour)
        limit = -(-keep // np.bincount(sharer)[sharer])
        # The last ``limit`` of each key's run, JSON in one comprehension, then sliced.
        kept = np.arange(len(key)) >= np.repeat(ends - limit, ends - starts)
        members = _examples(posts, post[kept])
        bounds = np.r_[0, np.cumsum(np.minimum(ends - starts, limit))].tolist()
        for u, lo, hi in zip(key[starts].tolist(), bounds[:-1], bounds[1:], strict=True):
            g, hour = _start_of(u, span, low, 3600)
            _drivers(deltas[g]).examples[(cls, hour)] = members[lo:hi]


def _brand_codes(deltas: Sequence[GroupDelta]) -> Int64Array:
    """Each group's brand as an integer (the same for every partition's group of a brand)."""
    codes: dict[str, int] = {}
    return np.fromiter((codes.setdefault(d.brand, len(codes)) for d in deltas), np.int64,
                       len(deltas))


def _drivers(delta: GroupDelta) -> DriverDelta:
    assert delta.drivers is not None  # set by attach() before anything else
    return delta.drivers


def _examples(posts: Posts, chosen: Int64Array) -> list[str]:
    """Each chosen post as example JSON {"id", "text"}: one orjson call per example kept (at
    most SENTISTREAM_DRIVER_EXAMPLES per group, class and hour), not per post of the batch."""
    ids, texts, dumps = posts.ids, posts.texts, orjson.dumps
    return [dumps({"id": ids[i], "text": texts[i]}).decode("utf-8") for i in chosen.tolist()]


def driver_ops(delta: GroupDelta, keys: KeyScheme, ref: Callable[[str], str],
               limits: DriverLimits) -> list[list[Any]]:
    """The script ops of one group's driver increments (see ``stream.worker.sink.APPLY_LUA``)."""
    d = delta.drivers
    if d is None:
        return []
    brand, ttl = delta.brand, limits.ttl
    ops: list[list[Any]] = []
    shared: dict[int, list[list[Any]]] = {}  # one op per list: the live case sends it once
    for (res, start), members in sorted(d.authors.items()):
        target = [ref(keys.authors(brand, res, start)), str(ttl[res])]
        if id(members) in shared:
            shared[id(members)][0][3].append(target)
        else:
            shared[id(members)] = [["a", *target, [], *members]]
    ops += [op for group in shared.values() for op in group]
    for (cls, res, start), counts in sorted(d.terms.items()):
        ops.append(["s", ref(keys.terms(brand, cls, res, start)), str(ttl[res]),
                    str(limits.terms), *counts])
    for (cls, hour), members in sorted(d.examples.items()):
        ops.append(["l", ref(keys.examples(brand, cls, hour)), str(ttl["h"]),
                    str(limits.examples), *members])
    ops += _repost_ops(delta, keys, ref, limits)
    return ops


def _repost_ops(delta: GroupDelta, keys: KeyScheme, ref: Callable[[str], str],
                limits: DriverLimits) -> list[list[Any]]:
    assert delta.drivers is not None
    r, brand = delta.drivers.reposts, delta.brand
    if not r.of:
        return []
    profiles = []
    named: dict[int, list[str]] = {}  # minute -> its keys: a minute has up to 4 profiles
    for minute, label in r.profiles:
        refs = named.get(minute)
        if refs is None:
            hour, day = minute // 3600 * 3600, minute // 86400 * 86400
            refs = named[minute] = [
                ref(keys.bucket(brand, "m", minute)), ref(keys.bucket(brand, "h", hour)),
                ref(keys.bucket(brand, "d", day)), ref(keys.fingerprints(brand, hour)),
                ref(keys.fingerprints(brand, hour - 3600))]
        profiles.append([*refs, _LABEL_INDEX[label]])
    # 2 h, or less when the brand's own keys go sooner (a set must not outlive its data).
    fp_ttl = min(FINGERPRINT_TTL_S, limits.brand_ttl or FINGERPRINT_TTL_S)
    return [["r", ref(keys.total(brand)), "0", str(limits.fingerprints), str(fp_ttl),
             profiles, r.fps, r.rts, r.of, r.ie6]]
