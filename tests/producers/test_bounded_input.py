"""Hostile input files cost bounded memory: streamed JSON arrays, capped rows and inflation.

No server: the readers and the replay's ordering run against files written here, with small caps
so that each bound is crossed with small inputs.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import zstandard

from producers.errors import InputError
from producers.mapping import PostBatch
from producers.pacing import Pacer
from producers.progress import Progress, RunStats
from producers.replay import Replay, ReplayOptions
from producers.report import BadRowReport
from producers.sources import ReadLimits, detect_format, open_binary, read_rows
from tests.producers.files import load

MIB = 1 << 20



def peak_traced_mib(work: Callable[[], object]) -> float:
    """Peak of the Python heap while ``work`` runs, above what was allocated before it."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        work()
        return (tracemalloc.get_traced_memory()[1] - before) / MIB
    finally:
        tracemalloc.stop()


def count_rows(path: Path, limits: ReadLimits | None = None) -> int:
    rows = 0
    with open_binary(str(path)) as stream:
        for raw in read_rows(stream, detect_format(str(path), stream), limits=limits):
            rows += len(raw.rows)
    return rows


def post(i: int) -> dict[str, object]:
    return {"id": f"p{i}", "text": f"post number {i} about nothing much",
            "created_at": 1_700_000_000 + i, "brand": "acme"}


# -- JSON arrays ---------------------------------------------------------------------------------
def test_a_gzipped_json_array_is_streamed_not_loaded_whole(tmp_path: Path) -> None:
    # The case: a small .json.gz that inflates to an array far larger than memory should
    # hold. 200,000 rows (~20 MB of JSON) must be read a batch at a time.
    path = tmp_path / "posts.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps([post(i) for i in range(200_000)])))
    assert path.stat().st_size < 2 * MIB
    counted: list[int] = []
    peak = peak_traced_mib(lambda: counted.append(count_rows(path, ReadLimits(batch_rows=1000))))
    assert counted == [200_000]
    assert peak < 8, f"reading held {peak:.1f} MiB at once"


def test_a_huge_json_array_item_is_a_bad_row_and_its_neighbours_survive(tmp_path: Path) -> None:
    items: list[object] = [
        post(1),
        {"id": "big", "text": "x" * (16 * MIB)},
        post(3),
        "junk",
        {"id": "tricky", "text": 'braces } ] { [ and "quotes" and \\ inside', "n": {"a": [1]}},
        [1, 2, {"b": "]"}],
        post(7),
    ]
    path = tmp_path / "items.json"
    path.write_bytes(orjson.dumps(items, option=orjson.OPT_INDENT_2))
    got: list[PostBatch] = []
    peak = peak_traced_mib(lambda: got.append(load(path, limits=ReadLimits(max_row_bytes=MIB))))
    posts = got[0]
    assert [p["id"] for p in posts.posts] == ["p1", "p3", "tricky", "p7"]
    assert posts.posts[2]["text"] == 'braces } ] { [ and "quotes" and \\ inside'
    bad = {n: reason for n, reason, _ in posts.bad}
    assert set(bad) == {2, 4, 6}
    assert "longer than 1048576 bytes" in bad[2]
    assert "not a JSON object" in bad[4] and "not a JSON object" in bad[6]
    assert peak < 8, f"a 16 MiB item cost {peak:.1f} MiB"  # a few chunks, not the item


@pytest.mark.parametrize("cap,kept", [(MIB, False), (4 * MIB, True)])
def test_escapes_across_read_chunks(tmp_path: Path, cap: int, kept: bool) -> None:
    # ~2.3 MB of escaped quotes and backslashes: the scanner meets escapes at chunk boundaries,
    # and must neither end the item early nor lose the items after it.
    text = '\\"' * 600_000 + " } ] , "
    path = tmp_path / "escapes.json"
    path.write_bytes(orjson.dumps([post(0), {"id": "esc", "text": text, "x": [{}]}, post(2)]))
    got = load(path, limits=ReadLimits(max_row_bytes=cap))
    assert [p["id"] for p in got.posts] == (["p0", "esc", "p2"] if kept else ["p0", "p2"])
    if kept:
        assert got.posts[1]["text"] == text
    else:
        assert [n for n, _, _ in got.bad] == [2]


