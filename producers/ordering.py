"""The replay's time order: sort in memory what fits under a size limit, stream the rest as is.

``--order auto`` holds batches until the input ends or passes the limit: below it, the rows are
sorted by time when they are not already; past it, they go out in file order (the held batches
first) and the run says how many rows were out of order. ``--order time`` refuses an input over
the limit instead of replaying it out of order. Either way, the note says what was done.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Literal

from producers.errors import InputError
from producers.mapping import PostBatch
from producers.rows import BATCH_ROWS

Order = Literal["auto", "file", "time"]
MIB = 1 << 20
Pass = tuple[list[PostBatch] | None, Iterator[PostBatch]]  # (held and sorted, or a stream)


class TimeOrder:
    """Orders a replay's first pass; its notes say what it did, for the run's summary."""

    def __init__(self, order: Order, paths: tuple[str, ...], sort_max_bytes: int,
                 row_limit: int | None = None) -> None:
        self.order, self.paths, self.limit = order, paths, sort_max_bytes
        self.row_limit = row_limit
        self.notes: list[str] = []
        self._streamed: str | None = None  # why rows streamed in file order, if they did
        self._last = float("-inf")
        self._rows = self._earlier = 0

    def first_pass(self, stream: Iterator[PostBatch]) -> Pass:
        """Batches held and sorted (reusable by --loop), or an iterator in file order."""
        if self.order == "file":
            return None, stream
        if self.order == "auto" and "-" in self.paths:
            self.notes.append("order: stdin streams in arrival order")
            return None, stream
        # Under --limit only the first rows are read, and they may well fit: hold and see.
        size = _plain_size(self.paths) if self.row_limit is None else None
        if size is not None and size > self.limit:
            return None, self._stream(iter(()), stream, f"the input ({_size(size)})")
        held: list[PostBatch] = []
        held_bytes, timed = 0, self.order == "time"
        for batch in stream:
            held.append(batch)
            held_bytes += batch.size
            if not timed and batch.posts:
                if all(t is None for t in batch.times):
                    self.notes.append("order: file order (the rows have no timestamps)")
                    return None, itertools.chain(held, stream)
                timed = True
            if held_bytes > self.limit:
                return None, self._stream(held, stream, "the input")
        return self._sorted(held), iter(())

    def finish(self) -> None:
        """Add the note of a streamed pass, once its rows have gone out."""
        if self._streamed is None:
            return
        found = (f"{self._earlier:,} rows were earlier than the row before them"
                 if self._earlier else "they were in time order")
        self.notes.append(f"order: streamed in file order ({self._rows:,} rows): {self._streamed} "
                          f"is over the {_size(self.limit)} in-memory sort limit "
                          f"(--sort-max-mib); {found}")

    def _stream(self, held: Iterable[PostBatch], rest: Iterator[PostBatch],
                what: str) -> Iterator[PostBatch]:
        if self.order == "time":
            raise InputError(
                f"--order time: {what} is over the {_size(self.limit)} in-memory sort "
                "limit; raise it (--sort-max-mib, SENTISTREAM_REPLAY_SORT_MAX_MIB), or sort the "
                "file by time beforehand and replay it with --order file")
        self._streamed = what
        return self._watch(itertools.chain(held, rest))

    def _watch(self, batches: Iterator[PostBatch]) -> Iterator[PostBatch]:
        for batch in batches:
            for t in batch.times:
                if t is not None:
                    self._earlier += t < self._last
                    self._last = t
            self._rows += len(batch)
            yield batch

    def _sorted(self, batches: list[PostBatch]) -> list[PostBatch]:
        """The held input, sorted by time when it is not already (stable)."""
        times = [t for b in batches for t in b.times]
        filled, last = [], float("-inf")
        for t in times:  # rows without a time keep their place after the row before them
            last = t if t is not None else last
            filled.append(last)
        if all(a <= b for a, b in itertools.pairwise(filled)):
            self.notes.append(f"order: {len(filled):,} rows, already in time order")
            return batches
        self.notes.append(f"order: sorted {len(filled):,} rows by time in memory")
        posts = [p for b in batches for p in b.posts]
        lines = [n for b in batches for n in b.lines]
        order = sorted(range(len(filled)), key=filled.__getitem__)
        return [PostBatch(posts=[posts[i] for i in chunk], times=[times[i] for i in chunk],
                          lines=[lines[i] for i in chunk])
                for chunk in (order[k:k + BATCH_ROWS] for k in range(0, len(order), BATCH_ROWS))]


def _plain_size(paths: tuple[str, ...]) -> int | None:
    """Bytes of the inputs when all are plain files; None when one is stdin or gzipped."""
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                if f.read(2) == b"\x1f\x8b":
                    return None
                total += os.fstat(f.fileno()).st_size
        except OSError:
            return None  # open_binary reports it properly
    return total


def _size(n: int) -> str:
    return f"{n / MIB:,.1f} MiB" if n >= MIB else f"{n / 1024:,.1f} KiB"
