"""A bucket's counts (one Redis bucket hash, or the sum of several) and what derives from them.

The worker adds posts to them and writes their ``fields()``; readers build them from the hash
and show ``nss`` and ``mean_intensity``. ``n`` counts every post; the classes and the intensity
only the posts the model scored (a post in a language it does not score adds to ``n`` alone), so
NSS and mean intensity are over the scored posts and unsupported languages cannot dilute them.
Both are None without scored posts: without posts there is no sentiment, and 0.0 would read as
"exactly neutral" (the API and CLI answer null).

The repost fields (``REPOST_FIELDS``: reposts and their share of each class) are written by the
worker's driver ops, not through ``fields()``; readers use them to show the counts without
reposts (``counted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from stream.schema.keys import BUCKET_FIELDS, INTENSITY_SCALE, REPOST_FIELDS

# The model's classes, indexed by label id; a bucket counts them in ``neg``, ``neu`` and ``pos``.
# Label 3 (unsupported_language) has no class field: such a post counts in ``n`` only.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
LABEL_FIELDS: tuple[str, ...] = ("neg", "neu", "pos")

# The bucket-hash fields a reader asks for, in the order of BucketCounts' fields: the five
# counts, then the repost fields. Buckets written before reposts were counted lack them (0).
READ_FIELDS: tuple[str, ...] = BUCKET_FIELDS + REPOST_FIELDS


@dataclass
class BucketCounts:
    """Count, label counts and intensity sum (integer millionths) of some posts, and how many of
    them were reposts; mergeable and order-independent, so sums over buckets, batches or workers
    are exact."""

    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    isum_e6: int = 0
    reposts: int = 0
    rp_neg: int = 0
    rp_neu: int = 0
    rp_pos: int = 0
    rp_isum_e6: int = 0

    @classmethod
    def initialize(cls) -> BucketCounts:
        return cls()

    def add(self, label: int, intensity_millionths: int) -> BucketCounts:
        self.n += 1
        if label < len(LABEL_FIELDS):
            name = LABEL_FIELDS[label]
            setattr(self, name, getattr(self, name) + 1)
            self.isum_e6 += intensity_millionths
        return self

    def merge(self, other: BucketCounts) -> BucketCounts:
        for f in dataclass_fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @classmethod
    def total(cls, parts: Iterable[BucketCounts]) -> BucketCounts:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> BucketCounts:
        """From a Redis bucket hash (bytes or str keys); a missing hash is an empty bucket."""
        def get(name: str) -> int:
            return int(fields.get(name, fields.get(name.encode(), 0)))
        return cls(*(get(name) for name in READ_FIELDS))

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> BucketCounts:
        """From an ``HMGET key *READ_FIELDS`` reply (or its first five, ``BUCKET_FIELDS``); a
        missing hash (all None) is empty."""
        return cls(*(int(v) if v is not None else 0 for v in values))

    def fields(self) -> dict[str, int]:
        """The bucket hash's fields the worker increments through this class (BUCKET_FIELDS)."""
        return dict(zip(BUCKET_FIELDS, self.as_tuple(), strict=True))

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.n, self.neg, self.neu, self.pos, self.isum_e6)

    def repost_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.reposts, self.rp_neg, self.rp_neu, self.rp_pos, self.rp_isum_e6)

    def without_reposts(self) -> BucketCounts:
        """The counts of the original posts only (``SENTISTREAM_COUNT_REPOSTS=false``); keeps
        ``reposts`` so readers still show how many were left out. The rp_* fields are parts
        of the class counts, so this never goes below zero on consistent data; ``max`` keeps a
        torn read (fields of two writes) from showing a negative count."""
        return BucketCounts(max(self.n - self.reposts, 0), max(self.neg - self.rp_neg, 0),
                            max(self.neu - self.rp_neu, 0), max(self.pos - self.rp_pos, 0),
                            self.isum_e6 - self.rp_isum_e6, self.reposts)

    def counted(self, count_reposts: bool) -> BucketCounts:
        """These counts as the read-side setting ``count_reposts`` wants them shown."""
        return self if count_reposts else self.without_reposts()

    @property
    def scored(self) -> int:
        """Posts the model scored: ``n`` counts posts in unsupported languages too."""
        return self.neg + self.neu + self.pos

    @property
    def nss(self) -> float | None:
        """Net sentiment score (pos - neg) / scored in [-1, 1]; None without scored posts."""
        scored = self.scored
        return (self.pos - self.neg) / scored if scored else None

    @property
    def mean_intensity(self) -> float | None:
        """Mean signed intensity in [-1, 1] over the scored posts; None without them."""
        scored = self.scored
        return self.isum_e6 / INTENSITY_SCALE / scored if scored else None

    def result(self) -> dict[str, float | None]:
        """The counts with their derived views (NSS and mean intensity, None when empty)."""
        return {"n": self.n, "neg": self.neg, "neu": self.neu, "pos": self.pos,
                "nss": self.nss, "mean_intensity": self.mean_intensity}

    def to_json(self) -> dict[str, Any]:
        """What the API and the CLI show for a bucket (class names spelled out, rounded)."""
        return {"n": self.n, "negative": self.neg, "neutral": self.neu, "positive": self.pos,
                "unsupported_language": self.n - self.scored,
                "nss": rounded(self.nss), "mean_intensity": rounded(self.mean_intensity),
                "reposts": self.reposts}


def rounded(value: float | None) -> float | None:
    """Six decimals are plenty for a ratio and keep JSON answers short."""
    return None if value is None else round(value, 6)
