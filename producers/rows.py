"""Raw rows as the readers produce them, and the limits every reader works under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BATCH_ROWS = 8192
BATCH_BYTES = 8 << 20  # a batch of long rows is cut early, so a batch never holds much memory
MAX_ROW_BYTES = 1 << 20


@dataclass
class RawBatch:
    """Rows as dicts with their line numbers, plus the lines that could not be parsed at all."""

    lines: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, excerpt)
    size: int = 0  # input bytes of the rows (CSV: characters), to bound what is held


@dataclass
class ReadLimits:
    """How long one row and how big one batch may be.

    ``batch_rows`` may be lowered between batches: the replay sets it to what --limit leaves, so
    a reader never reads a row past the limit.
    """

    max_row_bytes: int = MAX_ROW_BYTES
    batch_rows: int = BATCH_ROWS
    batch_bytes: int = BATCH_BYTES


def batch_full(batch: RawBatch, limits: ReadLimits) -> bool:
    # Bad rows count too: a file of nothing but bad lines must still come in bounded batches.
    return (len(batch.rows) + len(batch.bad) >= limits.batch_rows
            or batch.size >= limits.batch_bytes)
