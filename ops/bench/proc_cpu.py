"""CPU seconds of the whole box, of each process and of each thread, read from Linux's /proc:
what ``ops.bench.cpu_budget`` sets against the posts a drain moved.

A ``Snapshot`` holds, at one moment, the box's CPU time by state (/proc/stat: busy, idle,
iowait, steal) and the user + system CPU seconds of every process then alive, with their threads
for the pids asked for. The difference of two snapshots is a ``Usage``: per process, per thread,
and what the box spent that no process seen at both ends accounts for (processes that started or
exited in between, kernel work: irq, softirq).
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK")
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice
_IDLE, _IOWAIT, _IRQ, _SOFTIRQ, _STEAL = 3, 4, 5, 6, 7


def box_seconds(proc: Path = PROC) -> dict[str, float]:
    """CPU seconds of all CPUs since boot: ``busy`` (user, nice, system, irq, softirq),
    ``idle``, ``iowait``, ``steal`` (taken by the hypervisor), ``irq`` (irq + softirq: kernel
    work no process is charged with, e.g. loopback network traffic) and ``total``."""
    fields_ = [int(x) for x in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    idle, iowait, steal = fields_[_IDLE], fields_[_IOWAIT], fields_[_STEAL]
    total = sum(fields_)
    return {"busy": (total - idle - iowait - steal) / _TICK, "idle": idle / _TICK,
            "iowait": iowait / _TICK, "steal": steal / _TICK,
            "irq": (fields_[_IRQ] + fields_[_SOFTIRQ]) / _TICK, "total": total / _TICK}


def _stat(path: Path) -> tuple[str, float] | None:
    """(command name, user + system CPU seconds) of one /proc/<pid> or task, None if gone."""
    try:
        text = (path / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return name, (int(rest[11]) + int(rest[12])) / _TICK  # utime, stime (fields 14 and 15)


def process_seconds(pid: int, proc: Path = PROC) -> float:
    """User + system CPU seconds of a process, all its threads (0.0 once it has exited)."""
    got = _stat(proc / str(pid))
    return got[1] if got else 0.0


def thread_seconds(pid: int, proc: Path = PROC) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process, by thread id."""
    out: dict[int, float] = {}
    with suppress(OSError):
        for task in (proc / str(pid) / "task").iterdir():
            got = _stat(task)
            if got is not None:
                out[int(task.name)] = got[1]
    return out


def _cmdline(pid: int, proc: Path) -> str:
    with suppress(OSError):
        raw = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in raw if a)[:160]
    return ""


@dataclass
class Snapshot:
    """The box and every process at one moment; threads of the pids in ``threads_of``."""

    at: float
    box: dict[str, float]
    procs: dict[int, tuple[str, float]]
    threads: dict[int, dict[int, float]] = field(default_factory=dict)

    @classmethod
    def take(cls, threads_of: tuple[int, ...] = (), proc: Path = PROC) -> Snapshot:
        procs: dict[int, tuple[str, float]] = {}
        for entry in proc.iterdir():
            if entry.name.isdigit() and (got := _stat(entry)) is not None:
                procs[int(entry.name)] = got
        return cls(time.time(), box_seconds(proc), procs,
                   {pid: thread_seconds(pid, proc) for pid in threads_of})


@dataclass
class Usage:
    """What happened between two snapshots, in CPU seconds."""

    seconds: float  # wall
    box: dict[str, float]
    procs: dict[int, float]  # pids alive at both ends
    names: dict[int, str]
    threads: dict[int, dict[int, float]]
    started: float  # CPU seconds of the processes that started in between (all of theirs)

    @classmethod
    def between(cls, a: Snapshot, b: Snapshot) -> Usage:
        procs = {pid: b.procs[pid][1] - a.procs[pid][1] for pid in b.procs if pid in a.procs}
        threads = {pid: {tid: s - a.threads.get(pid, {}).get(tid, 0.0)
                         for tid, s in tids.items()} for pid, tids in b.threads.items()}
        started = sum(s for pid, (_, s) in b.procs.items() if pid not in a.procs)
        return cls(b.at - a.at, {k: b.box[k] - a.box[k] for k in b.box}, procs,
                   {pid: b.procs[pid][0] for pid in procs}, threads, started)

    def of(self, pids: list[int]) -> float:
        return sum(self.procs.get(pid, 0.0) for pid in pids)

    def unaccounted(self) -> float:
        """Busy CPU no process seen at both ends accounts for (short-lived ones, the kernel)."""
        return max(self.box["busy"] - sum(self.procs.values()), 0.0)

    def top_others(self, known: set[int], n: int = 6, proc: Path = PROC
                   ) -> list[tuple[int, str, float]]:
        """The busiest processes outside ``known``: (pid, command line or name, seconds)."""
        rest = sorted(((s, pid) for pid, s in self.procs.items() if pid not in known and s > 0),
                      reverse=True)[:n]
        return [(pid, _cmdline(pid, proc) or self.names[pid], s) for s, pid in rest]


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """The pid and every process below it (a worker's scoring process, a wrapper's child)."""
    parents: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                text = (entry / "stat").read_text()
                ppid = int(text[text.rindex(")") + 2:].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out
