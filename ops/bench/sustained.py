"""One worker timed over a backlog already in Kafka: the sustained phase, from the first post
counted in the global ``_all`` aggregate to the last, with the CPU the worker and Redis used in it.

The start-up and consumer-group join are left out of the sustained figures (``started`` keeps
them for a wall figure). On a shared machine wall-clock rates move with the load; posts per
worker CPU-second is the rate of a worker that has a core. Used by worker_throughput.py,
language_throughput.py and drivers_cost.py.

``time_workers_together`` times several workers at once, each on its own topics and prefix,
over the seconds they all drain together: a paired design for a shared machine, where the
host's speed drifts by +-25% between runs a minute apart (CPU steal, a neighbour's load), and
both sides of a comparison then meet the same drift.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from sentistream.harness import child_env, sentistream_argv, start_worker
from sentistream.settings import Settings
from stream.schema.keys import KeyScheme


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its threads (Linux /proc)."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """Nanoseconds on a CPU of each thread of a process (``/proc/<pid>/task/<tid>/schedstat``,
    the scheduler's own clock: a 2.5 s run measured in clock ticks of 10 ms moves by 0.4% on
    rounding alone, and per thread it tells the event loop apart from the scorer)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0])
    return out


def redis_cpu_s(client: redis.Redis) -> float:
    """CPU seconds the Redis server has used (it may serve other clients of the same infra)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def counted(client: redis.Redis, settings: Settings) -> int:
    """Posts counted so far in the prefix's ``_all`` aggregate."""
    return int(client.hget(KeyScheme(settings.redis_prefix).total("_all"), "n") or 0)


def sentistream_run(settings: Settings, *args: str) -> None:
    """``sentistream <args> --quiet`` with these settings, to its end (generate, replay)."""
    subprocess.run(sentistream_argv(*args, "--quiet"), env=child_env(settings), check=True,
                   stdout=subprocess.DEVNULL)


def cleanup(settings: Settings) -> None:
    """Delete every Redis key of the prefix."""
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{{{settings.redis_prefix}*", count=1000):
        client.delete(key)


@dataclass(frozen=True)
class Mark:
    """Wall time and CPU seconds (worker, Redis) at one moment of the run, and each worker
    thread's nanoseconds on a CPU (tid -> ns; the main thread's tid is the pid)."""

    wall: float
    worker_cpu: float
    redis_cpu: float
    threads: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerRun:
    """A worker's run over ``posts`` posts: first and last count, ``first_n`` counted at first."""

    posts: int
    started: float
    first_n: int
    first: Mark
    done: Mark
    pid: int = 0

    @property
    def sustained_posts(self) -> int:
        return self.posts - self.first_n

    @property
    def sustained_posts_per_s(self) -> float:
        return self.sustained_posts / max(self.done.wall - self.first.wall, 1e-9)

    @property
    def worker_cpu_s(self) -> float:
        return self.done.worker_cpu - self.first.worker_cpu

    @property
    def posts_per_worker_cpu_s(self) -> float:
        return self.sustained_posts / max(self.worker_cpu_s, 1e-9)

    @property
    def thread_us_per_post(self) -> dict[str, float]:
        """CPU microseconds per sustained post: ``main`` (the worker's main thread: the event loop
        that parses, builds the deltas, the drivers and the script calls), ``other`` (scorer,
        Kafka client and the rest) and ``all``; a thread born in the run counts from 0."""
        spent = {tid: ns - self.first.threads.get(tid, 0) for tid, ns in self.done.threads.items()}
        main = spent.get(self.pid, 0)
        per = 1e3 * max(self.sustained_posts, 1)
        total = sum(spent.values())
        return {"main": main / per, "other": (total - main) / per, "all": total / per}

    @property
    def redis_cpu_us_per_post(self) -> float:
        return redis_us_per_post([self])


def time_worker(settings: Settings, posts: int, name: str) -> WorkerRun:
    """Start a worker, wait until ``_all`` counts ``posts`` posts, stop it; its log is
    ``<state_dir>/<name>-<port>.log``. HarnessError, with the log's tail, if it exits early.
    ``time_workers_together`` of one worker: its window is its own sustained phase."""
    return time_workers_together([(settings, name)], posts)[0]


def redis_us_per_post(timed: Sequence[WorkerRun]) -> float:
    """Redis's CPU microseconds per post over the common window of ``time_workers_together``,
    which one Redis served for all of them: the server's CPU over every worker's posts."""
    posts = sum(t.sustained_posts for t in timed)
    return (timed[0].done.redis_cpu - timed[0].first.redis_cpu) * 1e6 / max(posts, 1)


class TogetherWindow:
    """When the common window of workers draining at once opens and closes, from their counts:
    it opens when every worker has counted a post (each is past its start-up and group join)
    and closes when the first has counted ``posts`` (after that, the others would run alone)."""

    def __init__(self, workers: int, posts: int) -> None:
        self.workers, self.posts = workers, posts
        self.opened = False

    def observe(self, counts: Sequence[int]) -> str:
        """"wait", "open" (mark every worker now) or "close" (mark them again, and stop)."""
        if len(counts) != self.workers:
            raise ValueError(f"{len(counts)} counts for {self.workers} workers")
        if not self.opened:
            if all(counts) and max(counts) < self.posts:
                self.opened = True
                return "open"
            if max(counts) >= self.posts:
                raise RuntimeError("a worker counted every post before the others counted any: "
                                   "no common window (use more --posts)")
            return "wait"
        return "close" if max(counts) >= self.posts else "wait"


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` onto ``cpus`` (threads it starts later inherit the mask)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def time_workers_together(runs: Sequence[tuple[Settings, str]], posts: int,
                          cpus: Sequence[set[int]] | None = None) -> list[WorkerRun]:
    """Start a worker per (settings, name) at once, each on the topics and prefix of its
    settings holding ``posts`` posts, and time each over the common window (``TogetherWindow``):
    its posts, CPU and threads from the window's first mark to its last. Redis serves them all,
    so each run's Redis CPU is the whole server's. With ``cpus``, worker i runs on ``cpus[i]``
    only (pinned as it starts, and again when the window opens). Logs as ``time_worker``."""
    clients = [redis.Redis.from_url(s.redis_url) for s, _ in runs]
    window = TogetherWindow(len(runs), posts)
    started = time.monotonic()
    workers = [start_worker(s, s.state_dir, name=name) for s, name in runs]
    for w, mask in zip(workers, cpus or (), strict=False):
        pin(w.pid, mask)

    def marks() -> list[Mark]:
        redis_cpu = redis_cpu_s(clients[0])
        return [Mark(time.monotonic(), cpu_s(w.pid), redis_cpu, thread_cpu_ns(w.pid))
                for w in workers]

    try:
        first: tuple[list[int], list[Mark]] | None = None
        while True:
            counts = [counted(c, s) for c, (s, _) in zip(clients, runs, strict=True)]
            state = window.observe(counts)
            if state == "open":
                for w, mask in zip(workers, cpus or (), strict=False):
                    pin(w.pid, mask)
                first = (counts, marks())
            elif state == "close":
                done = (counts, marks())
                break
            for w in workers:
                w.check()
            time.sleep(0.05)
    finally:
        for w in workers:
            w.stop()
    assert first is not None
    return [WorkerRun(done[0][i], started, first[0][i], first[1][i], done[1][i], w.pid)
            for i, w in enumerate(workers)]
