"""The real `sentistream replay` command holds bounded memory, whatever the input's size.

Each run is a subprocess with `--dry-run` (read, map, encode, send nothing: no broker needed, so
only the replay's own memory is measured). Its peak RSS is the kernel's high-water mark (VmHWM),
read until it exits: exact up to the last read, 20 ms before the end at most. (wait4's maxrss
would include this test process's own memory, which the child had before its exec.) Growth is
measured against the same command replaying a tiny file.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pytest

from ops.bench.machine import high_water_kib

MIB = 1 << 20
GROWTH_LIMIT_MIB = 40  # the old replay held a whole 50 MB input: several hundred MiB


def run_replay(tmp_path: Path, *args: str) -> tuple[int, str, float]:
    """Exit code, output and peak RSS (MiB) of one `sentistream replay --dry-run`."""
    command = [sys.executable, "-m", "sentistream.cli", "replay", "--dry-run", "--quiet",
               "--bad-rows", str(tmp_path / "bad.tsv"), *args]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, high_water_kib(proc.pid))
            time.sleep(0.02)
        out.seek(0)
        return proc.returncode, out.read().decode(), peak_kib / 1024


def rows_bytes(first: int, count: int, step: int = 1) -> bytes:
    """JSONL posts with timestamps; a negative step writes them newest first (unsorted)."""
    base = 1_700_000_000
    return b"".join(orjson.dumps({"id": f"p{i}", "text": f"post {i} " + "words " * 15,
                                  "created_at": base + i, "brand": "acme"}) + b"\n"
                    for i in range(first, first + count * step, step))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> float:
    tmp = tmp_path_factory.mktemp("baseline")
    (tmp / "tiny.jsonl").write_bytes(rows_bytes(0, 100))
    code, out, peak = run_replay(tmp, str(tmp / "tiny.jsonl"))
    assert code == 0, out
    return peak


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_50mb_input_replays_in_bounded_memory(
        tmp_path: Path, baseline: float, fmt: str) -> None:
    body = rows_bytes(500_000, 350_000, step=-1)  # unsorted: --order auto would hold it all
    assert len(body) > 50 * MIB
    path = tmp_path / f"big.{fmt}"
    path.write_bytes(body if fmt == "jsonl" else
                     b"[" + body.rstrip(b"\n").replace(b"\n", b",\n") + b"]")
    del body
    code, out, peak = run_replay(tmp_path, str(path))
    assert code == 0, out
    assert "read 350000, sent 350000, failed 0, skipped 0" in out
    assert "streamed in file order" in out
    assert peak - baseline < GROWTH_LIMIT_MIB, f"{peak:.0f} MiB vs {baseline:.0f} MiB baseline"


def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory(tmp_path: Path, baseline: float) -> None:
    # Good rows, then one "line" that inflates to 256 MiB: the row cap skips it, the
    # decompression cap stops the run.
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(rows_bytes(0, 1000))
        for _ in range(256):
            f.write(b"x" * MIB)
    assert path.stat().st_size < 2 * MIB
    code, out, peak = run_replay(tmp_path, "--max-decompressed-mib", "64", str(path))
    assert code == 2, out
    assert "decompresses to more than 64 MiB" in out and "--max-decompressed-mib" in out
    assert "replay stopped by an error (DecompressionCapError)" in out
    assert peak - baseline < GROWTH_LIMIT_MIB, f"{peak:.0f} MiB vs {baseline:.0f} MiB baseline"


def test_dry_run_reports_bad_rows_and_says_nothing_was_sent(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(rows_bytes(0, 3) + b"x" * 5000 + b"\n" + rows_bytes(3, 2))
    code, out, _ = run_replay(tmp_path, "--max-row-bytes", "1000", str(path))
    assert code == 0, out
    assert "read 6, sent 5, failed 0, skipped 1" in out
    assert "dry run: nothing went to Kafka" in out
    assert "order: 5 rows, already in time order" in out
    report = (tmp_path / "bad.tsv").read_text().splitlines()
    assert report[1].split("\t")[1:3] == ["4", "line longer than 1000 bytes (--max-row-bytes)"]
