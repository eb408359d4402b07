"""The live announcement: what the worker publishes after each applied batch, and readers parse.

The worker XADDs it to the capped stream ``KeyScheme.live`` and PUBLISHes it on the channel of
the same name; the alert store announces new alerts in the same shape. It is a hint to re-read,
not a ledger. Its JSON (``Announcement.to_json``)::

    {"at": 1700000000.5,                                  # wall time of the announcement
     "brands": {ALL_BRANDS: {"n": 3, "neg": 1, "neu": 0, "pos": 2, "isum_e6": 150000,
                         "minutes": [1699999980]},         # minute buckets touched, newest last
                "acme": {...}},                            # at most live_max_brands, busiest
     "more": {"brands": 12, "n": 40},                      # the brands left out, summed (optional)
     "alerts": [{"id": ..., "brand": ..., "kind": ...}]}   # new alerts (optional)

Readers: the alert hook (``BrandChange``), the API's live hub, ``sentistream watch`` and the
dashboard (stream/readers/dashboard/app.js reads ``brands._all.n`` and ``brands.<name>.n``).
Anything in the stream that does not parse is ignored: ``from_json`` returns None instead of
raising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, BUCKET_FIELDS


@dataclass
class BrandChange:
    """What one or more applied batches added to one brand, and the minute buckets touched."""

    counts: BucketCounts = field(default_factory=BucketCounts)
    minutes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.counts.fields(), "minutes": self.minutes}

    @classmethod
    def from_json(cls, doc: Any) -> BrandChange | None:
        if not isinstance(doc, dict):
            return None
        minutes = doc.get("minutes")
        return cls(BucketCounts(*(_int(doc.get(name)) for name in BUCKET_FIELDS)),
                   [m for m in minutes if _is_int(m)] if isinstance(minutes, list) else [])


@dataclass(frozen=True)
class Unlisted:
    """The brands an announcement leaves out (beyond ``live_max_brands``), summed."""

    brands: int
    n: int


@dataclass(frozen=True)
class Announcement:
    """One live announcement (see the module docstring for its JSON)."""

    at: float
    brands: Mapping[str, BrandChange] = field(default_factory=dict)
    more: Unlisted | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # alert JSON, as stored

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at,
                               "brands": {b: c.to_json() for b, c in self.brands.items()}}
        if self.more is not None:
            out["more"] = {"brands": self.more.brands, "n": self.more.n}
        if self.alerts:
            out["alerts"] = self.alerts
        return out

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json())  # ~10x json.dumps

    @classmethod
    def from_json(cls, raw: Any) -> Announcement | None:
        """The announcement in ``raw``, or None when it is not one (never raises)."""
        try:
            doc = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            return None
        if not isinstance(doc, dict):
            return None
        at = doc.get("at")
        changes = doc.get("brands")
        brands = {}
        for name, change in (changes.items() if isinstance(changes, dict) else ()):
            parsed = BrandChange.from_json(change)
            if parsed is not None:
                brands[str(name)] = parsed
        more = doc.get("more")
        alerts = doc.get("alerts")
        return cls(
            at=float(at) if isinstance(at, int | float) and _is_number(at) else 0.0,
            brands=brands,
            more=(Unlisted(_int(more.get("brands")), _int(more.get("n")))
                  if isinstance(more, dict) else None),
            alerts=[a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else [])

    def posts(self, brand: str | None = None) -> int:
        """Posts this announcement adds: to ``brand``, or to every brand (``_all``)."""
        change = self.brands.get(brand if brand is not None else ALL_BRANDS)
        return change.counts.n if change is not None else 0

    def mentions(self, brand: str) -> bool:
        """Whether it changes ``brand``'s counts or raises an alert about it."""
        return brand in self.brands or any(a.get("brand") == brand for a in self.alerts)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _int(value: Any) -> int:
    return int(value) if _is_number(value) else 0