@pytest.mark.parametrize("body,posts,item,reason", [
    (b'[{"text": "a"}, {"text": "b"} {"text": "c"}]', ["a", "b"], 3, "expected ',' or ']'"),
    (b'[{"text": "a"}, {"text": "b"', ["a"], 2, "ends inside"),
    (b'[{"text": "a"}, {"text": b}, {"text": "c"}]', ["a", "c"], 2, "invalid JSON"),
    (b'[{"text": "a"}] {"text": "after"}', ["a"], 2, "after the array"),
    (b'[' * 5000 + b']' * 5000, [], 1, "deeper than"),
])
def test_broken_json_arrays_keep_what_came_before(
        tmp_path: Path, body: bytes, posts: list[str], item: int, reason: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(body)
    got = load(path)
    assert [p["text"] for p in got.posts] == posts
    assert [(n, reason in r) for n, r, _ in got.bad] == [(item, True)], got.bad


def test_a_json_lines_file_named_json_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_bytes(b'{"text": "a"}\n{"text": "b"}\n')
    with pytest.raises(InputError, match="--format jsonl"):
        load(path)


# -- line caps -----------------------------------------------------------------------------------
def test_a_jsonl_line_over_the_cap_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    long_line = orjson.dumps({"id": "long", "text": "y" * (3 * MIB)})
    path.write_bytes(b"\n".join([orjson.dumps(post(1)), long_line, orjson.dumps(post(3))]) + b"\n")
    got: list[PostBatch] = []
    peak = peak_traced_mib(lambda: got.append(load(path, limits=ReadLimits(max_row_bytes=MIB))))
    assert [p["id"] for p in got[0].posts] == ["p1", "p3"]
    assert got[0].lines == [1, 3]
    assert [(n, "longer than 1048576 bytes" in r) for n, r, _ in got[0].bad] == [(2, True)]
    assert peak < 3, f"a 3 MiB line cost {peak:.1f} MiB"


def test_a_csv_line_or_quoted_record_over_the_cap_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("id,text\n"
                    "1,first\n"
                    f"2,{'z' * 5000}\n"
                    "3,third\n"
                    '4,"a quoted record\n' + ("that goes on\n" * 500) + '"\n'
                    "5,fifth\n")
    got = load(path, limits=ReadLimits(max_row_bytes=1000))
    assert [p["id"] for p in got.posts] == ["1", "3", "5"]
    assert got.lines == [2, 4, 507]
    assert [n for n, _, _ in got.bad] == [3, 5]
    assert all("longer than 1000" in r for _, r, _ in got.bad)


def test_rows_under_the_cap_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(b"".join(orjson.dumps(post(i)) + b"\n" for i in range(50)))
    got = load(path, limits=ReadLimits(max_row_bytes=200))
    assert len(got.posts) == 50 and not got.bad


# -- decompression -------------------------------------------------------------------------------
def test_a_gzip_bomb_stops_at_the_decompressed_cap(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(orjson.dumps(post(1)) + b"\n" + b"\0" * (64 * MIB), 9))
    assert path.stat().st_size < 200_000
    with pytest.raises(InputError, match=r"more than 8 MiB.*--max-decompressed-mib"):
        load(path, max_decompressed=8 * MIB)


def test_gzip_under_the_cap_and_a_truncated_gzip(tmp_path: Path) -> None:
    body = b"".join(orjson.dumps(post(i)) + b"\n" for i in range(1000))
    path = tmp_path / "ok.jsonl.gz"
    path.write_bytes(gzip.compress(body))
    assert len(load(path, max_decompressed=len(body)).posts) == 1000
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load(cut)


@pytest.mark.parametrize("compress,name", [
    (bz2.compress, "bzip2"), (lzma.compress, "xz"),
    (lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
])
def test_other_compressions_are_named_not_read_as_text(
        tmp_path: Path, compress: Callable[[bytes], bytes], name: str) -> None:
    path = tmp_path / "posts.dat"
    path.write_bytes(compress(b'{"text": "a"}\n'))
    with pytest.raises(InputError, match=f"{name}.*decompress it first"):
        load(path)


# -- the replay: --limit and --order ----------------------------------------------------------
class CountingSink:
    """Keeps the ids it was given (the replay's reading, not Kafka, is under test here)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.acked = self.failed = 0

    def send(self, keys: list[bytes], values: list[bytes]) -> None:
        self.ids += [orjson.loads(v)["id"] for v in values]
        self.acked += len(values)


def replay(tmp_path: Path, *paths: Path, sink: CountingSink | None = None,
           **options: object) -> tuple[CountingSink, RunStats]:
    sink, stats = sink or CountingSink(), RunStats()
    opts = ReplayOptions(paths=tuple(map(str, paths)), **options)  # type: ignore[arg-type]
    Replay(opts, sink, Pacer("max"), stats, Progress(enabled=False),  # type: ignore[arg-type]
           BadRowReport(tmp_path / "bad.tsv")).run()
    return sink, stats


def bomb_after_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    """Good rows, then a tail that inflates far beyond any cap the test sets."""
    head = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    path.write_bytes(gzip.compress(head + b"\n" * (32 * MIB), 9))
    return path


@pytest.mark.parametrize("order", ["auto", "time", "file"])
def test_limit_stops_reading_before_a_tail_that_would_fail(tmp_path: Path, order: str) -> None:
    # Unsorted timestamps: before, --order auto read (and sorted) the whole input first.
    rows = [post(i) for i in (5, 3, 4, 1, 2, 0, 9, 8, 7, 6)]
    path = bomb_after_rows(tmp_path / "tail.jsonl.gz", rows)
    with pytest.raises(InputError, match="--max-decompressed-mib"):
        replay(tmp_path, path, order=order, max_decompressed_bytes=MIB)
    sink, stats = replay(tmp_path, path, order=order, limit=6, max_decompressed_bytes=MIB)
    assert stats.read == 6
    first_six = [f"p{i}" for i in (5, 3, 4, 1, 2, 0)]
    assert sink.ids == (first_six if order == "file" else sorted(first_six))


def test_limit_counts_posts_not_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([orjson.dumps(post(0)), b"{broken", b"[1]",
                                 orjson.dumps(post(1)), orjson.dumps(post(2))]) + b"\n")
    sink, stats = replay(tmp_path, path, limit=2)
    assert sink.ids == ["p0", "p1"] and stats.skipped == 2


def unsorted_jsonl(path: Path, n: int) -> Path:
    order = list(range(n))
    order[0], order[-1] = order[-1], order[0]  # two rows out of place
    path.write_bytes(b"".join(orjson.dumps(post(i)) + b"\n" for i in order))
    return path


def test_auto_order_sorts_a_small_input_in_memory_and_says_so(tmp_path: Path) -> None:
    sink, stats = replay(tmp_path, unsorted_jsonl(tmp_path / "u.jsonl", 50))
    assert sink.ids == [f"p{i}" for i in range(50)]
    assert any("sorted 50 rows by time in memory" in n for n in stats.notes), stats.notes


def test_auto_order_says_when_an_input_was_already_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps(post(i)) + b"\n" for i in range(20)))
    sink, stats = replay(tmp_path, path)
    assert sink.ids == [f"p{i}" for i in range(20)]
    assert any("already in time order" in n for n in stats.notes), stats.notes


@pytest.mark.parametrize("compressed", [False, True])
def test_auto_order_streams_an_input_over_the_sort_limit_in_file_order(
        tmp_path: Path, compressed: bool) -> None:
    path = unsorted_jsonl(tmp_path / "u.jsonl", 500)
    if compressed:  # size unknown until read: found out while buffering
        path = tmp_path / "u.jsonl.gz"
        path.write_bytes(gzip.compress((tmp_path / "u.jsonl").read_bytes()))
    sink, stats = replay(tmp_path, path, sort_max_bytes=10_000)
    assert sink.ids == [f"p{i}" for i in [499, *range(1, 499), 0]]
    note = " ".join(stats.notes)
    assert "streamed in file order" in note and "sort limit" in note
    assert "2 rows were earlier than the row before them" in note


def test_time_order_refuses_an_input_over_the_sort_limit(tmp_path: Path) -> None:
    path = unsorted_jsonl(tmp_path / "u.jsonl", 500)
    sink = CountingSink()
    with pytest.raises(InputError, match="--sort-max-mib"):
        replay(tmp_path, path, sink=sink, order="time", sort_max_bytes=10_000)
    assert sink.ids == []  # refused before anything was sent


# -- the bad-rows report -------------------------------------------------------------------------
def test_the_bad_rows_report_lists_a_bounded_number_of_rows(tmp_path: Path) -> None:
    # A file of nothing but bad lines must not write a report as large as itself.
    report = BadRowReport(tmp_path / "bad.tsv", max_listed=3)
    report.add("in.jsonl", [(1, "invalid JSON", "{"), (2, "invalid JSON", "{")])
    report.add("in.jsonl", [(3, "invalid JSON", "{"), (4, "not a JSON object", "[]"),
                            (5, "invalid JSON", "{")])
    report.close()
    lines = (tmp_path / "bad.tsv").read_text().splitlines()
    assert report.count == 5 and report.listed == 3
    assert [line.split("\t")[1] for line in lines[1:4]] == ["1", "2", "3"]
    assert lines[4].startswith("(more)\t\t2 more bad rows not listed")
    assert len(lines) == 5


def test_produce_skips_a_stdin_line_over_the_cap() -> None:
    import io

    from producers.live import run_produce
    from producers.sources import capped_lines

    data = b'{"id": "a", "text": "first"}\n' + b"x" * 5000 + b"\nplain text\n"
    sink, stats = CountingSink(), RunStats()
    run_produce(sink, capped_lines(io.BytesIO(data), 1000), stats,  # type: ignore[arg-type]
                Progress(enabled=False))
    assert sink.acked == 2 and sink.ids[0] == "a"
    assert (stats.read, stats.skipped) == (3, 1)


@pytest.mark.parametrize("fmt,bad_line", [("jsonl", b"{broken"), ("jsonl", b"[1]"),
                                          ("jsonl", b"x" * 300), ("csv", b"a,b,c"),
                                          ("csv", b"y" * 300), ("json", b'"junk",')])
def test_a_file_of_bad_rows_still_comes_in_bounded_batches(
        tmp_path: Path, fmt: str, bad_line: bytes) -> None:
    head = {"jsonl": b"", "csv": b"text\n", "json": b"["}[fmt]
    tail = {"jsonl": b'{"text": "last"}\n', "csv": b"last\n", "json": b'{"text": "last"}]'}[fmt]
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(head + (bad_line + b"\n") * 5000 + tail)
    sizes, rows = [], 0
    with open_binary(str(path)) as stream:
        for raw in read_rows(stream, fmt, limits=ReadLimits(max_row_bytes=200, batch_rows=100)):  # type: ignore[arg-type]
            sizes.append(len(raw.bad) + len(raw.rows))
            rows += len(raw.rows)
    assert rows == 1 and sum(sizes) == 5001
    assert max(sizes) <= 100, max(sizes)
