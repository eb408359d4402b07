"""ops/bench/language_throughput.py's report: rounds pair by their number, and the pooled ratio
with its interval is written, saying when both workers ran at once (--together)."""

from __future__ import annotations

from typing import Any

from ops.bench.language_throughput import _markdown, _pairs
from ops.bench.measure import ratio_interval


def _run(r: int, mode: str, per_cpu_s: int) -> dict[str, Any]:
    return {"round": r, "language_id": mode, "sustained_posts_per_s": per_cpu_s // 2,
            "posts_per_worker_cpu_s": per_cpu_s, "worker_cpu_per_wall_s": 0.9,
            "redis_cpu_us_per_post": 40.0, "load_avg_1m": 1.0}


def test_rounds_pair_by_number_and_the_pooled_interval_is_reported() -> None:
    runs = [_run(0, "off", 1000), _run(0, "on", 800), _run(1, "on", 900), _run(1, "off", 1000)]
    pairs = _pairs(runs)
    assert [(on["posts_per_worker_cpu_s"], off["posts_per_worker_cpu_s"]) for on, off in pairs] \
        == [(800, 1000), (900, 1000)]
    pooled = ratio_interval([800.0, 900.0], [1000.0, 1000.0])
    result = {"input": "umsab", "date": "2026-12-03 14:00 UTC", "cpu": "x", "cpus": 2,
              "command": "c", "posts": 10, "runs": runs, "together": True,
              "on_over_off_median": {"sustained_posts_per_s": 0.85,
                                     "posts_per_worker_cpu_s": 0.85},
              "pooled": {"posts_per_worker_cpu_s": pooled}}
    text = _markdown(result)
    assert "Pooled on/off per worker CPU-second: 0.850" in text
    assert "2 rounds, both workers at once" in text
