"""Input files to batches of raw rows: CSV, JSON Lines or a JSON array, plain or gzip, or stdin.

Rows come with the line they start on, so a bad row can be reported where a person finds it.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from producers.errors import InputError

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json")
BATCH_ROWS = 8192
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                                ".json": "json"}
csv.field_size_limit(1 << 24)  # long posts are the stream's business (dead letters), not ours


@dataclass
class RawBatch:
    """Rows as dicts with their line numbers, plus the lines that could not be parsed at all."""

    lines: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, excerpt)


def open_binary(path: str) -> IO[bytes]:
    """The file (or stdin for ``-``), transparently gunzipped."""
    try:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror}") from exc
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


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
              fieldnames: tuple[str, ...] | None = None) -> Iterator[RawBatch]:
    if fmt == "csv":
        return _read_csv(stream, encoding, fieldnames)
    if fmt == "jsonl":
        return _read_jsonl(stream)
    return _read_json_array(stream)


def _read_csv(stream: IO[bytes], encoding: str,
              fieldnames: tuple[str, ...] | None) -> Iterator[RawBatch]:
    # errors="replace": one undecodable byte must cost one row (the mapper rejects texts with
    # U+FFFD), not abort the whole file mid-way.
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text)
    header = list(fieldnames) if fieldnames else None
    batch = RawBatch()
    prev_line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            batch.bad.append((prev_line + 1, f"unparseable CSV: {exc}", ""))
            prev_line = reader.line_num
            continue
        start, prev_line = prev_line + 1, reader.line_num
        if header is None:
            header = [h.strip() for h in row]
            continue
        if not row:
            continue
        if fieldnames and start == 1 and row[0].strip().lower() in _HEADER_WORDS:
            continue  # a copy of a headerless dataset that gained a header line
        if len(row) != len(header):
            batch.bad.append((start, f"expected {len(header)} fields, got {len(row)}",
                              ",".join(row)[:120]))
            continue
        batch.lines.append(start)
        batch.rows.append(dict(zip(header, row, strict=True)))
        if len(batch.rows) >= BATCH_ROWS:
            yield batch
            batch = RawBatch()
    if batch.rows or batch.bad:
        yield batch


_HEADER_WORDS = {"polarity", "target", "sentiment", "label", "id", "text"}


def _read_jsonl(stream: IO[bytes]) -> Iterator[RawBatch]:
    batch = RawBatch()
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except decode_error as exc:
            batch.bad.append((number, f"invalid JSON: {exc}", _excerpt(line)))
            continue
        if not isinstance(row, dict):
            batch.bad.append((number, "not a JSON object", _excerpt(line)))
            continue
        batch.lines.append(number)
        batch.rows.append(row)
        if len(batch.rows) >= BATCH_ROWS:
            yield batch
            batch = RawBatch()
    if batch.rows or batch.bad:
        yield batch


def _excerpt(line: bytes) -> str:
    return line[:120].decode("utf-8", "replace").rstrip()


def _read_json_array(stream: IO[bytes]) -> Iterator[RawBatch]:
    # A JSON array has no lines per row: the report gives the item's 1-based position instead.
    try:
        data = orjson.loads(stream.read())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not a JSON array ({exc}); name JSON Lines files *.jsonl "
                         "or pass --format jsonl") from exc
    if not isinstance(data, list):
        raise InputError("a .json input must hold one array of post objects")
    for first in range(0, len(data), BATCH_ROWS):
        batch = RawBatch()
        for number, row in enumerate(data[first:first + BATCH_ROWS], first + 1):
            if isinstance(row, dict):
                batch.lines.append(number)
                batch.rows.append(row)
            else:
                batch.bad.append((number, "item is not a JSON object", repr(row)[:120]))
        yield batch


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
