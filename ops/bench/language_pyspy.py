"""Where a live worker's extra CPU goes with language ID on: py-spy (on-CPU samples) of one
worker per mode, language ID off and on alternating, on the posts of ``language_throughput``.

Usage: .venv/bin/python -m ops.bench.language_pyspy [--posts 60000] [--rounds 2]
       [--input english-detect|umsab|english] [--rate 250] [--out FILE.md]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`). Each
run: the posts produced to a fresh topic set, one worker started, ``py-spy record --format raw
--nonblocking --threads`` attached from the first aggregate write to the last, the worker
stopped. Samples are turned into microseconds of CPU per post (samples / rate / posts counted
in the window), per function both inclusive (any frame of the stack) and self (the top frame),
summed over the rounds of a mode; the report lists the functions whose per-post cost differs
most between on and off. py-spy samples what is on a CPU, so GIL waits do not count, but C
code under a Python frame counts for that frame. Needs py-spy (`pip install -e .[bench]`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import redis

from ops.bench.harness import run_settings
from ops.bench.language_throughput import posts as bench_posts
from ops.bench.language_throughput import produce
from ops.bench.machine import cpu_model
from ops.bench.report import print_and_write
from ops.bench.sustained import cleanup, counted, cpu_s
from sentistream.harness import Child, start_worker
from sentistream.settings import Settings, get_settings


def thread_cpu_s(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process (Linux /proc)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields_ = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    return out


def switches(pid: int) -> int:
    """Voluntary context switches of every thread of a process (a GIL hand-off is one)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def wait_for_first_write(worker: Child, client: redis.Redis, settings: Settings) -> int:
    """Blocks until the worker has counted its first posts in Redis (the profiled window starts
    there, past its start-up); returns that count. Raises if the worker died meanwhile."""
    while not (first := counted(client, settings)):
        worker.check()
        time.sleep(0.02)
    return first


def record_threads(exe: str, pid: int, rate: int, raw: Path, native: bool = False
                   ) -> subprocess.Popen[bytes]:
    """``py-spy record`` of every thread of ``pid`` into ``raw`` (its raw format), sampling
    without pausing the worker (``--nonblocking``)."""
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--nonblocking", "--threads", *(["--native"] if native else []), "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_run(base: Settings, values: list[bytes], language_id: str, rate: int,
                raw: Path, gc_out: Path | None) -> dict[str, Any]:
    """One worker draining ``values`` with py-spy attached while it writes aggregates (no
    py-spy when ``rate`` is 0); its threads' CPU, and with ``gc_out`` its collector's."""
    settings = run_settings(base, "lspy").replace(language_id=language_id)
    produce(settings, values)
    client = redis.Redis.from_url(settings.redis_url)
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = ([sys.executable, "-m", "ops.bench.gc_worker", str(gc_out), "worker"] if gc_out
            else None)
    worker = start_worker(settings, settings.state_dir, name=f"worker-{settings.redis_prefix}",
                          argv=argv)
    spy: subprocess.Popen[bytes] | None = None
    try:
        first = wait_for_first_write(worker, client, settings)
        pid = worker.proc.pid
        gc0 = _gc(gc_out)
        threads0, switches0 = thread_cpu_s(pid), switches(pid)
        spy = None if not rate else record_threads(exe, pid, rate, raw)
        cpu0, t0 = cpu_s(worker.proc.pid), time.monotonic()
        while (n := counted(client, settings)) < len(values):
            worker.check()
            time.sleep(0.05)
        cpu1, t1 = cpu_s(worker.proc.pid), time.monotonic()
        threads1, switches1 = thread_cpu_s(pid), switches(pid)
        time.sleep(0.6)
        gc1 = _gc(gc_out)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        worker.stop()
        cleanup(settings)
    per_thread = sorted(((tid == pid, threads1[tid] - threads0.get(tid, 0.0))
                         for tid in threads1), reverse=True)
    by_tid = {str(tid): round(threads1[tid] - threads0.get(tid, 0.0), 3) for tid in threads1}
    return {"language_id": language_id, "posts": n - first, "worker_cpu_s": cpu1 - cpu0,
            "wall_s": t1 - t0, "load_avg_1m": round(os.getloadavg()[0], 2),
            "raw": str(raw) if rate else None,
            # main thread first, then the others by CPU
            "switches_per_post": round((switches1 - switches0) / max(n - first, 1), 3),
            "thread_cpu_s": [round(s, 2) for _, s in per_thread if s > 0],
            "thread_cpu_s_by_tid": by_tid,
            # per generation: collections, CPU seconds in them (while the window ran, +-0.5 s)
            "gc": {g: [gc1[g][0] - gc0[g][0], round(gc1[g][1] - gc0[g][1], 3)] for g in gc0}
            if gc0 and gc1 else {}}


def _gc(path: Path | None) -> dict[str, list[float]]:
    if path is None:
        return {}
    with contextlib.suppress(OSError, ValueError):
        got: dict[str, list[float]] = json.loads(path.read_text())["generations"]
        return got
    return {}


