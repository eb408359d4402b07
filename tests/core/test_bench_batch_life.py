"""The drain benchmark's join of its slowest posts with the worker's batch lives."""

from __future__ import annotations

from typing import Any

import numpy as np

from ops.bench.batch_life import SEGMENTS, batch_of, tail_waits


def _life(partition: int, lo: int, hi: int, t0: float, queued: float, prepare: float,
          write_wait: float, redis: float) -> dict[str, Any]:
    at = {"fetched": t0}
    at["delivered"] = at["fetched"] + queued
    at["prepared"] = at["delivered"] + prepare
    at["writing"] = at["prepared"] + write_wait
    at["redis"] = at["writing"] + redis
    return {"ranges": [[partition, lo, hi]], "at": at}


def test_each_post_is_found_in_its_batch_by_partition_and_offset() -> None:
    lives = [{"ranges": [[0, 0, 9], [1, 0, 4]], "at": {}}, {"ranges": [[0, 10, 19]], "at": {}}]
    stamped = np.array([[0, 3, 0], [1, 4, 0], [0, 10, 0], [1, 5, 0]])
    assert batch_of(stamped, lives).tolist() == [0, 0, 1, -1]


def test_the_tail_is_split_into_the_awaits_of_its_batches() -> None:
    """200 batches of 10 posts on one partition; batch 7's Redis write takes 300 ms instead of
    10: the slowest 1% are its posts, and the split puts the difference in ``redis``."""
    lives, rows, visible = [], [], []
    for b in range(200):
        t0 = 100.0 + b * 0.05
        redis = 0.3 if b == 7 else 0.01
        life = _life(0, 10 * b, 10 * b + 9, t0, 0.002, 0.02, 0.001, redis)
        lives.append(life)
        for i in range(10):
            send = t0 - 0.03 + 0.001 * i
            rows.append((0, 10 * b + i, round(send * 1000)))
            visible.append(life["at"]["redis"] + 0.001)
    stamped = np.array(rows, np.int64)
    out = tail_waits(stamped, np.array(visible), lives, (np.zeros((0, 3)), []))
    slow, typical = out["slow"], out["typical"]
    assert out["posts_in_a_kept_batch"] == 2000
    assert slow["posts"] == 10 and slow["with_life"] == 10
    assert abs(slow["ms"]["redis"] - 300) < 1 and abs(typical["ms"]["redis"] - 10) < 1
    assert abs(slow["ms"]["prepare"] - 20) < 1
    # The segments add up to the latency, post by post.
    assert abs(sum(slow["ms"][s] for s in SEGMENTS) - slow["latency_ms"]) < 1
    assert out["slow_batches"][0]["slow_posts"] == 10
    assert out["slow_batches"][0]["batch_posts"] == 10


def test_prepare_is_split_by_the_steps_traced_while_the_batch_was_prepared() -> None:
    lives = [_life(0, 10 * b, 10 * b + 9, 100.0 + b, 0.0, 0.5, 0.0, 0.1) for b in range(120)]
    stamped = np.array([(0, o, round((100.0 + o // 10 - 0.01) * 1000)) for o in range(1200)],
                       np.int64)
    visible = np.array([lives[o // 10]["at"]["redis"] for o in range(1200)])
    # A 40 ms score ending inside every batch's preparation, one ending outside any.
    trace = np.array([(100.0 + b + 0.2, 100.0 + b + 0.24, 0) for b in range(120)]
                     + [(100.7, 100.8, 0)])
    out = tail_waits(stamped, visible, lives, (trace, ["score"]))
    assert abs(out["typical"]["prepare_ms"]["score"] - 40) < 0.5
