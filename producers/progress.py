"""Run counters, the end-of-run summary and progress lines (a bar on a terminal)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class RunStats:
    """What a producer run did; ``sent`` counts records the broker acknowledged."""

    read: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unconfirmed: int = 0
    interrupted: bool = False
    error: str | None = None  # what stopped the run early, if anything did
    notes: list[str] = field(default_factory=list)  # printed after the summary
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return max(end - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed

    def summary(self, what: str = "replay") -> str:
        state = ("interrupted" if self.interrupted else
                 f"stopped by an error ({self.error})" if self.error else "done")
        line = (f"{what} {state}: read {self.read}, sent {self.sent}, failed {self.failed}, "
                f"skipped {self.skipped} in {self.elapsed:.2f}s ({self.rate:,.0f} posts/s)")
        if self.unconfirmed:
            line += f", {self.unconfirmed} unconfirmed when the flush timed out"
        return line


class Progress:
    """A live bar with rate and ETA on a terminal; a plain line every ``interval_s`` otherwise."""

    def __init__(self, total: int | None = None, stream: TextIO | None = None,
                 interval_s: float = 5.0, enabled: bool = True) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.2 if self.tty else interval_s
        self.enabled = enabled
        self._last = time.monotonic()

    def update(self, stats: RunStats, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.interval):
            return
        self._last = now
        rate = stats.sent / stats.elapsed
        if self.tty:
            self.stream.write("\r" + self._bar(stats, rate) + "\x1b[K")
        else:
            self.stream.write(f"progress: read {stats.read} sent {stats.sent} "
                              f"failed {stats.failed} skipped {stats.skipped} "
                              f"{rate:,.0f}/s{self._eta(stats, rate)}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _bar(self, stats: RunStats, rate: float) -> str:
        if not self.total:
            return f"sent {stats.sent:,}  {rate:,.0f}/s  failed {stats.failed}"
        done = min((stats.sent + stats.failed) / self.total, 1.0)  # read runs a batch ahead
        width = 30
        filled = int(done * width)
        return (f"[{'#' * filled}{'.' * (width - filled)}] {done:6.1%} "
                f"{stats.sent:,}/{self.total:,}  {rate:,.0f}/s{self._eta(stats, rate)}")

    def _eta(self, stats: RunStats, rate: float) -> str:
        if not self.total or rate <= 0:
            return ""
        left = max(self.total - stats.sent - stats.failed, 0) / rate
        return f"  ETA {int(left // 60)}:{int(left % 60):02d}"
