"""`python -m ops.bench.e2e` with tiny arguments: a drain too short to measure a steady rate
must be reported as unmeasured, not crash the report (issue 14: np.median over None)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ops.bench.e2e import ratios, steady
from ops.bench.measure import drain_stats
from ops.bench.report import markdown


def test_a_backlog_visible_all_at_once_has_no_steady_rate() -> None:
    stamped = np.zeros((40, 3))
    visible = np.full(40, 1_700_000_000.5)  # one batch: every post visible in the same poll
    assert steady(drain_stats(stamped, visible)) is None
    assert steady({"phase": "backlog drain", "posts": 1}) is None  # too few times: no key
    assert steady({"steady_throughput": 1234.5}) == 1234.5


def test_unmeasured_drains_give_no_ratio_and_the_report_still_renders() -> None:
    got = ratios({"sentistream": [None, 900.0], "naive": [None]}, [{"posts_per_s": 3000.0}])
    assert got["throughput_ratio"] is None and got["drain_to_scorer"] == 0.3
    result: dict[str, Any] = {
        "date": "2026-12-02", "loadavg_start": (1.0, 1.0, 1.0), "loadavg_end": (1.0, 1.0, 1.0),
        "machine": {"cpus": 2, "cpu_model": "AMD EPYC", "mem_gib": 24, "platform": "Linux"},
        "data": "test", "command": "python -m ops.bench.e2e --backlog 100",
        "sentistream": {"drain": {"phase": "backlog drain", "posts": 100}, "phases": [],
                        "counts_check": {"equal": True}},
        "naive": {"drain": {"phase": "backlog drain", "posts": 10},
                  "redis_fsync": "everysec", "counts_check": {"equal": True}},
        **ratios({"sentistream": [None], "naive": [None]}, [{"posts_per_s": 3000.0}])}
    md = markdown(result)
    assert "Throughput ratio (median drain, sentistream / naive): **–**" in md
    assert "Median drain / median bare scorer: –" in md


def test_the_counts_check_expects_the_worker_s_routing() -> None:
    # The e2e run of 2026-12-02 08:08 reported "Redis counts = offline labels: False" on
    # TweetEval: its offline labels came from the English model on every post, while the worker
    # leaves the posts its language ID routes nowhere out of the classes (238 of 70,000 there).
    from ops.bench.e2e import _LABELS_CACHE, model_labels, worker_labels
    from ops.bench.harness import Corpus
    from sentistream.settings import Settings

    corpus = Corpus(posts=[{"id": "en", "text": "I love this phone, best purchase ever"},
                           {"id": "ja", "text": "この製品は最悪です"},
                           {"id": "tagged", "text": "I love it", "lang": "ru"}])
    _LABELS_CACHE.clear()
    try:
        routed = worker_labels(Settings(), corpus)
        english = model_labels(corpus)
    finally:
        _LABELS_CACHE.clear()
    assert routed["en"] == english["en"] == 2
    assert english["ja"] < 3 and english["tagged"] < 3  # the English model gives them a class
    assert routed["ja"] >= 3 and routed["tagged"] >= 3  # the worker gives them none
