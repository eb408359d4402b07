"""Sentiment aggregates: a tiny pure bucket class, and a batch's increments computed with numpy.

Nothing here talks to Kafka or Redis, so the arithmetic is tested on its own. A batch is turned
into one ``GroupDelta`` per (brand, partition): the increments of every bucket it touches plus the
candidates for the top-post sets, and the offset range it covers (the unit of deduplication).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from stream.drivers.arrays import unique_inverse
from stream.schema.counts import LABELS, BucketCounts
from stream.schema.keys import ALL_BRANDS, INTENSITY_SCALE, RESOLUTIONS
from stream.worker.languages import bucket_language_fields, language_index
from stream.worker.posts import Posts

if TYPE_CHECKING:
    from stream.worker.driver_deltas import DriverDelta


def intensity_e6(intensity: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Intensities as integer millionths: sums of these are exact in any order. A post the
    model does not score (unsupported language: NaN) adds 0."""
    return np.rint(np.nan_to_num(intensity.astype(np.float64) * INTENSITY_SCALE)
                   ).astype(np.int64)


@dataclass(frozen=True)
class TopCandidate:
    polarity: str  # "pos" or "neg"
    hour: int
    score: float
    member: str  # JSON of the post


@dataclass
class GroupDelta:
    """The increments one batch makes to one brand, from one partition."""

    brand: str
    partition: int
    min_offset: int
    max_offset: int
    newest_event_s: float
    buckets: dict[tuple[str, int], BucketCounts] = field(default_factory=dict)
    total: BucketCounts = field(default_factory=BucketCounts)
    top: list[TopCandidate] = field(default_factory=list)
    # Only in ``_all``'s groups: per bucket, the posts of the same partition and offset range
    # about each brand, for the brand ranking (see ``KeyScheme.rank``). Carried by ``_all``
    # because every post counts there, so its offsets cover every brand's increments.
    ranks: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    # Driver terms, examples, authors and reposts (``stream.worker.driver_deltas.attach``); None
    # when SENTISTREAM_DRIVERS is off.
    drivers: DriverDelta | None = None
    # Per bucket, the per-language fields (``stream.worker.languages``) added to its hash, flat:
    # name, value, name, value... (as the script takes them).
    languages: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def mentions(self, bucket: tuple[str, int]) -> int:
        """Brand mentions in one bucket of this group (``_all`` groups; 0 elsewhere)."""
        return sum(self.ranks.get(bucket, {}).values())


