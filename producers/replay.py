"""`sentistream replay`: files to the posts topic, every row once, in order, at the chosen pace."""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from producers.errors import InputError, PacingError
from producers.mapping import ColumnMap, Mapper, PostBatch
from producers.ordering import Order, TimeOrder
from producers.pacing import Pacer
from producers.progress import Progress, RunStats
from producers.records import KeyBy, encode_keys, encode_values
from producers.report import BadRowReport
from producers.rows import BATCH_ROWS, MAX_ROW_BYTES
from producers.sink import Sink
from producers.sources import (
    Format,
    ReadLimits,
    detect_format,
    estimate_rows,
    open_binary,
    read_rows,
)
from producers.timefmt import iso_utc_many

log = logging.getLogger(__name__)
MIB = 1 << 20
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
    max_row_bytes: int = MAX_ROW_BYTES  # longer rows are bad rows
    max_decompressed_bytes: int | None = 4096 * MIB  # a gzip input inflating further stops
    sort_max_bytes: int = 16 * MIB  # larger inputs are not sorted in memory


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
        self._taken = 0  # posts the inputs have yielded so far, over every pass

    def run(self) -> None:
        options = self.options
        ordering = TimeOrder(options.order, options.paths, options.sort_max_bytes, options.limit)
        buffered, batches = ordering.first_pass(self._stream(report_bad=True))
        rows = (sum(map(len, buffered)) if buffered is not None else
                None if options.limit is not None else estimate_rows(options.paths))
        self.progress.total = _progress_total(rows, options.limit, options.loop)
        if buffered is not None:
            batches = iter(buffered)
        shift = 0.0
        try:
            while True:
                span: list[float] = []
                read_before = self.stats.read
                for batch in batches:
                    if not self._send(batch, shift, span):
                        return  # --limit reached
                if not options.loop or self.stats.read == read_before:
                    return  # done, or an input with nothing to send would loop forever
                if span:
                    shift += span[1] - span[0] + LOOP_GAP_S  # the next pass continues the timeline
                batches = (iter(buffered) if buffered is not None else
                           self._stream(report_bad=False))
        finally:
            ordering.finish()
            self.stats.notes += ordering.notes

    # -- input ---------------------------------------------------------------------------------
    def _stream(self, report_bad: bool) -> Iterator[PostBatch]:
        """Mapped batches of every input; under --limit, no row past what the limit leaves."""
        options = self.options
        limits = ReadLimits(max_row_bytes=options.max_row_bytes)
        for path in options.paths:
            mapper = Mapper(options.columns)
            with open_binary(path, options.max_decompressed_bytes) as stream:
                fmt = options.fmt or detect_format(path, stream)
                raws = read_rows(stream, fmt, encoding=options.columns.encoding,
                                 fieldnames=options.columns.fieldnames, limits=limits)
                while (left := self._room()) is None or left > 0:
                    limits.batch_rows = BATCH_ROWS if left is None else min(BATCH_ROWS, left)
                    raw = next(raws, None)
                    if raw is None:
                        break
                    batch = mapper.map(raw)
                    if report_bad and batch.bad:
                        self.report.add(path, batch.bad)
                        self.stats.skipped += len(batch.bad)
                        self.stats.read += len(batch.bad)
                    self._taken += len(batch)
                    yield batch
            if (left := self._room()) is not None and left <= 0:
                return

    def _room(self) -> int | None:
        """Posts --limit still lets the input yield (None: no limit)."""
        limit = self.options.limit
        return None if limit is None else limit - self._taken

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
