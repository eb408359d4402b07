"""Bucket counts and the values derived from them (NSS, mean intensity, share of voice)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stream.keys import BUCKET_FIELDS, INTENSITY_SCALE


@dataclass(frozen=True)
class Counts:
    """The fields of one bucket hash, or the sum of several."""

    n: int = 0
    neg: int = 0
    neu: int = 0
    pos: int = 0
    isum_e6: int = 0

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Counts:
        """From an ``HMGET key *BUCKET_FIELDS`` reply; a missing hash (all None) is empty."""
        return cls(*(int(v) if v is not None else 0 for v in values))

    @classmethod
    def total(cls, parts: Iterable[Counts]) -> Counts:
        sums = [0] * len(BUCKET_FIELDS)
        for part in parts:
            for i, value in enumerate(part.as_tuple()):
                sums[i] += value
        return cls(*sums)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.n, self.neg, self.neu, self.pos, self.isum_e6)

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
                "nss": rounded(self.nss), "mean_intensity": rounded(self.mean_intensity)}


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rounded(value: float | None) -> float | None:
    """Six decimals are plenty for a ratio and keep JSON answers short."""
    return None if value is None else round(value, 6)
