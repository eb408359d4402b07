"""Timestamps out: ISO-8601 UTC. Reading them is ``sentistream.times.parse_timestamp``, the
parser the worker and the query CLI/API use too."""

from __future__ import annotations

from datetime import UTC, datetime


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
