"""ops/bench/fsync_probe.py: fsyncs timed in a file of its own, removed after; the summary's
counts of slow fsyncs."""

from __future__ import annotations

from pathlib import Path

from ops.bench.fsync_probe import probe, summary


def test_probe_times_fsyncs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    latencies = probe(0.2, str(tmp_path), 0.01)
    assert len(latencies) >= 2 and latencies == sorted(latencies)
    assert all(x >= 0 for x in latencies)
    assert list(tmp_path.iterdir()) == []


def test_summary_counts_the_slow_ones() -> None:
    text = summary(sorted([1.0, 2.0, 12.0, 60.0, 150.0]))
    assert "n=5" in text and "max=150.0 ms" in text
    assert "over 10 ms: 3, over 50 ms: 2, over 100 ms: 1" in text
