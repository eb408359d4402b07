"""Read a whole input file the way `replay` does (open, detect, read rows, map), for tests."""

from __future__ import annotations

from pathlib import Path

from producers.mapping import ColumnMap, Mapper, PostBatch
from producers.sources import ReadLimits, detect_format, open_binary, read_rows


def load(path: Path | str, columns: ColumnMap | None = None, limits: ReadLimits | None = None,
         max_decompressed: int | None = None) -> PostBatch:
    """Every post, time, line and bad row of ``path``, in one batch."""
    columns = columns or ColumnMap()
    out = PostBatch()
    mapper = Mapper(columns)
    with open_binary(str(path), max_decompressed) as stream:
        fmt = detect_format(str(path), stream)
        for raw in read_rows(stream, fmt, encoding=columns.encoding,
                             fieldnames=columns.fieldnames, limits=limits):
            batch = mapper.map(raw)
            out.posts += batch.posts
            out.times += batch.times
            out.lines += batch.lines
            out.bad += batch.bad
    return out
