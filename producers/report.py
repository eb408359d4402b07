"""The bad-rows report: one tab-separated line per rejected row, written as they are found."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO


class BadRowReport:
    """Opens its file at the first bad row, so a clean replay leaves no empty report behind."""

    HEADER = "source\tline\treason\texcerpt\n"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None

    def add(self, source: str, rows: list[tuple[int, str, str]]) -> None:
        if not rows:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
            self._file.write(self.HEADER)
        for line, reason, excerpt in rows:
            self._file.write(f"{source}\t{line}\t{_flat(reason)}\t{_flat(excerpt)}\n")
        self._file.flush()  # an interrupted replay still leaves a complete report
        self.count += len(rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _flat(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
