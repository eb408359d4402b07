"""A JSON array read item by item: memory holds one read chunk and one item, whatever the file.

Each item's extent is found in the bytes, then orjson parses just that slice. Post objects take a
fast path: the slice up to a ``}`` that orjson accepts is the item (a valid JSON value is never a
proper prefix of a longer one). Anything else (nested braces in strings, scalars, huge items) goes
through a scanner that tracks strings and nesting with regexes over whole chunks.

An item longer than the row cap is skipped to its end and reported, so the items around it
survive. Damage that loses the array's structure (a missing comma, a truncated file, nesting
deeper than orjson reads) is reported once, and the rest of that file is not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import orjson

from producers.errors import InputError
from producers.rows import RawBatch, ReadLimits, batch_full

_CHUNK = 1 << 20
_REFILL_BELOW = 1 << 16  # read ahead before an item when less than this is buffered
_FAST_TRIES = 4  # '}' candidates tried before the scanner takes over
_MAX_DEPTH = 1024  # orjson's own nesting limit: deeper items can never parse
_WS_BYTES = b" \t\r\n"
_WS = re.compile(rb"[ \t\r\n]*")
_OUTSIDE = re.compile(rb'["{}\[\],]')
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET, _COMMA, _QUOTE = b'{}[],"'


class _Broken(Exception):
    """The array's structure is lost here: report it and stop reading the file."""


class _Window:
    """Unread bytes of the stream: ``data[pos:]``, refilled a chunk at a time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._read = stream.read
        self.data = b""
        self.pos = 0
        self.offset = 0  # the stream offset of data[0], for error messages
        self.eof = False

    def more(self, keep_from: int) -> int:
        """Append a chunk, dropping ``data[:keep_from]``; returns how far indices moved (0: EOF)."""
        chunk = b"" if self.eof else self._read(_CHUNK)
        if not chunk:
            self.eof = True
            return 0
        self.data = self.data[keep_from:] + chunk
        self.pos -= keep_from
        self.offset += keep_from
        return keep_from or -1  # -1: moved by nothing, yet more data came

    def skip_ws(self) -> bool:
        """Move past whitespace; False at the end of the stream."""
        if self.pos < len(self.data) and self.data[self.pos] not in _WS_BYTES:
            return True  # compact JSON: no regex call per item
        while True:
            match = _WS.match(self.data, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.data):
                return True
            if not self.more(self.pos):
                return False


def read_json_array(stream: IO[bytes], limits: ReadLimits) -> Iterator[RawBatch]:
    """Batches of the array's object items; a row's "line" is its 1-based item number."""
    window = _Window(stream)
    if not window.skip_ws() or window.data[window.pos] != _LBRACKET:
        head = window.data[window.pos:window.pos + 1].decode("latin-1") or "nothing"
        raise InputError(f"not a JSON array: it starts with {head!r}; name JSON Lines files "
                         "*.jsonl or pass --format jsonl")
    window.pos += 1
    batch, number, at = RawBatch(), 0, 1  # at: the item a broken structure is reported on
    try:
        while True:
            at = number + 1
            if not window.skip_ws():
                raise _Broken(f"the file ends inside the array, after item {number} (truncated?)")
            byte = window.data[window.pos]
            if byte == _RBRACKET:
                window.pos += 1
                if window.skip_ws():
                    batch.bad.append((number + 1, "data after the array's closing ']' ignored",
                                      _excerpt(window.data, window.pos)))
                break
            if number:
                if byte != _COMMA:
                    raise _Broken(f"expected ',' or ']' after item {number} (byte "
                                  f"{window.offset + window.pos}); the rest was not read")
                window.pos += 1
                if not window.skip_ws():
                    raise _Broken(f"the file ends after item {number} (truncated?)")
            number += 1
            _read_item(window, limits.max_row_bytes, number, batch)
            if batch_full(batch, limits):
                yield batch
                batch = RawBatch()
    except _Broken as exc:
        batch.bad.append((at, f"invalid JSON array: {exc}", ""))
    if batch.rows or batch.bad:
        yield batch


def _read_item(window: _Window, cap: int, number: int, batch: RawBatch) -> None:
    if len(window.data) - window.pos < _REFILL_BELOW:
        window.more(window.pos)
    start = window.pos
    row: Any = _fast_object(window, cap) if window.data[start] == _LBRACE else None
    if row is None:
        excerpt = window.data[start:start + 120]
        end = _item_end(window, cap)
        if end is None:
            batch.bad.append((number, f"item longer than {cap} bytes (--max-row-bytes)",
                              _excerpt(excerpt)))
            return
        data, start, window.pos = window.data, window.pos, end
        try:
            row = orjson.loads(data[start:end])
        except orjson.JSONDecodeError as exc:
            batch.bad.append((number, f"invalid JSON: {exc}", _excerpt(excerpt)))
            return
        if not isinstance(row, dict):
            batch.bad.append((number, "item is not a JSON object", _excerpt(excerpt)))
            return
    batch.lines.append(number)
    batch.rows.append(row)
    batch.size += window.pos - start


def _fast_object(window: _Window, cap: int) -> dict[str, Any] | None:
    """The object at ``pos`` when a short '}'-ended slice parses; None sends it to the scanner."""
    data, start = window.data, window.pos
    stop = min(len(data), start + cap)
    end = data.find(b"}", start, stop)
    for _ in range(_FAST_TRIES):
        if end < 0:
            return None
        try:
            row = orjson.loads(data[start:end + 1])
        except orjson.JSONDecodeError:
            end = data.find(b"}", end + 1, stop)
            continue
        window.pos = end + 1
        return row  # type: ignore[no-any-return]  # '{'...'}' parses to a dict
    return None


def _item_end(window: _Window, cap: int) -> int | None:
    """Where the item at ``pos`` ends (exclusive), or None when it is longer than ``cap``.

    A too-long item is skipped to its end without being kept: ``pos`` is then past it.
    """
    depth, in_string, i, skipping = 0, False, window.pos, False
    while True:
        data = window.data
        if i >= len(data):
            skipping = skipping or i - window.pos > cap
            keep = min(i, len(data)) if skipping else window.pos
            moved = window.more(keep)
            if not moved:
                raise _Broken("the file ends inside an item (truncated?)")
            i -= max(moved, 0)
            if skipping:
                window.pos = 0
            continue
        if in_string:  # find() (memchr), not a regex: texts are the long spans of an item
            quote = data.find(b'"', i)
            escape = data.find(b"\\", i, len(data) if quote < 0 else quote)
            if escape >= 0:
                i = escape + 2  # may point past the chunk: the refill keeps it right
            elif quote >= 0:
                in_string, i = False, quote + 1
            else:
                i = len(data)
            continue
        match = _OUTSIDE.search(data, i)
        if match is None:
            i = len(data)
            continue
        byte, i = data[match.start()], match.end()
        if byte == _QUOTE:
            in_string = True
            continue
        if byte in (_LBRACE, _LBRACKET):
            depth += 1
            if depth > _MAX_DEPTH:
                raise _Broken(f"an item nests deeper than {_MAX_DEPTH} levels")
            continue
        if depth > 0 and byte == _COMMA:
            continue
        if depth == 0 or byte == _COMMA:  # a scalar item ends before ',' or the array's ']'
            end = match.start()
        else:
            depth -= 1
            if depth:
                continue
            end = i
        if skipping or end - window.pos > cap:
            window.pos = end
            return None
        return end


def _excerpt(data: bytes, start: int = 0) -> str:
    return data[start:start + 120].decode("utf-8", "replace")
