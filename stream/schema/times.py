"""How every output writes a time: the worker's alerts and the readers' answers alike."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch_s: float) -> str:
    """UTC ISO-8601 with a Z, to the second."""
    stamp = datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
