"""Rebalance storm: scale workers 1 -> 2 -> 4 -> 2 -> 1 on a backlog, round after round.

Usage (from the repository root; starts and stops its own Kafka + Redis unless they run):
    .venv/bin/python -m ops.faults.storm [--rounds 20] [--backlog 20000] [--json FILE]

A round has topics and a Redis prefix of its own. It starts one worker, adds one, then two at
the same moment, then stops two at the same moment (one SIGTERM, one SIGKILL), then one more
(SIGTERM in odd rounds, SIGKILL in even ones), and lets the last one drain. From each step's
rebalance (the signals, or the new workers' first JoinGroup) until every partition is owned by a
live worker and moving again, the backlog is kept topped up to ``backlog`` unread records, so
every rebalance hits busy workers. A round passes when no worker exits on its own (or non-zero
on SIGTERM), every bucket, total, top set and dead-letter count equals the offline truth
(ops/faults/truth.py), and the group's committed offsets reach the partition ends while the
last worker still runs.

Per step it measures, from a ~20 ms poll of the ``_all`` offsets in Redis: the pause (longest
time with no post applied anywhere, from the rebalance on), for joins the time from the new
member's JoinGroup (its log) to posts applied again after the stall, and the time from the step
to every partition moving. Re-delivered records = records consumed (``sentistream_posts_in``
of each worker, scraped just before it is stopped or killed, so a lower bound) - records sent.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from ops.bench import harness as h
from ops.faults.scenarios import known_input
from ops.faults.truth import Verdict, actual, compare, expected
from sentistream.harness import Child, HarnessError, sentistream_argv, start_worker
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import ALL_BRANDS, KeyScheme


@dataclass
class Step:
    name: str
    workers: int  # live workers after the step
    moved_s: float  # step -> every partition owned by a live worker and moving again
    pause_s: float  # longest stretch with nothing applied anywhere, in that time
    join_to_resume_s: float | None = None  # joins: new member's JoinGroup -> posts applied again


@dataclass
class RoundResult:
    round: int
    records: int
    verdict: Verdict
    steps: list[Step]
    self_exits: int
    committed_at_ends: bool
    redelivered: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.verdict.exact and self.self_exits == 0 and self.committed_at_ends
                and not self.notes)


class Progress(threading.Thread):
    """Polls the ``_all`` offsets hash; keeps the last offsets and when each partition moved."""

    def __init__(self, settings: Settings, interval_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        self.key = KeyScheme(settings.redis_prefix).offsets(ALL_BRANDS)
        self.prefix = f"{settings.topic_posts}:"
        self.interval_s = interval_s
        self.moved: dict[int, list[float]] = {}
        self.offsets: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval_s):
            try:
                raw = self.client.hgetall(self.key)
            except Exception:  # Redis busy for a moment: the next poll sees the change
                continue
            now = time.time()
            for k, v in raw.items():
                name = k.decode() if isinstance(k, bytes) else str(k)
                if name.startswith(self.prefix):
                    partition, offset = int(name.removeprefix(self.prefix)), int(v)
                    if self.offsets.get(partition) != offset:
                        self.moved.setdefault(partition, []).append(now)
                        self.offsets[partition] = offset

    def applied(self) -> int:
        return sum(o + 1 for o in self.offsets.values())

    def longest_gap(self, start: float, end: float) -> float:
        """The longest stretch in [start, end] in which no partition moved."""
        times = sorted(t for ts in self.moved.values() for t in ts if start < t < end)
        edges = [start, *times, end]
        return max(b - a for a, b in pairwise(edges))

    def end_of_longest_gap(self, start: float, end: float) -> float:
        """When posts were applied again after the longest stretch without any in the span."""
        times = sorted(t for ts in self.moved.values() for t in ts if start < t <= end)
        edges = [start, *times]
        return max(((b - a, b) for a, b in pairwise(edges)), default=(0.0, end))[1]


class Storm:
    """One round's workers, producer position and measurements."""

    def __init__(self, base: Settings, round_no: int, values: list[bytes], backlog: int,
                 log_dir: Path) -> None:
        self.settings = h.run_settings(base, f"storm{round_no}")
        self.round, self.values, self.backlog, self.log_dir = round_no, values, backlog, log_dir
        self.workers: list[Child] = []
        self.stopped: set[int] = set()  # pids we stopped or killed
        self.termed: list[Child] = []  # stopped with SIGTERM: must exit 0
        self.consumed = 0
        self.sent = 0
        self.notes: list[str] = []
        self.progress = Progress(self.settings)
        from producers.sink import SinkOptions, open_sink

        self.sink = open_sink(self.settings, SinkOptions(linger_ms=20))

    def start(self, n: int) -> list[Child]:
        """``n`` workers at the same moment (each its own web port and state directory)."""
        new = [start_worker(self.settings, self.log_dir, name=f"r{self.round}-w",
                            argv=sentistream_argv("worker", "--loglevel", "info"))
               for _ in range(n)]
        self.workers += new
        return new

    def live(self) -> list[Child]:
        return [w for w in self.workers if w.pid not in self.stopped]

    def remove(self, worker: Child, how: str) -> None:
        self.consumed += _posts_in(worker)
        self.stopped.add(worker.pid)
        if how == "SIGKILL":
            worker.kill()
        else:
            self.termed.append(worker)
            threading.Thread(target=worker.stop, daemon=True).start()  # stops take seconds

    def self_exits(self) -> list[Child]:
        return [w for w in self.workers if w.pid not in self.stopped and not w.alive()]

    def top_up(self) -> None:
        """Send input until ``backlog`` records wait unread (or the input is used up)."""
        applied = self.progress.applied()
        due = min(len(self.values), max(self.sent, applied + self.backlog))
        if due > self.sent:
            keys = [str(i).encode() for i in range(self.sent, due)]
            self.sink.send(keys, self.values[self.sent:due])
            if not self.sink.flush(60):
                raise h.BenchError(f"the broker did not confirm the input: "
                                   f"{self.sink.error_summary()}")
            self.sent = due

    def step(self, name: str, action: Callable[[], list[Child]], timeout_s: float) -> Step:
        """One step, with the backlog kept topped up from its rebalance until every partition
        moves again: from the signals on, or from the new workers' first JoinGroup."""
        started = time.time()
        joined = action()
        first_join = self.wait_joined(joined, timeout_s) if joined else started
        feeder = Feeder(self)
        feeder.start()
        try:
            moved = self.wait_moved(timeout_s)
        finally:
            feeder.stop()
        join_s = self.progress.end_of_longest_gap(first_join, moved) - first_join
        return Step(name, len(self.live()), moved - started,
                    self.progress.longest_gap(first_join, moved), join_s if joined else None)

    def wait_joined(self, workers: list[Child], timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_exits()
            joins = [t for w in workers if (t := _first_join(w)) is not None]
            if joins:
                return min(joins)
            time.sleep(0.05)
        raise h.BenchError(f"round {self.round}: no new worker joined within {timeout_s}s")

    def wait_moved(self, timeout_s: float) -> float:
        """When every partition is owned by a live worker and has moved on (or is drained)."""
        deadline = time.monotonic() + timeout_s
        owned_at: dict[int, int] | None = None
        while time.monotonic() < deadline:
            self.check_exits()
            if owned_at is None and self.owned():
                owned_at = dict(self.progress.offsets)
            elif owned_at is not None:
                now, ends = self.progress.offsets, self.ends()
                if all(now.get(p, -1) > owned_at.get(p, -1) or now.get(p, -1) + 1 >= ends[p]
                       for p in range(self.settings.partitions)):
                    return time.time()
            time.sleep(0.05)
        raise h.BenchError(f"round {self.round}: processing did not resume within {timeout_s}s")

    def owned(self) -> bool:
        live = self.live()
        seen: list[int] = []
        for w in live:
            status, body = w.get("/health")
            parts = json.loads(body).get("partitions", []) if status == 200 else []
            if not parts and len(live) <= self.settings.partitions:
                return False  # a member without partitions: the group has not settled yet
            seen += parts
        return sorted(seen) == list(range(self.settings.partitions))

    _ends: dict[int, int] | None = None

    def ends(self) -> dict[int, int]:
        if self._ends is None or sum(self._ends.values()) < self.sent:
            self._ends = _end_offsets(self.settings)
        return self._ends

    def check_exits(self) -> None:
        for w in self.self_exits():
            raise h.BenchError(f"round {self.round}: worker {w.pid} exited by itself "
                               f"({w.proc.returncode}):\n{w.tail(2000)}")


class Feeder(threading.Thread):
    """Keeps the storm's backlog topped up until stopped."""

    def __init__(self, storm: Storm) -> None:
        super().__init__(daemon=True)
        self.storm = storm
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.done.wait(0.1):
                self.storm.top_up()
        except BaseException as exc:  # raised by stop()
            self.error = exc

    def stop(self) -> None:
        self.done.set()
        self.join()
        if self.error is not None:
            raise h.BenchError(f"feeding the backlog failed: {self.error}")


def run_round(base: Settings, round_no: int, values: list[bytes], backlog: int,
              log_dir: Path, timeout_s: float = 240.0) -> RoundResult:
    rng = random.Random(round_no)
    began = time.monotonic()
    storm = Storm(base, round_no, values, backlog, log_dir)
    ensure_topics(storm.settings)
    storm.progress.start()
    steps: list[Step] = []
    try:
        steps.append(storm.step("start 1 (pause = start-up)", lambda: storm.start(1), timeout_s))
        steps.append(storm.step("+1 (1->2)", lambda: storm.start(1), timeout_s))
        steps.append(storm.step("+2 at once (2->4)", lambda: storm.start(2), timeout_s))

        def stop_two() -> list[Child]:
            a, b = rng.sample(storm.live(), 2)
            storm.remove(a, "SIGTERM")
            storm.remove(b, "SIGKILL")
            return []

        steps.append(storm.step("-2 at once, SIGTERM+SIGKILL (4->2)", stop_two, timeout_s))
        last_how = "SIGKILL" if round_no % 2 == 0 else "SIGTERM"

        def stop_one() -> list[Child]:
            storm.remove(rng.choice(storm.live()), last_how)
            return []

        steps.append(storm.step(f"-1 {last_how} (2->1)", stop_one, timeout_s))
        want = expected(storm.settings, values[:storm.sent])
        _wait(lambda: storm.progress.applied() >= storm.sent, storm, timeout_s,
              "the backlog drained")
        committed = _wait_committed(storm, 60.0)
        time.sleep(2.0)  # a double count would show up as the totals moving on
        storm.check_exits()
        last = storm.live()[0]
        storm.remove(last, "SIGTERM")
        last.stop()
    finally:
        storm.progress.done.set()
        storm.sink.close()
        for w in storm.workers:
            w.stop()
    for w in storm.termed:
        if w.proc.returncode != 0:
            storm.notes.append(f"worker {w.pid} exited {w.proc.returncode} on SIGTERM: "
                               f"{w.tail(1500)!r}")
    got = actual(storm.settings, want)
    redelivered = storm.consumed - storm.sent
    return RoundResult(round_no, storm.sent, compare(want, got), steps, len(storm.self_exits()),
                       committed, redelivered, time.monotonic() - began, storm.notes)


def _wait(done: Callable[[], Any], storm: Storm, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        storm.check_exits()
        if time.monotonic() > deadline:
            raise h.BenchError(f"round {storm.round}: gave up after {timeout_s:.0f}s "
                               f"waiting for {what}")
        time.sleep(0.1)


def _wait_committed(storm: Storm, timeout_s: float) -> bool:
    """Whether the group's committed offsets reach the partition ends (Faust commits every
    few seconds) while the last worker runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        storm.check_exits()
        if _committed(storm.settings) == _end_offsets(storm.settings):
            return True
        time.sleep(0.5)
    storm.notes.append(f"committed {_committed(storm.settings)} != ends "
                       f"{_end_offsets(storm.settings)}")
    return False


def _committed(settings: Settings) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    from stream.worker.app import app_id

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             group_id=app_id(settings), enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(settings.topic_posts, p)) or 0
                for p in range(settings.partitions)}
    finally:
        consumer.close()


def _end_offsets(settings: Settings) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        tps = [TopicPartition(settings.topic_posts, p) for p in range(settings.partitions)]
        return {tp.partition: end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def _posts_in(worker: Child) -> int:
    status, body = worker.get("/metrics")
    if status != 200:
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                   if line.startswith("sentistream_posts_in_total")))


_JOIN = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*\(Re-\)joining group", re.M)


def _first_join(worker: Child) -> float | None:
    """Wall time of the worker's first JoinGroup, from its log (aiokafka, level info)."""
    found = _JOIN.search(worker.log.read_text(errors="replace"))
    if not found:
        return None
    stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return stamp.replace(tzinfo=UTC).timestamp()



def summary(results: list[RoundResult]) -> str:
    rows = ["| round | records | exact | lost | double | self-exits | committed at ends | "
            "re-delivered | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        v = r.verdict
        rows.append(f"| {r.round} | {r.records:,} | {'yes' if v.exact else 'NO'} | {v.lost} | "
                    f"{v.double_counted} | {r.self_exits} | "
                    f"{'yes' if r.committed_at_ends else 'NO'} | {r.redelivered:,} | "
                    f"{r.seconds:.0f} |")
    rows += ["", "| step | rounds | pause (nothing applied) median / max (s) | JoinGroup -> "
             "applied again median / max (s) | step -> all partitions moving median / max (s) |",
             "|---|---|---|---|---|"]
    names = list(dict.fromkeys(s.name for r in results for s in r.steps))
    for name in names:
        steps = [s for r in results for s in r.steps if s.name == name]
        joins = [s.join_to_resume_s for s in steps if s.join_to_resume_s is not None]
        rows.append(f"| {name} | {len(steps)} | {_mm([s.pause_s for s in steps])} | "
                    f"{_mm(joins) if joins else '-'} | {_mm([s.moved_s for s in steps])} |")
    return "\n".join(rows)


def _mm(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"{xs[len(xs) // 2]:.1f} / {xs[-1]:.1f}"


def _loaded(saved: dict[str, Any]) -> RoundResult:
    fields = {k: v for k, v in saved.items() if k != "ok"}
    return RoundResult(**fields | {"verdict": Verdict(**saved["verdict"]),
                                   "steps": [Step(**step) for step in saved["steps"]]})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--backlog", type=int, default=20_000,
                   help="unread records before each step (topped up)")
    p.add_argument("--posts", type=int, default=150_000, help="most records per round")
    p.add_argument("--first", type=int, default=1, help="number of the first round")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--summarize", type=Path, nargs="+", default=None,
                   help="only print the tables of results saved with --json")
    args = p.parse_args(argv)
    if args.summarize:
        saved = [_loaded(r) for f in args.summarize for r in json.loads(f.read_text())]
        print(summary(saved))
        return 0 if all(r.ok for r in saved) else 1
    base = h.bench_settings()
    values = known_input(args.posts, seed=17)
    log_dir = base.state_dir / "logs" / time.strftime("storm-%Y%m%d-%H%M%S")
    results: list[RoundResult] = []
    with h.services(base):
        for round_no in range(args.first, args.first + args.rounds):
            try:
                result = run_round(base, round_no, values, args.backlog, log_dir)
            except HarnessError as exc:  # BenchError too
                print(f"round {round_no} FAILED: {exc}", flush=True)
                return 1
            results.append(result)
            if args.json:  # after every round: a long run stopped early keeps what it measured
                args.json.write_text(json.dumps([asdict(r) | {"ok": r.ok} for r in results],
                                                indent=1) + "\n")
            print(f"round {round_no}: {'ok' if result.ok else 'FAILED'} "
                  f"{result.records:,} records, re-delivered {result.redelivered:,}, "
                  + ", ".join(f"{s.name}: pause {s.pause_s:.1f}s" for s in result.steps)
                  + (f"; {result.notes}" if result.notes else ""), flush=True)
    print(summary(results))
    print(f"worker logs: {log_dir}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
