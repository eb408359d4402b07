"""The bad-rows report: one tab-separated line per rejected row, written as they are found."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

MAX_LISTED = 100_000  # rows listed; each line is short (excerpts are cut at 120 characters)


class BadRowReport:
    """Opens its file at the first bad row, so a clean replay leaves no empty report behind.

    It lists the first ``max_listed`` rows and counts the rest: a file of nothing but bad lines
    must not write a report as large as itself. A last ``(more)`` line says how many were left out.
    """

    HEADER = "source\tline\treason\texcerpt\n"

    def __init__(self, path: Path, max_listed: int = MAX_LISTED) -> None:
        self.path = path
        self.max_listed = max_listed
        self.count = 0
        self.listed = 0
        self._file: TextIO | None = None

    def add(self, source: str, rows: list[tuple[int, str, str]]) -> None:
        if not rows:
            return
        self.count += len(rows)
        shown = rows[:max(self.max_listed - self.listed, 0)]
        if not shown:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
            self._file.write(self.HEADER)
        for line, reason, excerpt in shown:
            self._file.write(f"{_flat(source)}\t{line}\t{_flat(reason)}\t{_flat(excerpt)}\n")
        self._file.flush()  # an interrupted replay still leaves a complete report
        self.listed += len(shown)

    def close(self) -> None:
        if self._file is not None:
            if self.count > self.listed:
                self._file.write(f"(more)\t\t{self.count - self.listed} more bad rows not listed "
                                 f"(the report keeps the first {self.listed})\t\n")
            self._file.close()
            self._file = None


def _flat(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
