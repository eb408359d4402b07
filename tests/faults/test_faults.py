"""Fault runs at CI size against the real Kafka and Redis of `make test`: each must be exact.

Each run replays a known input through `sentistream worker` subprocesses and breaks something
mid-replay (see ops/faults/scenarios.py); Redis is then compared, key by key, with the offline
truth computed by the pipeline's own functions. The full-size runs: `python -m ops.faults.run`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.faults.fuzz import languages_of, mixed_input, run_fuzz
from ops.faults.scenarios import known_input, run_fault
from ops.faults.truth import Aggregates, expected
from sentistream.settings import Settings

pytestmark = pytest.mark.integration
POSTS, RATE = 1_500, 300.0


@pytest.fixture(scope="module")
def known() -> list[bytes]:
    return known_input(POSTS, seed=3)


@pytest.fixture(scope="module")
def truth(services: Settings, known: list[bytes]) -> Aggregates:
    want = expected(services, known)
    # Judged through every fault: language fields (one language the model does not score) and
    # the unique-authors counts.
    assert {"en", "de", "ja", "pt"} <= set(languages_of(want)) and len(want.authors) > 30
    return want


@pytest.mark.parametrize("fault", ["kill-worker", "restart-redis", "restart-kafka",
                                   "two-workers-kill-one"])
def test_fault_leaves_exact_aggregates(services: Settings, known: list[bytes], truth: Aggregates,
                                       fault: str, tmp_path: Path) -> None:
    outcome = run_fault(services, fault, known, RATE, tmp_path, want=truth)
    v = outcome.verdict
    assert v.posts == POSTS
    assert (v.lost, v.double_counted) == (0, 0), outcome.notes
    assert v.exact, (v, outcome.notes)
    assert outcome.worker_exits == 0, outcome.notes


def test_fuzz_no_crash_everything_scored_or_dead_lettered(services: Settings,
                                                           tmp_path: Path) -> None:
    values = mixed_input(1_500, 500, seed_value=8)
    o = run_fuzz(services, values, 1_500, 1_000.0, tmp_path, timeout_s=300)
    assert o.worker_alive and o.worker_exits == 0
    assert o.scored + o.dead_lettered == o.records == 2_000
    assert o.verdict.dead_expected > 1_000  # most hostile payloads must really be rejected
    # The issue-12 classes are in the mix: each has dead letters of its reason.
    assert {"future_timestamp", "too_many_brands", "post_too_large", "bad_timestamp"} <= set(
        o.dead_reasons), o.dead_reasons
    # Issue 16's languages and the driver authors are in the mix and judged (exact includes
    # the per-language fields and every bucket's unique-authors count).
    assert len(o.languages) >= 5 and o.author_buckets > 30, (o.languages, o.author_buckets)
    assert o.verdict.exact, o.verdict
    assert o.uncommitted == 0  # the group's commits reached the partition ends
