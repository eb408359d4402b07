"""Parsing of windows, resolutions and times, shared by the CLI and the API (no I/O)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sentistream.times import BadTimestamp, parse_timestamp
from stream.readers.query.errors import (
    BadParameterError,
    BadResolutionError,
    BadTimeRangeError,
    BadWindowError,
)
from stream.schema.keys import MAX_WHY_WINDOW_S, RESOLUTIONS
from stream.schema.times import iso

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# re.ASCII: \d would also take Arabic-Indic and other Unicode digits, which int() then accepts.
_WINDOW = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.ASCII)
_RELATIVE = re.compile(r"^\s*(?:now)?\s*-\s*(\d{1,6})\s*([smhdw])\s*$", re.ASCII)
_LIMIT = re.compile(r"[0-9]{1,9}", re.ASCII)
_LANG = re.compile(r"[a-z]{2,3}", re.ASCII)  # the worker's language codes
# (stream/worker/languages.py)
# Times a request may name: from the epoch to a year whose windows and buckets still fit in a
# datetime (year 9999 is its end), so every later step (bucket maths, ISO output) is defined.
MIN_TIME_S = 0.0
MAX_TIME_S = 253_402_300_800.0 - 400 * 86400  # 9998-12-27, a window of 366 d before 9999 ends
MAX_BRAND_CHARS = 1000
MAX_WINDOW_S = 366 * 86400
# The longest timeline one request may ask for: enough for a day of minutes or a year of days,
# small enough that one answer stays a few hundred KiB.
MAX_BUCKETS = 1500
# Resolution names as users write them -> key-scheme codes.
RESOLUTION_NAMES = {"1m": "m", "1h": "h", "1d": "d", "m": "m", "h": "h", "d": "d"}


@dataclass(frozen=True)
class Window:
    """A rolling window ending at ``end`` (epoch s), summed from buckets of ``resolution``."""

    text: str
    seconds: int
    resolution: str


def parse_window(text: str) -> Window:
    """``15m``, ``1h``, ``24h``, ``7d``, ``2w`` -> a Window with the coarsest fitting buckets.

    Minute buckets up to 6 hours and hour buckets up to 30 days keep a window to at most a few
    hundred buckets, and inside the minute buckets' default retention (2 days).
    """
    match = _WINDOW.match(text or "")
    if not match:
        raise BadWindowError(
            f"bad window {_shown(text)}: use a number and a unit, like 15m, 1h, 24h, 7d or 2w")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 or seconds > MAX_WINDOW_S:
        raise BadWindowError(f"bad window {text!r}: it must be between 1m and 366d")
    if seconds <= 6 * 3600:
        resolution = "m"
    elif seconds <= 30 * 86400:
        resolution = "h"
    else:
        resolution = "d"
    return Window(f"{match.group(1)}{match.group(2)}", seconds, resolution)


def parse_why_window(text: str) -> Window:
    """A ``why`` window: like ``parse_window``, at most 7 days (it reads hour term sets)."""
    window = parse_window(text)
    if window.seconds > MAX_WHY_WINDOW_S:  # one term set per hour: a week is 168 per class
        raise BadWindowError(f"bad window {text!r} for why: at most 7d (drivers are kept per "
                             "hour; compare shorter windows)")
    return window


def parse_resolution(text: str) -> str:
    """``1m``/``1h``/``1d`` -> the key-scheme code ``m``/``h``/``d``."""
    code = RESOLUTION_NAMES.get((text or "").strip().lower())
    if code is None:
        raise BadResolutionError(f"bad resolution {_shown(text)}: use 1m, 1h or 1d")
    return code


def parse_time(text: str, now: float | None = None) -> float:
    """What ``sentistream.times`` reads (ISO-8601, naive = UTC; epoch seconds or milliseconds;
    a Twitter date), ``now`` or ``now-2h`` / ``-2h``.

    Refuses NaN, infinities and times before 1970 or after the year 9998: they would reach the
    bucket arithmetic or Redis (as a score) and fail there.
    """
    value = _parse_time(text, time.time() if now is None else now)
    if not MIN_TIME_S <= value <= MAX_TIME_S:  # also False for NaN
        raise BadTimeRangeError(
            f"bad time {_shown(text)}: it must be between 1970-01-01 and 9998-12-27 "
            "(ISO-8601, epoch seconds, 'now' or a relative time like -2h)")
    return value


def _parse_time(text: str, now: float) -> float:
    raw = (text or "").strip()
    if raw.lower() == "now":
        return now
    rel = _RELATIVE.match(raw.lower())
    if rel:
        unit = 1 if rel.group(2) == "s" else _UNITS[rel.group(2)]
        return now - int(rel.group(1)) * unit
    try:
        return parse_timestamp(raw)
    except BadTimestamp:
        raise BadTimeRangeError(
            f"bad time {_shown(text)}: use ISO-8601 (2009-05-01T10:00Z), epoch seconds, "
            "'now' or a relative time like -2h") from None


def _shown(text: str, most: int = 60) -> str:
    """A parameter as an error message quotes it: repr (no raw control characters), shortened."""
    shown = repr(text)
    return shown if len(shown) <= most else shown[:most] + "…'"


def parse_limit(raw: str | None, default: int, most: int) -> int:
    """A count of items: ASCII digits only (str.isdigit() also takes '²', which int() refuses)."""
    if raw is None:
        return default
    value = int(raw) if _LIMIT.fullmatch(raw) else 0
    if not 1 <= value <= most:
        raise BadParameterError(f"bad limit {_shown(raw)}: use a whole number from 1 to {most}")
    return value


def parse_offset(raw: str | None, most: int = 10**9) -> int:
    """Items to skip (a page's ``next_offset``): ASCII digits only, like ``parse_limit``."""
    if raw is None:
        return 0
    if not _LIMIT.fullmatch(raw) or int(raw) > most:
        raise BadParameterError(f"bad offset {_shown(raw)}: use a whole number from 0 to {most} "
                                "(the next_offset of the previous page)")
    return int(raw)


def parse_lang(raw: str | None) -> str | None:
    """A language filter: an ISO 639 code of 2 or 3 letters as the worker counts them ("en",
    "pt", "und" for undetermined, "zxx" for posts without words); None when absent or empty."""
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower()
    if not _LANG.fullmatch(code):
        raise BadParameterError(f"bad lang {_shown(raw)}: use an ISO 639 code of 2 or 3 "
                                "letters (en, de, pt, und)")
    return code


def parse_brand(raw: str | None) -> str:
    """A brand name as a request gives it: required, printable text of a sane length.

    Brand names are escaped into keys (stream/schema/keys.py), so any characters are safe there;
    this refuses what cannot be a brand and would fail later: lone surrogates (undecodable UTF-8 in
    the URL) cannot be encoded for Redis, control characters and huge names are never brands.
    """
    brand = raw or ""
    if not brand.strip():
        raise BadParameterError("the 'brand' query parameter is required")
    if len(brand) > MAX_BRAND_CHARS:
        raise BadParameterError(f"bad brand: longer than {MAX_BRAND_CHARS} characters")
    try:
        brand.encode("utf-8")
    except UnicodeEncodeError:
        raise BadParameterError("bad brand: it is not valid UTF-8 (send it URL-encoded UTF-8)"
                                ) from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in brand):
        raise BadParameterError(f"bad brand {_shown(brand)}: control characters are not allowed")
    return brand


