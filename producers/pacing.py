"""When each record is due: as fast as possible, N per second, or X times the original pace."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from producers.errors import PacingError

Mode = Literal["max", "rate", "speed"]


@dataclass
class Pacer:
    """Due times (time.monotonic) for successive records; ``due`` is called batch after batch."""

    mode: Mode = "max"
    value: float = 0.0
    origin: float | None = None
    count: int = 0
    first_time: float | None = None
    last_due: float = 0.0

    def __post_init__(self) -> None:
        if self.mode != "max" and not self.value > 0:
            raise PacingError(f"--{self.mode} must be a positive number, not {self.value}")

    def due(self, times: list[float | None]) -> list[float] | None:
        """None at --max; otherwise a non-decreasing due time per record."""
        if self.mode == "max":
            return None
        if self.origin is None:
            self.origin = time.monotonic()
            self.last_due = self.origin
        origin, n = self.origin, len(times)
        if self.mode == "rate":
            step = 1.0 / self.value
            out = [origin + (self.count + i) * step for i in range(n)]
            self.count += n
            return out
        return self._by_timestamps(times)

    def _by_timestamps(self, times: list[float | None]) -> list[float]:
        assert self.origin is not None
        out = []
        last, speed = self.last_due, self.value
        for t in times:
            if t is not None:
                if self.first_time is None:
                    self.first_time = t
                # Rows out of time order (--order file) go out at once, never back in time.
                last = max(last, self.origin + (t - self.first_time) / speed)
            out.append(last)  # rows without a time go with the row before them
        self.last_due = last
        return out

    def created_at(self, t: float, start_epoch: float, first_time: float) -> float:
        """The rebased post time: the first post is "now"; under --speed gaps shrink X times."""
        if self.mode == "speed":
            return start_epoch + (t - first_time) / self.value
        return start_epoch + (t - first_time)
