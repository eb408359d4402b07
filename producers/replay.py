"""`sentistream replay`: files to the posts topic, every row once, in order, at the chosen pace."""

from __future__ import annotations

import bisect
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from producers.errors import InputError, PacingError
from producers.mapping import ColumnMap, Mapper, PostBatch
from producers.pacing import Pacer
from producers.progress import Progress, RunStats
from producers.records import KeyBy, encode_keys, encode_values
from producers.report import BadRowReport
from producers.sink import Sink
from producers.sources import (
    BATCH_ROWS,
    Format,
    detect_format,
    estimate_rows,
    open_binary,
    read_rows,
)
from producers.timefmt import iso_utc_many

log = logging.getLogger(__name__)
Order = Literal["auto", "file", "time"]
LOOP_GAP_S = 1.0  # between the last post of one pass and the first of the next (--loop)
SLEEP_MAX_S = 0.05  # pacing sleeps at most this long, so Ctrl-C and progress stay responsive


@dataclass(frozen=True)
class ReplayOptions:
    paths: tuple[str, ...]
    columns: ColumnMap = ColumnMap()
    fmt: Format | None = None
    limit: int | None = None
    loop: bool = False
    rebase_time: bool = False
    order: Order = "auto"
    key_by: KeyBy = "brand"


class Replay:
    """Reads, maps, orders and paces; the sink sends. Bad rows go to the report, never stop it."""

    def __init__(self, options: ReplayOptions, sink: Sink, pacer: Pacer, stats: RunStats,
                 progress: Progress, report: BadRowReport) -> None:
        if options.loop and "-" in options.paths:
            raise InputError("--loop cannot re-read stdin; replay a file instead")
        self.options, self.sink, self.pacer = options, sink, pacer
        self.stats, self.progress, self.report = stats, progress, report
        self._start_epoch: float | None = None
        self._first_time: float | None = None

    def run(self) -> None:
        first = self._first_pass()
        buffered = first if isinstance(first, list) else None
        rows = (sum(map(len, buffered)) if buffered is not None
                else estimate_rows(self.options.paths))
        self.progress.total = _progress_total(rows, self.options.limit, self.options.loop)
        shift, batches = 0.0, iter(first)
        while True:
            span: list[float] = []
            read_before = self.stats.read
            for batch in batches:
                if not self._send(batch, shift, span):
                    return  # --limit reached
            if not self.options.loop or self.stats.read == read_before:
                return  # done, or an input with nothing to send would loop forever
            if span:
                shift += span[1] - span[0] + LOOP_GAP_S  # the next pass continues the timeline
            batches = iter(buffered) if buffered is not None else self._stream(report_bad=False)

    # -- input ---------------------------------------------------------------------------------
    def _first_pass(self) -> list[PostBatch] | Iterator[PostBatch]:
        """Batches in the order to send them: streamed, or buffered and sorted by time."""
        stream = self._stream(report_bad=True)
        order = self.options.order
        if order == "file" or (order == "auto" and "-" in self.options.paths):
            return stream  # stdin may never end: it streams in arrival order
        if order == "auto":
            first = next(stream, None)
            if first is None:
                return []
            if all(t is None for t in first.times):
                return itertools.chain([first], stream)  # no timestamps: nothing to sort
            return self._sorted([first, *stream])
        return self._sorted(list(stream))

    def _stream(self, report_bad: bool) -> Iterator[PostBatch]:
        for path in self.options.paths:
            mapper = Mapper(self.options.columns)
            with open_binary(path) as stream:
                fmt = self.options.fmt or detect_format(path, stream)
                raws = read_rows(stream, fmt, encoding=self.options.columns.encoding,
                                 fieldnames=self.options.columns.fieldnames)
                for raw in raws:
                    batch = mapper.map(raw)
                    if report_bad and batch.bad:
                        self.report.add(path, batch.bad)
                        self.stats.skipped += len(batch.bad)
                        self.stats.read += len(batch.bad)
                    yield batch

    def _sorted(self, batches: list[PostBatch]) -> list[PostBatch]:
        """The whole input, sorted by time when it is not already (stable)."""
        times = [t for b in batches for t in b.times]
        filled, last = [], float("-inf")
        for t in times:  # rows without a time keep their place after the row before them
            last = t if t is not None else last
            filled.append(last)
        if all(a <= b for a, b in itertools.pairwise(filled)):
            return batches
        log.warning("input is not in time order: replaying its %d posts sorted by time",
                    len(filled))
        posts = [p for b in batches for p in b.posts]
        lines = [n for b in batches for n in b.lines]
        order = sorted(range(len(filled)), key=filled.__getitem__)
        return [PostBatch(posts=[posts[i] for i in chunk], times=[times[i] for i in chunk],
                          lines=[lines[i] for i in chunk])
                for chunk in (order[k:k + BATCH_ROWS] for k in range(0, len(order), BATCH_ROWS))]

    # -- output --------------------------------------------------------------------------------
    def _send(self, batch: PostBatch, shift: float, span: list[float]) -> bool:
        """Send one batch at its pace; False once --limit is reached."""
        posts, times = batch.posts, batch.times
        limit = self.options.limit
        room = None if limit is None else limit - self.stats.read + self.stats.skipped
        if room is not None and room <= 0:
            return False
        if room is not None and room < len(posts):
            posts, times = posts[:room], times[:room]
        if not posts:
            return True
        vtimes = [None if t is None else t + shift for t in times]
        if self.pacer.mode == "speed" and self.pacer.first_time is None \
                and all(t is None for t in vtimes):
            raise PacingError("--speed follows the rows' timestamps and these rows have none; "
                              "name the column with --time-column, or pace with --rate N")
        _track_span(vtimes, span)
        self._stamp(posts, vtimes if self.options.rebase_time else times)
        keys, values = encode_keys(posts, self.options.key_by), encode_values(posts)
        due = self.pacer.due(vtimes)
        self.stats.read += len(posts)
        if due is None:
            self.sink.send(keys, values)
            self._tick()
            return True
        i, n = 0, len(posts)
        while i < n:
            now = time.monotonic()
            j = bisect.bisect_right(due, now, i)
            if j == i:
                time.sleep(min(due[i] - now, SLEEP_MAX_S))
            else:
                self.sink.send(keys[i:j], values[i:j])
                i = j
            self._tick()
        return True

    def _stamp(self, posts: list[dict[str, object]], times: list[float | None]) -> None:
        """Write ``created_at`` (ISO-8601 UTC), rebased to "now" with --rebase-time."""
        known = [(i, t) for i, t in enumerate(times) if t is not None]
        if not known:
            return
        epochs = [t for _, t in known]
        if self.options.rebase_time:
            if self._start_epoch is None or self._first_time is None:
                self._start_epoch, self._first_time = time.time(), epochs[0]
            start, first = self._start_epoch, self._first_time
            epochs = [self.pacer.created_at(t, start, first) for t in epochs]
        for (i, _), stamp in zip(known, iso_utc_many(epochs), strict=True):
            posts[i]["created_at"] = stamp

    def _tick(self) -> None:
        self.stats.sent, self.stats.failed = self.sink.acked, self.sink.failed
        self.progress.update(self.stats)


def _progress_total(rows: int | None, limit: int | None, loop: bool) -> int | None:
    """Posts this run will send, when that can be known (for the progress bar's ETA)."""
    if limit is not None and (loop or rows is None or limit < rows):
        return limit
    return None if loop else rows


def _track_span(times: list[float | None], span: list[float]) -> None:
    known = [t for t in times if t is not None]
    if not known:
        return
    lo, hi = min(known), max(known)
    if span:
        span[0], span[1] = min(span[0], lo), max(span[1], hi)
    else:
        span.extend((lo, hi))
