"""ops/bench/drivers_cost.py's pure parts: the CPUs of the pinned layout, and --report's pooling
of earlier results per layout (files from before layouts count as "shared")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.bench.drivers_cost import report, split_cpus


def test_the_services_get_the_last_cpu_and_the_worker_the_rest() -> None:
    assert split_cpus({0, 1}) == ({0}, {1})
    assert split_cpus({0, 2, 5}) == ({0, 2}, {5})
    with pytest.raises(SystemExit, match="at least 2 CPUs"):
        split_cpus({3})


def _round(per_cpu_s: float) -> dict[str, float]:
    us = 1e6 / per_cpu_s
    return {"sustained_posts_per_s": per_cpu_s * 0.9, "posts_per_worker_cpu_s": per_cpu_s,
            "worker_cpu_s": 3.0, "redis_cpu_us_per_post": 2.0, "main_thread_us_per_post": us / 2,
            "other_threads_us_per_post": us / 2, "worker_us_per_post": us}


def _result(on: list[float], off: list[float], **extra: object) -> dict[str, object]:
    return {"date": "2026-12-03 10:00 UTC", "command": "x", "load_avg_1m": 0.5,
            "rounds": {"on": [_round(x) for x in on], "off": [_round(x) for x in off]},
            "ratio_on_off_per_cpu_s": sum(on) / sum(off), **extra}


def test_report_pools_the_rounds_of_every_file_per_layout(tmp_path: Path) -> None:
    old = tmp_path / "old.json"  # before --layouts: every process on every CPU
    old.write_text(json.dumps(_result([90.0, 92.0], [100.0, 100.0])))
    both = tmp_path / "both.json"
    both.write_text(json.dumps(_result(
        [88.0], [100.0], layout="shared",
        layouts={"pinned": _result([95.0, 97.0], [100.0, 100.0])})))
    got = report([old, both])["layouts"]
    assert set(got) == {"shared", "pinned"}
    assert got["shared"]["pooled"]["posts_per_worker_cpu_s"]["n"] == 3
    assert got["shared"]["pooled"]["posts_per_worker_cpu_s"]["ratio"] == pytest.approx(0.9)
    assert got["pinned"]["pooled"]["posts_per_worker_cpu_s"]["ratio"] == pytest.approx(0.96)
    assert got["pinned"]["per_round"]["ratio_on_off_per_cpu_s"]["n"] == 2
