"""Input files to batches of raw rows: CSV, JSON Lines or a JSON array, plain or gzip, or stdin.

Rows come with the line they start on, so a bad row can be reported where a person finds it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

import orjson

from producers.compressed import open_binary
from producers.json_array import read_json_array
from producers.rows import BATCH_ROWS, RawBatch, ReadLimits, batch_full

__all__ = ["BATCH_ROWS", "FORMATS", "Format", "RawBatch", "ReadLimits", "capped_lines",
           "detect_format", "estimate_rows", "open_binary", "read_rows"]

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json")
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                                ".json": "json"}
_SKIP_CHUNK = 1 << 16
csv.field_size_limit(1 << 30)  # rows are capped in _CappedLines, before csv sees them


def detect_format(path: str, stream: IO[bytes]) -> Format:
    """From the name (``x.csv.gz``), else from the first non-blank byte."""
    name = Path(path).name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    head = _peek(stream).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def _peek(stream: IO[bytes]) -> bytes:
    peek = getattr(stream, "peek", None)
    return peek(4096)[:4096] if peek is not None else b""


def read_rows(stream: IO[bytes], fmt: Format, *, encoding: str = "utf-8",
              fieldnames: tuple[str, ...] | None = None,
              limits: ReadLimits | None = None) -> Iterator[RawBatch]:
    """Batches of rows; a row longer than ``limits.max_row_bytes`` is a bad row, not a read."""
    limits = limits or ReadLimits()
    if fmt == "csv":
        return _read_csv(stream, encoding, fieldnames, limits)
    if fmt == "jsonl":
        return _read_jsonl(stream, limits)
    return read_json_array(stream, limits)


class _RowTooLong(Exception):
    """The record being read went past the cap; the lines were skipped to its end."""


class _CappedLines:
    """Physical lines for csv.reader, each record capped at ``cap`` characters.

    csv.reader asks for one line at a time and for the next one only inside a quoted field. A
    record over the cap is skipped up to where its quotes balance (a doubled quote counts twice),
    then _RowTooLong tells the caller to start a fresh reader after it.
    """

    def __init__(self, text: IO[str], cap: int) -> None:
        self._readline, self.cap, self._ask = text.readline, cap, cap + 1
        self.number = 0  # physical lines read
        self.record_chars = 0  # of the record being read
        self._lines: list[str] = []  # of the record so far: quotes are counted only on a skip

    def __iter__(self) -> _CappedLines:
        return self

    def __next__(self) -> str:
        line = self._readline(self._ask)
        if not line:
            raise StopIteration
        self.number += 1
        self.record_chars += len(line)
        if self.record_chars > self.cap:
            self._skip_record(line)
            raise _RowTooLong
        self._lines.append(line)
        return line

    def record_done(self) -> None:
        self.record_chars = 0
        self._lines.clear()

    def _skip_record(self, line: str) -> None:
        quotes = sum(held.count('"') for held in self._lines) + line.count('"')
        ended = line.endswith(("\n", "\r"))
        while not ended or quotes % 2:
            line = self._readline(_SKIP_CHUNK)
            if not line:
                break
            if ended:
                self.number += 1  # a new physical line begins
            ended = line.endswith(("\n", "\r"))
            quotes += line.count('"')
        self.record_done()


def _read_csv(stream: IO[bytes], encoding: str, fieldnames: tuple[str, ...] | None,
              limits: ReadLimits) -> Iterator[RawBatch]:
    # errors="replace": one undecodable byte must cost one row (the mapper rejects texts with
    # U+FFFD), not abort the whole file mid-way.
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    header = list(fieldnames) if fieldnames else None
    batch = RawBatch()
    for start, row, size in _csv_records(_CappedLines(text, limits.max_row_bytes)):
        if isinstance(row, str):
            batch.bad.append((start, row, ""))
        elif header is None:
            header = [h.strip() for h in row]
            continue
        elif not row:
            continue
        elif fieldnames and start == 1 and row[0].strip().lower() in _HEADER_WORDS:
            continue  # a copy of a headerless dataset that gained a header line
        elif len(row) != len(header):
            batch.bad.append((start, f"expected {len(header)} fields, got {len(row)}",
                              ",".join(row)[:120]))
        else:
            batch.lines.append(start)
            batch.rows.append(dict(zip(header, row, strict=True)))
            batch.size += size
        if batch_full(batch, limits):  # bad rows count: a file of them comes in batches too
            yield batch
            batch = RawBatch()
    if batch.rows or batch.bad:
        yield batch


def _csv_records(lines: _CappedLines) -> Iterator[tuple[int, list[str] | str, int]]:
    """(first line, fields or why the record is bad, characters) of each record."""
    reader = csv.reader(lines)
    prev_line = 0
    while True:
        try:
            row: list[str] | str = next(reader)
        except StopIteration:
            return
        except _RowTooLong:
            row = f"row longer than {lines.cap} characters (--max-row-bytes)"
            reader = csv.reader(lines)  # the old reader may hold half a record
        except csv.Error as exc:
            row = f"unparseable CSV: {exc}"
        start, prev_line = prev_line + 1, lines.number
        size = lines.record_chars
        lines.record_done()
        yield start, row, size


_HEADER_WORDS = {"polarity", "target", "sentiment", "label", "id", "text"}


def _read_jsonl(stream: IO[bytes], limits: ReadLimits) -> Iterator[RawBatch]:
    batch = RawBatch()
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    readline, cap = stream.readline, limits.max_row_bytes
    number = 0
    while line := readline(cap + 1):
        number += 1
        if len(line) > cap and not line.endswith(b"\n"):
            batch.bad.append((number, f"line longer than {cap} bytes (--max-row-bytes)",
                              _excerpt(line)))
            while (rest := readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass  # the rest of the line is dropped as it is read
        elif not line.strip():
            continue
        else:
            try:
                row = loads(line)
            except decode_error as exc:
                row = f"invalid JSON: {exc}"
            if isinstance(row, dict):
                batch.lines.append(number)
                batch.rows.append(row)
                batch.size += len(line)
            else:
                reason = row if isinstance(row, str) else "not a JSON object"
                batch.bad.append((number, reason, _excerpt(line)))
        if batch_full(batch, limits):  # bad rows count: a file of them comes in batches too
            yield batch
            batch = RawBatch()
    if batch.rows or batch.bad:
        yield batch


def capped_lines(stream: IO[bytes], cap: int) -> Iterator[bytes]:
    """Lines of at most ``cap`` bytes; a longer one is dropped as it is read and yields b""."""
    readline = stream.readline
    while line := readline(cap + 1):
        if len(line) > cap and not line.endswith(b"\n"):
            while (rest := readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass
            line = b""
        yield line


def _excerpt(line: bytes) -> str:
    return line[:120].decode("utf-8", "replace").rstrip()


def estimate_rows(paths: tuple[str, ...]) -> int | None:
    """Rows in plain files, from a count of their lines (for the ETA); None for stdin or gzip."""
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            with open(path, "rb") as f:
                if f.read(2) == b"\x1f\x8b":
                    return None
                f.seek(0)
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except OSError:
            return None  # open_binary reports it properly
        # A CSV header is not a row; a quoted newline inside a field makes this an estimate.
        total += lines - 1 if path.lower().removesuffix(".gz").endswith(".csv") else lines
    return total
