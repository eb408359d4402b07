"""Fault runs: replay a known input while breaking something, then judge Redis against the truth.

Every run has topics and a Redis prefix of its own, starts its worker(s) as `sentistream worker`
subprocesses, sends the input at a steady rate from a producer thread and injects its fault when
about ``at`` of the input has been sent. It then waits until the aggregates stop changing and
compares them with ``ops.faults.truth.expected`` of the same input.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ops.bench import harness as h
from ops.faults.truth import Verdict, actual, compare, expected
from producers.sink import PostSink, SinkOptions
from sentistream.harness import Child, start_worker, wait_until
from sentistream.infra.kafka import KafkaBroker
from sentistream.infra.process import wait_for_exit
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import ALL_BRANDS, KeyScheme

FAULTS = ("none", "kill-worker", "restart-redis", "restart-kafka", "two-workers-kill-one")


@dataclass
class Outcome:
    fault: str
    records: int
    verdict: Verdict
    seconds: float
    notes: list[str] = field(default_factory=list)
    worker_exits: int = 0  # workers that died on their own (not killed by the run)


def known_input(n: int, seed: int, start: float = 1_600_000_000.0) -> list[bytes]:
    """``n`` generated posts over ~n/2 seconds of event time; a third without their brand field,
    so the text matcher decides, every fourth with epoch-millisecond times, and every fifth with
    another language tag or none (detected), so the per-language fields and the posts the model
    does not score ("ja") go through the faults too."""
    from producers.generator import generate_posts

    rng = random.Random(seed)
    out = []
    for i, post in enumerate(generate_posts(seed=seed, rate=2.0, start=start, limit=n)):
        post = {**post, "id": f"f{seed}-{i}"}
        if rng.random() < 1 / 3:
            post.pop("brand", None)
        if i % 4 == 0:
            post["created_at"] = int(start * 1000) + i * 500
        if i % 5 == 0:
            post["lang"] = ("de", "ja", "pt-BR", None)[i // 5 % 4]
            if post["lang"] is None:
                post.pop("lang")
        out.append(orjson.dumps(post))
    return out


class Producer(threading.Thread):
    """Sends ``values`` at ``rate``/s; keeps going through broker outages (the client retries)."""

    def __init__(self, settings: Settings, values: list[bytes], rate: float) -> None:
        super().__init__(daemon=True)
        self.sink = PostSink(settings, SinkOptions(linger_ms=5, delivery_timeout_ms=300_000))
        self.values, self.rate = values, rate
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            start = time.monotonic()
            while self.sent < len(self.values):
                due = min(len(self.values), int((time.monotonic() - start) * self.rate))
                if due > self.sent:
                    keys = [str(i).encode() for i in range(self.sent, due)]
                    self.sink.send(keys, self.values[self.sent:due])
                    self.sent = due
                time.sleep(0.01)
            if not self.sink.flush(300):
                raise h.BenchError(f"{self.sink.pending} records unconfirmed by the broker")
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self.sink.close()


class Run:
    """One fault run's services, workers and bookkeeping."""

    def __init__(self, base: Settings, fault: str, log_dir: Path) -> None:
        self.settings = h.run_settings(base, fault)
        self.fault, self.log_dir = fault, log_dir
        self.redis_server, self.broker = RedisServer(base), KafkaBroker(base)
        self.workers: list[Child] = []
        self.killed: set[int] = set()
        self.notes: list[str] = []
        self.exits = 0

    def start_worker(self, index: int) -> Child:
        port = self.settings.worker_web_port + 10 + index
        worker = start_worker(self.settings, self.log_dir, port, f"{self.fault}-w{index}")
        self.workers.append(worker)
        return worker

    def live(self) -> list[Child]:
        return [w for w in self.workers if w.alive()]

    def supervise(self) -> None:
        """Like systemd: a worker that died on its own is counted, noted and restarted."""
        for w in list(self.workers):
            if not w.alive() and w.pid not in self.killed:
                self.exits += 1
                self.killed.add(w.pid)
                self.notes.append(f"worker {w.pid} exited by itself ({w.proc.returncode}); "
                                  f"log tail: {w.tail(400)!r}")
                self.start_worker(len(self.workers))

    def kill(self, worker: Child) -> None:
        self.killed.add(worker.pid)
        worker.kill()

    def applied(self) -> tuple[int, int]:
        import redis

        keys = KeyScheme(self.settings.redis_prefix)
        try:
            client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2)
            n = int(client.hget(keys.total(ALL_BRANDS), "n") or 0)
            dead = sum(int(v) for v in client.hvals(keys.dead_letters))
            return n, dead
        except redis.RedisError:
            return -1, -1

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


def inject(run: Run) -> None:
    """The fault itself."""
    if run.fault == "kill-worker":
        run.kill(run.workers[0])
        run.notes.append("worker SIGKILLed, restarted 1 s later")
        time.sleep(1.0)
        run.start_worker(1)
    elif run.fault == "restart-redis":
        pid = run.redis_server.process.pid()
        if pid is None:
            raise h.BenchError("the Redis of this run is not one we started")
        os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 10)
        time.sleep(2.0)
        run.redis_server.up()
        run.notes.append("redis-server SIGKILLed, restarted 2 s later (AOF, appendfsync always)")
    elif run.fault == "restart-kafka":
        started = time.monotonic()
        run.broker.down()
        time.sleep(2.0)
        run.broker.up()
        run.notes.append(f"broker stopped and started again ({time.monotonic() - started:.0f} s)")
    elif run.fault == "two-workers-kill-one":
        run.kill(run.workers[1])
        run.notes.append("one of two workers SIGKILLed, not restarted")


def run_fault(base: Settings, fault: str, values: list[bytes], rate: float, log_dir: Path,
              at: float = 0.4, settle_s: float = 5.0, timeout_s: float = 300.0,
              want: Any = None) -> Outcome:
    if fault not in FAULTS:
        raise h.BenchError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
    started = time.monotonic()
    run = Run(base, fault, log_dir)
    ensure_topics(run.settings)
    want = want if want is not None else expected(run.settings, values)
    try:
        run.start_worker(0)
        if fault == "two-workers-kill-one":
            run.start_worker(1)
        h.wait_assigned(run.workers, run.settings.partitions)
        producer = Producer(run.settings, values, rate)
        producer.start()
        wait_until(lambda: producer.sent >= at * len(values) or not producer.is_alive(),
                   timeout_s, "the producer to reach the fault point")
        inject(run)
        _wait(producer.is_alive, run, timeout_s, "the producer to finish")
        if producer.error is not None:
            raise h.BenchError(f"producer failed: {producer.error}")
        n_want, dead_want = want.posts, sum(want.dead.values())

        def behind() -> bool:
            n, dead = run.applied()
            return bool(n < n_want or dead < dead_want)

        _wait(behind, run, timeout_s, "every record applied")
        _settle(run, settle_s)
    finally:
        run.stop()
    got = actual(run.settings, want)
    return Outcome(fault, len(values), compare(want, got), time.monotonic() - started,
                   run.notes, run.exits)


def _wait(busy: Callable[[], bool], run: Run, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while busy():
        if time.monotonic() > deadline:
            run.notes.append(f"gave up after {timeout_s:.0f} s waiting for {what}")
            return
        run.supervise()
        time.sleep(0.2)


def _settle(run: Run, settle_s: float) -> None:
    """Keep watching a while: a double count would show up as the totals moving on."""
    last, quiet_since = run.applied(), time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        time.sleep(0.25)
        run.supervise()
        now = run.applied()
        if now != last:
            last, quiet_since = now, time.monotonic()
