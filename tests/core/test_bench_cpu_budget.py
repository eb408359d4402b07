"""`python -m ops.bench.cpu_budget`'s arithmetic (issue 14): /proc read right, py-spy samples
split into parts that add up to the worker's measured CPU, and the ceilings derived from the
budget. No services: a fake /proc and a fake py-spy file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.bench.cpu_budget import derive
from ops.bench.cpu_split import EVENT_LOOP, GC, UNSAMPLED, part_of, read_samples, split
from ops.bench.proc_cpu import Snapshot, Usage, descendants

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int, name: str, ppid: int, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return f"{pid} ({name}) S {ppid} 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0\n"


def _fake_proc(root: Path, box: list[int], procs: dict[int, tuple[str, int, int, int]],
               threads: dict[int, dict[int, tuple[int, int]]]) -> Path:
    root.mkdir(exist_ok=True)
    (root / "stat").write_text("cpu  " + " ".join(map(str, box)) + "\ncpu0 1 2 3\n")
    for pid, (name, ppid, u, s) in procs.items():
        d = root / str(pid)
        (d / "task").mkdir(parents=True, exist_ok=True)
        (d / "stat").write_text(_stat(pid, name, ppid, u, s))
        (d / "cmdline").write_bytes(name.encode() + b"\0--flag\0")
        for tid, (tu, ts) in threads.get(pid, {}).items():
            (d / "task" / str(tid)).mkdir(exist_ok=True)
            (d / "task" / str(tid) / "stat").write_text(_stat(tid, "python", ppid, tu, ts))
    return root


def test_usage_between_two_snapshots_counts_processes_threads_and_the_box(tmp_path: Path
                                                                           ) -> None:
    # user nice system idle iowait irq softirq steal
    a_root = _fake_proc(tmp_path / "a", [100, 0, 50, 1000, 10, 0, 0, 0],
                        {10: ("java", 1, 40, 10), 20: ("worker (x)", 1, 100, 0),
                         30: ("gone", 1, 5, 0)},
                        {20: {20: (80, 0), 21: (20, 0)}})
    a = Snapshot.take((20,), a_root)
    b_root = _fake_proc(tmp_path / "b", [100 + 3 * TICK, 0, 50 + TICK, 1000 + 2 * TICK, 10, 0,
                                         0, 0],
                        {10: ("java", 1, 40 + TICK, 10), 20: ("worker (x)", 1, 100 + 2 * TICK, 0),
                         40: ("new", 1, 7, 0)},
                        {20: {20: (80 + TICK, 0), 21: (20 + TICK, 0)}})
    b = Snapshot.take((20,), b_root)
    use = Usage.between(a, b)
    assert use.procs == {10: 1.0, 20: 2.0}  # only pids alive at both ends
    assert use.names[20] == "worker (x)"  # a ")" in the command name does not break parsing
    assert use.threads[20] == {20: 1.0, 21: 1.0}
    assert use.box["busy"] == 4.0 and use.box["idle"] == 2.0
    assert use.unaccounted() == 1.0  # busy 4 s, processes seen 3 s
    assert use.started == 7 / TICK  # pid 40 started in between: all its CPU
    assert use.of([10, 20, 99]) == 3.0
    assert use.top_others({20}, proc=b_root)[0][1:] == ("java --flag", 1.0)


def test_descendants_follow_parent_ids(tmp_path: Path) -> None:
    root = _fake_proc(tmp_path, [1, 0, 0, 1, 0, 0, 0, 0],
                      {5: ("w", 1, 0, 0), 6: ("child", 5, 0, 0), 7: ("grandchild", 6, 0, 0),
                       8: ("other", 1, 0, 0)}, {})
    assert sorted(descendants(5, root)) == [5, 6, 7]


def test_a_stack_goes_to_its_innermost_named_part() -> None:
    loop = ["Thread._bootstrap (threading.py:1)", "BaseEventLoop._run_once (asyncio/base.py:1)"]
    assert part_of([*loop, "LanguageRouter.route (model/languages.py:1)",
                    "Tokenizer.encode (model/tokenizer.py:2)"]) == "scoring: tokenize"
    assert part_of([*loop, "LanguageRouter.route (model/languages.py:1)",
                    "Interpreter.invoke (ai_edge_litert/interpreter.py:9)"]).startswith(
        "scoring: LiteRT invoke")
    assert part_of([*loop, "create_app.<locals>.produce (stream/worker/app.py:80)",
                    "BatchBuilder.append (aiokafka/producer/message_accumulator.py:1)",
                    "x (aiokafka/record/default_records.py:1)"]).startswith("scored")
    assert part_of([*loop, "parse_batch (stream/worker/posts.py:3)",
                    "loads (json/__init__.py:1)"]) == "parse + brands"
    assert part_of(["WorkerThread.run (mode/threads.py:62)",
                    "ServiceThread._start_thread (mode/threads.py:211)",
                    "EpollSelector.select (selectors.py:468)"]).startswith("Kafka consumer")
    assert part_of(loop) == EVENT_LOOP
    # Every main-thread stack starts in the CLI and run_worker: those frames name no part, and
    # py-spy writes site-packages paths from the package down ("(aiokafka/producer/...").
    main = [*loop[:1], "main (sentistream/cli.py:90)", "run_worker (stream/worker/main.py:56)",
            *loop[1:]]
    assert part_of([*main, "Sender._send_produce_req (aiokafka/producer/sender.py:288)",
                    "_SelectorSocketTransport.write (asyncio/selector_events.py:1)"]
                   ).startswith("scored")
    assert part_of([*main, "AbstractConnection._send_packed_command "
                    "(redis/asyncio/connection.py:1168)"]).startswith("Redis calls")
    assert part_of(main) == EVENT_LOOP


def test_parts_add_up_to_the_threads_cpu_with_gc_taken_out(tmp_path: Path) -> None:
    raw = tmp_path / "spy.txt"
    raw.write_text(
        "thread (11): MainThread;run (asyncio/base_events.py:1);parse_batch "
        "(stream/worker/posts.py:3) 30\n"
        "thread (11): MainThread;run (asyncio/base_events.py:1) 10\n"
        "thread (12): asyncio_0;score (model/tokenizer.py:5) 20\n"
        "garbage line\n")
    samples = read_samples(raw)
    assert samples[11][0] == "MainThread" and sum(samples[11][1].values()) == 40
    parts = split({11: 4.0, 12: 1.0, 13: 0.5}, samples, gc_s=0.55)
    assert sum(parts.values()) == pytest.approx(5.5)
    assert parts[GC] == 0.55 and parts[UNSAMPLED] == pytest.approx(0.5 * 0.9)
    assert parts["parse + brands"] == pytest.approx(3.0 * 0.9)
    assert parts["scoring: tokenize"] == pytest.approx(1.0 * 0.9)


def _drain(posts_per_s: float, us: dict[str, float]) -> dict[str, object]:
    return {"posts_per_s": posts_per_s, "us_per_post": us,
            "box_share": {"idle": 0.1, "iowait": 0.0, "busy": 0.9, "steal": 0.0}}


def test_the_ceilings_follow_from_the_budget() -> None:
    row = {"scorer": {"posts_per_s": 40_000.0},
           "worker": {"drain": _drain(10_000.0, {"worker": 90.0, "broker": 40.0, "redis": 30.0,
                                                "bench main": 2.0, "bench producer": 0.0,
                                                "poller": 8.0, "py-spy (measuring)": 50.0})},
           "naive": {"drain": _drain(2_500.0, {"worker": 350.0, "broker": 50.0,
                                               "redis": 20.0, "bench main": 5.0})}}
    got = derive(row, cpus=2)
    assert got["pipeline_us_per_post"] == 170.0  # py-spy is measurement, not the pipeline
    assert got["ceiling_posts_per_s"] == pytest.approx(2e6 / 170)
    target = got["targets"]["0.6 x scorer"]  # 24,000/s: 83.3 us of box per post
    assert target["worker_us_per_post_allowed"] == pytest.approx(2e6 / 24_000 - 80.0)
    naive = got["targets"]["8 x naive"]  # 20,000/s: 100 us of box per post
    assert naive["worker_us_per_post_allowed"] == pytest.approx(20.0)
    assert got["drain_to_naive"] == 4.0
    assert got["per_pipeline_cpu_to_naive"] == pytest.approx(425 / 170)
