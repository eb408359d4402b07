"""The replay's ordering, looping and limits, with a recording sink instead of Kafka."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producers.errors import PacingError
from producers.pacing import Pacer
from producers.progress import Progress, RunStats
from producers.replay import Replay, ReplayOptions
from producers.report import BadRowReport


class RecordingSink:
    """Keeps what would have been sent (the replay's logic, not Kafka, is under test here)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, dict[str, object]]] = []
        self.acked = self.failed = 0

    def send(self, keys: list[bytes], values: list[bytes]) -> None:
        self.sent += [(k, orjson.loads(v)) for k, v in zip(keys, values, strict=True)]
        self.acked += len(keys)


def replay(tmp_path: Path, text: str, **options: object) -> tuple[RecordingSink, RunStats]:
    path = tmp_path / "in.csv"
    path.write_text(text)
    sink, stats = RecordingSink(), RunStats()
    opts = ReplayOptions(paths=(str(path),), **options)  # type: ignore[arg-type]
    Replay(opts, sink, Pacer("max"), stats, Progress(enabled=False),  # type: ignore[arg-type]
           BadRowReport(tmp_path / "bad.tsv")).run()
    return sink, stats


def test_loop_without_timestamps_goes_round_until_the_limit(tmp_path: Path) -> None:
    sink, stats = replay(tmp_path, "text\na\nb\nc\n", loop=True, limit=7)
    assert [p["text"] for _, p in sink.sent] == list("abcabca")
    assert stats.read == 7


def test_loop_over_nothing_stops(tmp_path: Path) -> None:
    sink, _ = replay(tmp_path, "text\n\n", loop=True)
    assert sink.sent == []


def test_auto_order_sorts_unsorted_files_and_file_order_does_not(tmp_path: Path) -> None:
    text = "id,text,created_at\n1,a,2024-01-01T00:00:05Z\n2,b,2024-01-01T00:00:01Z\n3,c,\n"
    sink, _ = replay(tmp_path, text)
    assert [p["id"] for _, p in sink.sent] == ["2", "3", "1"]  # no time: stays after its row
    sink, _ = replay(tmp_path, text, order="file")
    assert [p["id"] for _, p in sink.sent] == ["1", "2", "3"]
    assert "created_at" not in sink.sent[2][1]


def test_loop_with_rebase_continues_the_timeline(tmp_path: Path) -> None:
    text = "text,created_at\na,100\nb,110\n"
    sink, _ = replay(tmp_path, text, loop=True, limit=4, rebase_time=True)
    stamps = [str(p["created_at"]) for _, p in sink.sent]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


def test_without_rebase_a_loop_repeats_ids_and_times(tmp_path: Path) -> None:
    sink, _ = replay(tmp_path, "text,created_at\na,100\nb,110\n", loop=True, limit=4)
    assert sink.sent[0] == sink.sent[2] and sink.sent[1] == sink.sent[3]


def test_speed_without_timestamps_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("text\na\n")
    opts = ReplayOptions(paths=(str(path),))
    run = Replay(opts, RecordingSink(), Pacer("speed", 2.0), RunStats(),  # type: ignore[arg-type]
                 Progress(enabled=False), BadRowReport(tmp_path / "bad.tsv"))
    with pytest.raises(PacingError, match="--rate"):
        run.run()


def test_progress_total_estimates_rows_of_streamed_files(tmp_path: Path) -> None:
    from producers.progress import Progress
    from producers.sources import estimate_rows

    path = tmp_path / "in.csv"
    path.write_text("text\n" + "".join(f"post {i}\n" for i in range(40)))
    assert estimate_rows((str(path),)) == 40
    assert estimate_rows(("-",)) is None
    progress = Progress(enabled=False)
    Replay(ReplayOptions(paths=(str(path),), limit=15), RecordingSink(),  # type: ignore[arg-type]
           Pacer("max"), RunStats(), progress, BadRowReport(tmp_path / "bad.tsv")).run()
    assert progress.total == 15
