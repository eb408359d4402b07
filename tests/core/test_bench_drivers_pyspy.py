"""`python -m ops.bench.drivers_pyspy`'s arithmetic (issue 15): each main-thread sample counts
for the innermost step of the live path in its stack, the steps add up to the thread's clock,
and rounds pair their on and off runs. No services: fake py-spy raw files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops.bench.drivers_pyspy import main_thread_steps, paired

MAIN = "thread (0x7F01): MainThread"
STACKS = {
    # innermost step wins: pack_commands inside the sink's chunk is "pack", not "sink_apply"
    "run (app.py:1);RedisSink._apply_chunk (sink.py:9);Pipeline.execute (p.py:2);"
    "Connection.pack_commands (c.py:3)": 30,
    "run (app.py:1);BatchProcessor._finish (pipeline.py:5);BatchDrivers.attach (d.py:1);"
    "fingerprints (r.py:7)": 50,
    "run (app.py:1);validate (pipeline.py:2)": 15,
    "run (app.py:1);BaseEventLoop._run_once (b.py:1);EpollSelector.select (s.py:1)": 5,
}


def _run(tmp: Path, name: str, drivers: str, stacks: dict[str, int], main_s: float,
         round_: int) -> dict[str, Any]:
    raw = tmp / f"{name}.txt"
    lines = [f"{MAIN};{stack} {n}" for stack, n in stacks.items()]
    lines.append("thread (0x7F02): ThreadPoolExecutor-0_0;score (s.py:1) 400")  # not main
    raw.write_text("\n".join(lines) + "\n")
    return {"drivers": drivers, "posts": 1000, "pid": 11, "raw": str(raw), "round": round_,
            "thread_cpu_s_by_tid": {"11": main_s, "12": 0.01}, "gc": {}}


def test_main_thread_steps_scale_the_samples_to_the_thread_clock(tmp_path: Path) -> None:
    cpu, steps, unclaimed = main_thread_steps(_run(tmp_path, "a", "on", STACKS, 0.02, 0))
    assert cpu == pytest.approx(20.0)  # 0.02 s over 1,000 posts
    # 100 main-thread samples for 20 us a post: 0.2 us a post each; the scorer's don't count
    assert steps == pytest.approx({"pack": 6.0, "drivers_attach": 10.0, "parse": 3.0,
                                   "other": 1.0})
    assert sum(steps.values()) == pytest.approx(cpu)
    assert list(unclaimed) == ["EpollSelector.select < BaseEventLoop._run_once < run"]


def test_rounds_pair_their_own_on_and_off_runs(tmp_path: Path) -> None:
    off = {k: v for k, v in STACKS.items() if "attach" not in k}
    runs = [_run(tmp_path, "r0-off", "off", off, 0.01, 0),
            _run(tmp_path, "r0-on", "on", STACKS, 0.02, 0),
            _run(tmp_path, "r1-on", "on", STACKS, 0.03, 1),  # this round's on went first
            _run(tmp_path, "r1-off", "off", off, 0.01, 1)]
    rounds = paired(runs)
    assert [r["main_thread"] for r in rounds] == pytest.approx([10.0, 20.0])
    assert [r["drivers_attach"] for r in rounds] == pytest.approx([10.0, 15.0])
    assert paired(runs, "off+load") == []  # no loaded runs
