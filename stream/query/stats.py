"""Bucket counts and the values derived from them (NSS, mean intensity, share of voice)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stream.keys import BUCKET_FIELDS, INTENSITY_SCALE, REPOST_FIELDS

# The bucket-hash fields a reader asks for, in the order of Counts' fields: the five counts,
# then the repost fields (issue 15: ``reposts`` and the reposts' share of each class, so NSS can
# be computed without them at read time). Buckets written before reposts were counted simply
# lack them (read as 0).
READ_FIELDS: tuple[str, ...] = BUCKET_FIELDS + REPOST_FIELDS


@dataclass(frozen=True)
class Counts:
    """The fields of one bucket hash, or the sum of several (``READ_FIELDS``, in order)."""

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
    def from_values(cls, values: Sequence[Any]) -> Counts:
        """From an ``HMGET key *READ_FIELDS`` reply (or its first five, ``BUCKET_FIELDS``); a
        missing hash (all None) is empty."""
        return cls(*(int(v) if v is not None else 0 for v in values))

    @classmethod
    def total(cls, parts: Iterable[Counts]) -> Counts:
        sums = [0] * len(READ_FIELDS)
        for part in parts:
            for i, value in enumerate(part.as_tuple() + part.repost_tuple()):
                sums[i] += value
        return cls(*sums)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.n, self.neg, self.neu, self.pos, self.isum_e6)

    def repost_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.reposts, self.rp_neg, self.rp_neu, self.rp_pos, self.rp_isum_e6)

    def without_reposts(self) -> Counts:
        """The counts of the original posts only (``SENTISTREAM_COUNT_REPOSTS=false``); keeps
        ``reposts`` so readers still show how many were left out. The rp_* fields are parts
        of the class counts, so this never goes below zero on consistent data; ``max`` keeps a
        torn read (fields of two writes) from showing a negative count."""
        return Counts(max(self.n - self.reposts, 0), max(self.neg - self.rp_neg, 0),
                      max(self.neu - self.rp_neu, 0), max(self.pos - self.rp_pos, 0),
                      self.isum_e6 - self.rp_isum_e6, self.reposts)

    def counted(self, count_reposts: bool) -> Counts:
        """These counts as the read-side setting ``count_reposts`` wants them shown."""
        return self if count_reposts else self.without_reposts()

    @property
    def scored(self) -> int:
        """Posts the model scored: ``n`` counts posts in unsupported languages too."""
        return self.neg + self.neu + self.pos

    @property
    def nss(self) -> float | None:
        """Net sentiment score (pos - neg) / scored in [-1, 1]; None without scored posts.
        Over the scored posts, so posts in unsupported languages cannot dilute it."""
        scored = self.scored
        return (self.pos - self.neg) / scored if scored else None

    @property
    def mean_intensity(self) -> float | None:
        scored = self.scored
        return self.isum_e6 / INTENSITY_SCALE / scored if scored else None

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "negative": self.neg, "neutral": self.neu, "positive": self.pos,
                "unsupported_language": self.n - self.scored,
                "nss": rounded(self.nss), "mean_intensity": rounded(self.mean_intensity),
                "reposts": self.reposts}


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rounded(value: float | None) -> float | None:
    """Six decimals are plenty for a ratio and keep JSON answers short."""
    return None if value is None else round(value, 6)