@dataclass(frozen=True)
class TimeRange:
    """Bucket starts from ``first`` to ``last`` inclusive, at ``resolution``."""

    resolution: str
    first: int
    last: int

    @property
    def width(self) -> int:
        return RESOLUTIONS[self.resolution]

    def starts(self) -> list[int]:
        return list(range(self.first, self.last + self.width, self.width))


DEFAULT_SPAN = {"m": 3600, "h": 48 * 3600, "d": 30 * 86400}


def parse_range(resolution: str, start: str | None, end: str | None,
                now: float | None = None) -> TimeRange:
    """Validate a timeline request; missing ends default to now and a resolution-sized span."""
    res = parse_resolution(resolution)
    now = time.time() if now is None else now
    to_s = parse_time(end, now) if end else now
    from_s = parse_time(start, now) if start else to_s - DEFAULT_SPAN[res]
    if from_s >= to_s:
        raise BadTimeRangeError(
            f"bad time range: from ({iso(from_s)}) must be before to ({iso(to_s)})")
    width = RESOLUTIONS[res]
    first = int(from_s // width * width)
    # `to` is exclusive: a range ending exactly on a bucket start does not include that bucket.
    last = int(-(-to_s // width) * width) - width
    count = (last - first) // width + 1
    if count > MAX_BUCKETS:
        raise BadTimeRangeError(
            f"bad time range: {count} buckets of {resolution}; at most {MAX_BUCKETS} per request "
            "(narrow the range or use a coarser resolution)")
    return TimeRange(res, first, last)
