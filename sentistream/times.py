"""The one parser of the timestamps users and datasets write: producers, the worker and the
query CLI/API all read times through ``parse_timestamp``.

Accepted: an epoch number in seconds or milliseconds (int, float, or those digits in a string),
ISO-8601 (naive = UTC, ``Z`` or an offset), and Twitter dates (``Mon May 11 03:17:40 UTC 2009``
as in Sentiment140, ``Wed Oct 10 20:19:24 +0000 2018`` as the API writes them). A string of
digits is an epoch, never an ISO basic date. Anything else raises ``BadTimestamp`` (a
ValueError) with the reason; no input raises anything else. The range a time must fall in is the
caller's: the worker takes 1970..2100, a query 1970..9998.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

# Epoch numbers at or above this are milliseconds (1e11 s is the year 5138, 1e11 ms is 1973).
MS_THRESHOLD = 1e11
# re.ASCII: float() also takes Arabic-Indic and other Unicode digits.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Sentiment140 dates carry US zone abbreviations ("Mon Apr 06 22:19:45 PDT 2009").
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "PDT": -7, "PST": -8, "MDT": -6, "MST": -7,
          "CDT": -5, "CST": -6, "EDT": -4, "EST": -5}


class BadTimestamp(ValueError):
    """A timestamp in none of the layouts we read, or beyond any date; the message says which."""


def parse_timestamp(value: object) -> float:
    """Epoch seconds (finite, not range-checked) of an epoch number, ISO-8601 or Twitter date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_epoch(value)
    if not isinstance(value, str):
        raise BadTimestamp(f"a timestamp is a number or a string, not {type(value).__name__}")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return from_epoch(float(text))
    if text[:1].isdigit():
        return _from_iso(text)
    return _from_twitter(text)


def from_epoch(number: int | float) -> float:
    """Epoch seconds of an epoch number in seconds or milliseconds."""
    try:
        seconds = float(number)
    except OverflowError:  # an int of hundreds of digits
        seconds = math.inf
    if -MS_THRESHOLD < seconds < MS_THRESHOLD:  # the common case first (False for NaN)
        return seconds
    if not math.isfinite(seconds):
        raise BadTimestamp("the epoch number is beyond any date")
    return seconds / 1000.0


def _from_iso(text: str) -> float:
    if text[-1] == "z":  # datetime takes only the upper-case Z
        text = text[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:  # naive times are UTC by convention (datasets, the docs)
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):  # not ISO, or 0001-01-01 with a positive offset
        raise BadTimestamp(f"{_shown(text)} is not ISO-8601 (2009-05-11T03:17:40Z)") from None


def _from_twitter(text: str) -> float:
    parts = text.split()
    try:
        _, month, day, clock, zone, year = parts
        hour, minute, second = (int(x) for x in clock.split(":"))
        stamp = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=UTC)
        return stamp.timestamp() - _zone_hours(zone) * 3600.0
    except (ValueError, KeyError, OverflowError):
        raise BadTimestamp(f"{_shown(text)} is not a timestamp: use ISO-8601, epoch seconds or "
                           "milliseconds, or a Twitter date") from None


def _zone_hours(zone: str) -> float:
    if zone in _ZONES:
        return float(_ZONES[zone])
    if len(zone) == 5 and zone[0] in "+-" and zone[1:].isdigit():
        sign = -1.0 if zone[0] == "-" else 1.0
        return sign * (int(zone[1:3]) + int(zone[3:5]) / 60.0)
    raise ValueError(zone)


def _shown(text: str, most: int = 60) -> str:
    return repr(text[:most] + ("..." if len(text) > most else ""))
