"""ops/bench/sustained.py's common window of workers draining at once: it opens when every
worker has counted a post and closes when the first has counted all of them."""

from __future__ import annotations

import pytest

from ops.bench.sustained import TogetherWindow


def test_the_window_opens_when_every_worker_counts_and_closes_at_the_first_done() -> None:
    window = TogetherWindow(workers=2, posts=100)
    assert window.observe([0, 0]) == "wait"
    assert window.observe([7, 0]) == "wait"  # the second is still joining its group
    assert window.observe([20, 3]) == "open"
    assert window.observe([60, 40]) == "wait"
    assert window.observe([100, 81]) == "close"


def test_a_worker_done_before_the_others_start_has_no_common_window() -> None:
    window = TogetherWindow(workers=2, posts=100)
    with pytest.raises(RuntimeError, match="no common window"):
        window.observe([100, 0])


def test_counts_must_match_the_workers() -> None:
    with pytest.raises(ValueError, match="3 counts for 2 workers"):
        TogetherWindow(workers=2, posts=100).observe([1, 2, 3])
