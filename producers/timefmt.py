"""Timestamps in and out: parse the layouts datasets use, print ISO-8601 UTC."""

from __future__ import annotations

import math
from datetime import UTC, datetime

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Sentiment140 dates carry US zone abbreviations ("Mon Apr 06 22:19:45 PDT 2009").
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "PDT": -7, "PST": -8, "MDT": -6, "MST": -7,
          "CDT": -5, "CST": -6, "EDT": -4, "EST": -5}
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11


class BadTimestamp(ValueError):
    """A timestamp in none of the layouts we read."""


def parse_timestamp(value: object) -> float:
    """Epoch seconds of an ISO-8601 string, epoch s/ms number, or a Twitter-style date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if not isinstance(value, str) or not value:
        raise BadTimestamp(f"not a timestamp: {value!r}")
    text = value.strip()
    if text[:1].isdigit():
        try:
            return _from_iso(text)
        except ValueError:
            pass
        try:
            return _from_epoch(float(text))
        except ValueError:
            raise BadTimestamp(f"not a timestamp: {value!r}") from None
    return _from_twitter(text, value)


def _from_epoch(number: float) -> float:
    if not math.isfinite(number):
        raise BadTimestamp(f"not a finite epoch: {number!r}")
    return number / 1000.0 if abs(number) >= _MS_THRESHOLD else number


def _from_iso(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:  # naive times in datasets are UTC by convention
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _from_twitter(text: str, original: object) -> float:
    # "Mon May 11 03:17:40 UTC 2009" (Sentiment140) or "Mon May 11 03:17:40 +0000 2009" (API)
    parts = text.split()
    try:
        _, month, day, clock, zone, year = parts
        hour, minute, second = (int(x) for x in clock.split(":"))
        offset_h = _zone_hours(zone)
        stamp = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)
    except (ValueError, KeyError):
        raise BadTimestamp(f"not a timestamp: {original!r}") from None
    return stamp.timestamp() - offset_h * 3600.0


def _zone_hours(zone: str) -> float:
    if zone in _ZONES:
        return float(_ZONES[zone])
    if len(zone) == 5 and zone[0] in "+-" and zone[1:].isdigit():
        sign = -1.0 if zone[0] == "-" else 1.0
        return sign * (int(zone[1:3]) + int(zone[3:5]) / 60.0)
    raise ValueError(zone)


def iso_utc(epoch: float) -> str:
    """ISO-8601 UTC with a Z, milliseconds only when there are some."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    if stamp.microsecond:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc_many(epochs: list[float]) -> list[str]:
    """``iso_utc`` for a whole batch at once (numpy), seconds or milliseconds as the data needs."""
    import numpy as np

    if not epochs:
        return []
    millis = np.round(np.asarray(epochs, dtype=np.float64) * 1000.0).astype(np.int64)
    stamps = np.datetime_as_string(millis.astype("datetime64[ms]"),
                                   unit="ms" if (millis % 1000).any() else "s", timezone="UTC")
    return [str(s) for s in stamps.tolist()]
