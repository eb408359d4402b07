"""A bucket's counts (one Redis bucket hash, or the sum of several) and what derives from them.

The worker adds posts to them and writes their ``fields()``; readers build them from the hash
and show ``nss`` and ``mean_intensity``. Both are None for an empty bucket: without posts there
is no sentiment, and 0.0 would read as "exactly neutral" (the API and CLI answer null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream.keys import BUCKET_FIELDS, INTENSITY_SCALE

# The model's classes, indexed by label id; a bucket counts them in ``neg``, ``neu`` and ``pos``.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
LABEL_FIELDS: tuple[str, ...] = ("neg", "neu", "pos")


@dataclass
class BucketCounts:
    """Count, label counts and intensity sum (integer millionths) of some posts; mergeable and
    order-independent, so sums over buckets, batches or workers are exact."""

    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    isum_e6: int = 0

    @classmethod
    def initialize(cls) -> BucketCounts:
        return cls()

    def add(self, label: int, intensity_millionths: int) -> BucketCounts:
        self.n += 1
        name = LABEL_FIELDS[label]
        setattr(self, name, getattr(self, name) + 1)
        self.isum_e6 += intensity_millionths
        return self

    def merge(self, other: BucketCounts) -> BucketCounts:
        for name in BUCKET_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
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
        return cls(*(get(name) for name in BUCKET_FIELDS))

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> BucketCounts:
        """From an ``HMGET key *BUCKET_FIELDS`` reply; a missing hash (all None) is empty."""
        return cls(*(int(v) if v is not None else 0 for v in values))

    def fields(self) -> dict[str, int]:
        """The bucket hash's fields (BUCKET_FIELDS)."""
        return dict(zip(BUCKET_FIELDS, self.as_tuple(), strict=True))

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.n, self.neg, self.neu, self.pos, self.isum_e6)

    @property
    def nss(self) -> float | None:
        """Net sentiment score (pos - neg) / n in [-1, 1]; None without posts."""
        return (self.pos - self.neg) / self.n if self.n else None

    @property
    def mean_intensity(self) -> float | None:
        """Mean signed intensity in [-1, 1]; None without posts."""
        return self.isum_e6 / INTENSITY_SCALE / self.n if self.n else None

    def result(self) -> dict[str, float | None]:
        """The counts with their derived views (NSS and mean intensity, None when empty)."""
        return {"n": self.n, "neg": self.neg, "neu": self.neu, "pos": self.pos,
                "nss": self.nss, "mean_intensity": self.mean_intensity}

    def to_json(self) -> dict[str, Any]:
        """What the API and the CLI show for a bucket (class names spelled out, rounded)."""
        return {"n": self.n, "negative": self.neg, "neutral": self.neu, "positive": self.pos,
                "nss": rounded(self.nss), "mean_intensity": rounded(self.mean_intensity)}


def rounded(value: float | None) -> float | None:
    """Six decimals are plenty for a ratio and keep JSON answers short."""
    return None if value is None else round(value, 6)
