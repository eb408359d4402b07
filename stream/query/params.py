"""Parsing of windows, resolutions and times, shared by the CLI and the API (no I/O)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from stream.keys import RESOLUTIONS
from stream.query.errors import BadResolutionError, BadTimeRangeError, BadWindowError

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$")
_RELATIVE = re.compile(r"^\s*(?:now)?\s*-\s*(\d{1,6})\s*([smhdw])\s*$")
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
            f"bad window {text!r}: use a number and a unit, like 15m, 1h, 24h, 7d or 2w")
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


def parse_resolution(text: str) -> str:
    """``1m``/``1h``/``1d`` -> the key-scheme code ``m``/``h``/``d``."""
    code = RESOLUTION_NAMES.get((text or "").strip().lower())
    if code is None:
        raise BadResolutionError(f"bad resolution {text!r}: use 1m, 1h or 1d")
    return code


def parse_time(text: str, now: float | None = None) -> float:
    """ISO-8601 (naive = UTC), epoch seconds or milliseconds, ``now`` or ``now-2h`` / ``-2h``."""
    raw = (text or "").strip()
    now = time.time() if now is None else now
    if raw.lower() == "now":
        return now
    rel = _RELATIVE.match(raw.lower())
    if rel:
        unit = 1 if rel.group(2) == "s" else _UNITS[rel.group(2)]
        return now - int(rel.group(1)) * unit
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        # Epoch milliseconds are 13 digits today; seconds stay below 1e11 until the year 5138.
        return value / 1000.0 if abs(value) >= 1e11 else value
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadTimeRangeError(
            f"bad time {text!r}: use ISO-8601 (2009-05-01T10:00Z), epoch seconds, "
            "'now' or a relative time like -2h") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


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


def iso(epoch_s: float) -> str:
    """UTC ISO-8601 with a Z, as every output of the read side writes times."""
    stamp = datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
