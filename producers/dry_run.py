"""A sink that drops what it is given: `replay --dry-run` reads, maps and encodes, sends nothing."""

from __future__ import annotations

from collections.abc import Sequence


class DiscardSink:
    """Counts records as delivered and keeps none: checks a file without a broker."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.submitted = self.acked = self.failed = 0

    @property
    def pending(self) -> int:
        return 0

    def send(self, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        self.submitted += len(values)
        self.acked += len(values)

    def flush(self, timeout_s: float | None = None) -> bool:
        return True

    def error_summary(self) -> str:
        return ""

    def close(self, timeout_s: float = 10.0) -> None:
        return None
