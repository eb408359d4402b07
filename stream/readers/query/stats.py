"""Values derived from several buckets' counts (share of voice); a bucket's own are in
``stream.schema.counts``."""

from __future__ import annotations


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