def stacks(raw: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw (collapsed) output: stack (outermost first) -> samples."""
    out: Counter[tuple[str, ...]] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out[tuple(_frame(f) for f in stack.split(";"))] += int(count)
    return out


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: line numbers split one function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


# What ``thread_split`` reports per thread: the scoring step and its parts, the models, and the
# main thread's steps that language ID changes.
SPLIT = ("score_here", "LanguageRouter.route", "plain_language", "LanguageDetector._first",
         "BatchClassifier.classify", "_strip_batch", "_Model.score", "Tokenizer.encode_rows",
         "Interpreter.invoke", "SentimentScorer.token_rows", "BatchDrivers.attach",
         "batch_deltas", "bucket_language_fields", "CallBuilder.group_call")


def thread_split(run: dict[str, Any]) -> list[tuple[str, float, dict[str, float]]]:
    """Per thread of a run with samples: (name, its CPU us per post by the clock, us per post of
    each ``SPLIT`` function): a function's samples in that thread scaled by the thread's clock
    CPU over its samples. py-spy's sampled totals are not CPU time under load (a thread waiting
    for the GIL can count as active), but within one thread the shares are, so scaling each
    thread by its own clock keeps the shares and fixes the total."""
    samples: Counter[str] = Counter()
    names: dict[str, str] = {}
    parts: Counter[tuple[str, str]] = Counter()
    for line in Path(run["raw"]).read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, _, rest = stack.partition(";")
        tid, _, name = head.removeprefix("thread (").partition("): ")
        samples[tid] += int(count)
        names[tid] = name
        frames = {f.split(" (")[0] for f in rest.split(";")}
        for function in SPLIT:
            if function in frames:
                parts[(tid, function)] += int(count)
    clock = run.get("thread_cpu_s_by_tid", {})
    out = []
    for tid, n in samples.most_common():
        if tid not in clock or not n:
            continue
        scale = clock[tid] * 1e6 / n / max(run["posts"], 1)  # us per post per sample
        out.append((f"{names[tid]} ({tid})", clock[tid] * 1e6 / max(run["posts"], 1),
                    {f: parts[(tid, f)] * scale for f in SPLIT if parts[(tid, f)]}))
    return out


def per_post(runs: list[dict[str, Any]], rate: int) -> tuple[dict[str, float], dict[str, float],
                                                                float]:
    """(inclusive, self, total) microseconds of sampled CPU per post, over ``runs``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    posts = sum(r["posts"] for r in runs)
    for r in runs:
        for stack, count in stacks(Path(r["raw"])).items():
            total += count
            for name in set(stack):
                inclusive[name] += count
            own[stack[-1]] += count
    scale = 1e6 / rate / max(posts, 1) if rate else 0.0  # --rate 0: threads only, no samples
    return ({k: v * scale for k, v in inclusive.items()}, {k: v * scale for k, v in own.items()},
            total * scale)


def report(runs: list[dict[str, Any]], rate: int, top: int, command: str) -> str:
    sides = {mode: per_post([r for r in runs if r["language_id"] == mode and r["raw"]], rate)
             for mode in ("off", "on")}
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# A live worker, language ID off vs on: threads, GC, py-spy ({date})",
             "", f"{cpu_model()} ({os.cpu_count()} vCPUs), `{command}`; on-CPU samples at "
             f"{rate} Hz, us per post (sampled CPU / posts counted while sampling).", "",
             "| run | language ID | posts | worker CPU us/post (clock) | main thread | other "
             "threads (largest first) | GC (gen 0/1/2: collections, us/post) | sampled us/post "
             "| load 1m |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs):
        sampled = per_post([r], rate)[2] if r["raw"] else 0.0
        us = 1e6 / max(r["posts"], 1)
        threads = r["thread_cpu_s"]
        gcs = " / ".join(f"{c}: {s * us:.2f}" for c, s in r["gc"].values())
        lines.append(f"| {i} | {r['language_id']} | {r['posts']:,} | "
                     f"{r['worker_cpu_s'] * us:.1f} | {threads[0] * us:.1f} | "
                     f"{', '.join(f'{t * us:.1f}' for t in threads[1:4])} | {gcs} | "
                     f"{sampled:.1f} | {r['load_avg_1m']} |")
    views = (("inclusive (the function and what it calls)", 0), ("self (top frame)", 1))
    for title, k in views if rate else ():
        off, on = cast(dict[str, float], sides["off"][k]), cast(dict[str, float], sides["on"][k])
        names = sorted(set(off) | set(on), key=lambda f: -abs(on.get(f, 0) - off.get(f, 0)))
        lines += ["", f"## {title}: largest on - off", "",
                  "| function | off | on | on - off |", "|---|---|---|---|"]
        lines += [f"| `{f}` | {off.get(f, 0):.2f} | {on.get(f, 0):.2f} | "
                  f"{on.get(f, 0) - off.get(f, 0):+.2f} |" for f in names[:top]]
    lines += ["", f"Total sampled: off {sides['off'][2]:.1f}, on {sides['on'][2]:.1f} us/post.",
              ""]
    if rate:
        lines += ["## Per thread, scaled by its clock CPU (us per post)", "",
                  "| run | language ID | thread | CPU | of which |", "|---|---|---|---|---|"]
        for i, r in enumerate(runs):
            for name, cpu, split in thread_split(r):
                lines.append(f"| {i} | {r['language_id']} | {name} | {cpu:.1f} | "
                             + ", ".join(f"{f} {v:.1f}" for f, v in split.items()) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=60_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--input", choices=("umsab", "english", "english-detect"),
                   default="english-detect")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--gc", action="store_true", help="count the worker's garbage collections "
                   "(run through ops.bench.gc_worker)")
    p.add_argument("--out", type=Path, default=None, help="write FILE.md and FILE.json")
    args = p.parse_args()
    base = get_settings()
    values = bench_posts(args.input, args.posts)
    raw_dir = base.state_dir / "language-pyspy"
    raw_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for r in range(args.rounds):
        for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
            runs.append(profile_run(base, values, mode, args.rate,
                                    raw_dir / f"round{r}-{mode}.txt",
                                    raw_dir / f"round{r}-{mode}-gc.json" if args.gc else None))
            print(json.dumps(runs[-1]), flush=True)
    text = report(runs, args.rate, args.top,
                  " ".join(["python -m ops.bench.language_pyspy", *sys.argv[1:]]))
    print_and_write(runs, text, args.out)


if __name__ == "__main__":
    main()