def batch_deltas(posts: Posts, brands: Sequence[tuple[str, ...]], labels: npt.NDArray[np.int64],
                 intensity: npt.NDArray[np.float32], top_k: int) -> list[GroupDelta]:
    """Per (brand, partition) increments of a scored batch; every post also counts in ``_all``."""
    if len(posts) == 0:
        return []
    names = sorted({b for bs in brands for b in bs} | {ALL_BRANDS})
    code = {b: i for i, b in enumerate(names)}
    all_code = code[ALL_BRANDS]
    # One (post, brand) pair per mention, plus one for _all per post.
    pair_post = np.fromiter((i for i, bs in enumerate(brands) for _ in range(len(bs) + 1)),
                            np.int64)
    pair_brand = np.fromiter((c for bs in brands for c in (*(code[b] for b in bs), all_code)),
                             np.int64, len(pair_post))
    part_values, part_code = np.unique(posts.partitions[pair_post], return_inverse=True)
    group = pair_brand * len(part_values) + part_code
    group_ids, group_of_pair = np.unique(group, return_inverse=True)
    lab = labels[pair_post]
    ie6 = intensity_e6(intensity)[pair_post]
    created = posts.created_s[pair_post]
    offsets = posts.offsets[pair_post]

    deltas = []
    for g, gid in enumerate(group_ids.tolist()):
        sel = group_of_pair == g
        deltas.append(GroupDelta(
            brand=names[gid // len(part_values)],
            partition=int(part_values[gid % len(part_values)]),
            min_offset=int(offsets[sel].min()), max_offset=int(offsets[sel].max()),
            newest_event_s=float(created[sel].max()),
            total=_sum(lab[sel], ie6[sel])))
    languages = language_index(posts.languages) if posts.languages else None
    for res, width in RESOLUTIONS.items():
        bucket = np.floor(created / width).astype(np.int64)
        key = group_of_pair.astype(np.int64) * (1 << 40) + (bucket - bucket.min())
        uniq, inv = unique_inverse(key)
        counts = _label_counts(inv, lab, ie6, len(uniq))
        langs = (bucket_language_fields(languages, pair_post, inv.reshape(-1), lab, ie6,
                                        len(uniq)) if languages is not None else None)
        first = np.zeros(len(uniq), np.int64)
        first[inv[::-1]] = np.arange(len(inv))[::-1]  # one pair index per unique bucket
        for u, pair in enumerate(first.tolist()):
            n, neg, neu, pos, isum = (int(c[u]) for c in counts)
            deltas[int(group_of_pair[pair])].buckets[(res, int(bucket[pair]) * width)] = \
                BucketCounts(n, neg, neu, pos, isum)
            if langs is not None:
                deltas[int(group_of_pair[pair])].languages[(res, int(bucket[pair]) * width)] = \
                    langs[u]
    _add_top(deltas, posts, pair_post, group_of_pair, lab, intensity, created, top_k)
    _add_ranks(deltas)
    return deltas


def _add_ranks(deltas: list[GroupDelta]) -> None:
    """Copy each brand group's bucket volumes into the ``_all`` group of its partition."""
    everything = {d.partition: d for d in deltas if d.brand == ALL_BRANDS}
    for d in deltas:
        if d.brand == ALL_BRANDS:
            continue
        ranks = everything[d.partition].ranks
        for bucket, agg in d.buckets.items():
            ranks.setdefault(bucket, {})[d.brand] = agg.n


def _sum(lab: npt.NDArray[np.int64], ie6: npt.NDArray[np.int64]) -> BucketCounts:
    counts = np.bincount(lab, minlength=3)
    return BucketCounts(len(lab), int(counts[0]), int(counts[1]), int(counts[2]),
                           int(ie6.sum()))


def _label_counts(inv: npt.NDArray[np.int64], lab: npt.NDArray[np.int64],
                  ie6: npt.NDArray[np.int64], m: int) -> list[npt.NDArray[np.int64]]:
    n = np.bincount(inv, minlength=m)
    per_label = [np.bincount(inv[lab == k], minlength=m) for k in range(3)]
    # Exact: |isum| per bucket stays far below 2**53 (1e6 per post).
    isum = np.rint(np.bincount(inv, weights=ie6.astype(np.float64), minlength=m)).astype(np.int64)
    return [n, *per_label, isum]


def _add_top(deltas: list[GroupDelta], posts: Posts, pair_post: npt.NDArray[np.int64],
             group_of_pair: npt.NDArray[np.int64], lab: npt.NDArray[np.int64],
             intensity: npt.NDArray[np.float32], created: npt.NDArray[np.float64],
             top_k: int) -> None:
    """Candidates for the top sets: per group, hour and polarity, every post scoring at least
    the k-th best of the batch (ties included, so Redis' own tie-break decides exactly as if
    every post had been sent)."""
    if top_k <= 0:
        return
    hour = (np.floor(created / 3600).astype(np.int64)) * 3600
    score = intensity[pair_post].astype(np.float64)
    for polarity, label, sign in (("pos", 2, 1.0), ("neg", 0, -1.0)):
        idx = np.flatnonzero(lab == label)
        if len(idx) == 0:
            continue
        key = group_of_pair[idx].astype(np.int64) * (1 << 40) + (hour[idx] - hour.min())
        order = np.lexsort((-sign * score[idx], key))
        idx, key = idx[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        rank = np.arange(len(idx)) - np.repeat(starts, np.diff(np.r_[starts, len(idx)]))
        kth = np.repeat(sign * score[idx[np.minimum(starts + top_k - 1,
                                                    np.r_[starts[1:], len(idx)] - 1)]],
                        np.diff(np.r_[starts, len(idx)]))
        keep = idx[(rank < top_k) | (sign * score[idx] >= kth)]
        for p in keep.tolist():
            post = int(pair_post[p])
            deltas[int(group_of_pair[p])].top.append(TopCandidate(
                polarity, int(hour[p]), float(score[p]), top_member(posts, post, label,
                                                                    float(score[p]))))


def top_member(posts: Posts, i: int, label: int, score: float) -> str:
    """The JSON member of a top-post set (deterministic for one post and model)."""
    return json.dumps({"id": posts.ids[i], "text": posts.texts[i], "intensity": score,
                       "label": LABELS[label], "created_at": float(posts.created_s[i])},
                      ensure_ascii=False)
