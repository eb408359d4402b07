"""What happened to the records a sink was given: the counts behind the replay's summary."""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger(__name__)


class DeliveryLedger:
    """Counts records submitted, acknowledged and refused, with the first error of each kind.

    Both sinks (kafka-python and aiokafka) keep their books here, so a failure is counted and
    reported the same way whichever client sent the record.
    """

    def __init__(self) -> None:
        self.submitted = 0
        self.acked = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self._first_error: dict[str, str] = {}

    def _failed(self, count: int, exc: BaseException) -> None:
        self.failed += count
        name = type(exc).__name__
        self.errors[name] += count
        if name not in self._first_error:
            self._first_error[name] = str(exc)
            log.error("delivery failed: %s: %s", name, exc)

    @property
    def pending(self) -> int:
        return self.submitted - self.acked - self.failed

    def _wait_settled(self, deadline: float, poll_s: float) -> bool:
        """Delivery callbacks run on the client's own thread: give them until ``deadline``."""
        while self.pending and time.monotonic() < deadline:
            time.sleep(poll_s)
        return self.pending == 0

    def error_summary(self) -> str:
        return "; ".join(f"{n}× {name}: {self._first_error[name]}"
                         for name, n in self.errors.most_common())
