"""Where a live worker's extra CPU goes with the drivers on: py-spy (on-CPU samples) of one worker
per mode, SENTISTREAM_DRIVERS off and on alternating, on the posts of ``drivers_cost``.

Usage: .venv/bin/python -m ops.bench.drivers_pyspy [--posts 60000] [--rounds 2] [--rate 250]
       [--gc] [--native] [--out FILE.md]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`). Each
run: fresh topics holding the same ``sentistream generate --max --seed 1 --key id`` posts (as
``drivers_cost``), one worker started, ``py-spy record --format raw --nonblocking --threads``
attached from the first aggregate write to the last, the worker stopped. The in-process A/B
(``drivers_build_ab``) times ``batch_deltas``, ``attach``, ``group_call`` and ``pack_command``;
this one buckets the main thread's samples by the step of the live path they fall in
(``STEPS``: innermost listed frame wins), scaled by the thread's own scheduler clock, so that
the steps the in-process bench leaves out (redis-py's pipeline and socket, the replies, the
scored records, the announcements, the event loop, GC) are measured too. py-spy samples what is
on a CPU; within one thread the shares are CPU, and the clock fixes the total.
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
from typing import Any

import redis

from ops.bench.drivers_cost import fresh
from ops.bench.language_pyspy import (
    _gc,
    record_threads,
    switches,
    thread_cpu_s,
    wait_for_first_write,
)
from ops.bench.machine import cpu_model
from ops.bench.report import print_and_write
from ops.bench.sustained import cleanup, counted, cpu_s, redis_cpu_s, sentistream_run
from sentistream.harness import start_worker
from sentistream.settings import Settings, get_settings
from sentistream.topics import ensure_topics

# The live path's steps, by a function (its name as py-spy writes it) in the sampled stack; a
# sample counts for the innermost step of its stack, so "pack" inside "apply" counts as pack.
STEPS: tuple[tuple[str, str], ...] = (
    ("parse", "validate"),
    ("admit", "BatchProcessor._admit"),
    ("deltas", "batch_deltas"),
    ("drivers_attach", "BatchDrivers.attach"),
    ("group_call", "CallBuilder.group_call"),
    ("scored_records", "BatchProcessor._scored_records"),
    ("apply_outcomes", "BatchProcessor._apply"),
    ("announcement", "announcement"),
    ("sink_apply", "RedisSink._apply_chunk"),
    ("pipeline", "run_pipeline"),
    ("pack", "pack_commands"),
    ("pack", "pack_command"),
    ("send", "send_packed_command"),
    ("read_replies", "read_response"),
    ("produce", "BatchProcessor._send"),
    ("after_redis", "BatchProcessor._after_redis"),
    ("alerts", "BackgroundAlerts.submit"),
    ("alerts", "BackgroundAlerts._run"),
    ("kafka_fetch", "getmany"),
    ("gc", "<gc>"),
)


class RedisLoad:
    """The drivers' Redis work without the drivers' worker code: the driver ops of a drivers-on
    worker's calls for the same posts (built in-process, ``drivers_redis_ops.build_calls``),
    replayed on a scratch database (15) of the same Redis while a drivers-off worker runs,
    paced by its progress (the calls of the first n posts once it has counted n). The calls
    are packed to bytes beforehand and written to a raw socket, the replies drained by a
    thread, so that this process adds little CPU of its own: what an "off + load" run adds to
    a plain "off" run is what Redis' extra work, running beside the worker on the shared
    vCPUs, costs the worker."""

    def __init__(self, settings: Settings, posts: int, share: float = 1.0) -> None:
        import orjson
        from redis.asyncio.connection import Connection

        from ops.bench.drivers_redis_ops import DRIVER_OPS, build_calls, scratch_db
        from stream.worker.sink import APPLY_LUA

        self.client = scratch_db(settings.redis_url)
        self.sha = self.client.script_load(APPLY_LUA)
        calls = build_calls(posts, "generated", 2000, 4)
        # ``share`` < 1: every call's turn comes, but only that share of them is sent (the
        # replay's Redis CPU per post came out ~2x a drivers-on worker's own extra).
        calls = [c for i, c in enumerate(calls) if int((i + 1) * share) != int(i * share)]
        pack = Connection().pack_command
        self.packed: list[bytes] = []
        for c in calls:
            ops = [op for op in orjson.loads(c.args[3]) if op[0] in DRIVER_OPS]
            args = [*c.args[:3], orjson.dumps(ops).decode(), *c.args[4:]]
            self.packed.append(b"".join(pack("EVALSHA", self.sha, len(c.keys), *c.keys,
                                             *args)))
        self.posts = posts

    def run(self, progress: Any, stop: Any) -> None:
        """Send the calls as ``progress()`` (posts counted) advances, until all or ``stop``."""
        import socket
        import threading

        from redis.asyncio.connection import Connection

        kw = self.client.connection_pool.connection_kwargs
        sock = socket.create_connection((kw.get("host", "localhost"), kw.get("port", 6379)))
        sock.sendall(b"".join(Connection().pack_command("SELECT", "15")))

        def drain() -> None:
            while sock.recv(1 << 16):
                pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        sent = 0
        while sent < len(self.packed) and not stop.is_set():
            due = min(len(self.packed), len(self.packed) * progress() // self.posts + 8)
            if due > sent:
                sock.sendall(b"".join(self.packed[sent:due]))
                sent = due
            else:
                time.sleep(0.005)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        reader.join(30)
        sock.close()
        self.client.flushdb()


def profile_run(base: Settings, posts: int, drivers: bool, rate: int, raw: Path,
                gc_out: Path | None, native: bool, load: RedisLoad | None = None
                ) -> dict[str, Any]:
    """One worker draining ``posts`` generated posts with py-spy attached while it writes;
    with ``load``, its Redis also runs a drivers-on worker's driver ops (``RedisLoad``)."""
    import threading

    settings = fresh(base, drivers)
    ensure_topics(settings)
    sentistream_run(settings, "generate", "--max", "--limit", str(posts), "--seed", "1",
                    "--key", "id")
    client = redis.Redis.from_url(settings.redis_url)
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = ([sys.executable, "-m", "ops.bench.gc_worker", str(gc_out), "worker"] if gc_out
            else None)
    worker = start_worker(settings, settings.state_dir,
                          name=f"dspy-worker-{settings.redis_prefix}", argv=argv)
    spy: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    loader = None if load is None else threading.Thread(
        target=load.run, args=(lambda: counted(client, settings), stop), daemon=True)
    try:
        if loader is not None:
            loader.start()
        first = wait_for_first_write(worker, client, settings)
        pid = worker.proc.pid
        gc0 = _gc(gc_out)
        threads0, switches0 = thread_cpu_s(pid), switches(pid)
        ns0, faults0 = _thread_ns(pid), faults(pid)
        spy = record_threads(exe, pid, rate, raw, native)
        cpu0, t0, redis0 = cpu_s(pid), time.monotonic(), redis_cpu_s(client)
        while (n := counted(client, settings)) < posts:
            worker.check()
            time.sleep(0.05)
        cpu1, t1, redis1 = cpu_s(pid), time.monotonic(), redis_cpu_s(client)
        ns1, faults1 = _thread_ns(pid), faults(pid)
        threads1, switches1 = thread_cpu_s(pid), switches(pid)
        batches = (worker.metric("sentistream_batch_size_count"),
                   worker.metric("sentistream_batch_size_sum"))
        time.sleep(0.6)
        gc1 = _gc(gc_out)
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    finally:
        stop.set()
        if loader is not None:
            loader.join(60)
        if spy is not None and spy.poll() is None:
            spy.kill()
        worker.stop()
        cleanup(settings)
    by_tid = {str(tid): round((ns1[tid] - ns0.get(tid, 0)) / 1e9, 4) for tid in ns1}
    return {"drivers": ("on" if drivers else "off") + ("+load" if load else ""),
            "posts": n - first,
            "worker_cpu_s": cpu1 - cpu0, "wall_s": t1 - t0, "pid": pid,
            # Redis' CPU (the loader's work included) per post counted in the window
            "redis_cpu_us_per_post": round((redis1 - redis0) * 1e6 / max(n - first, 1), 2),
            "load_avg_1m": round(os.getloadavg()[0], 2), "raw": str(raw),
            # the whole run's batches (Kafka fetches): how many, and records per batch
            "batches": batches[0], "records_per_batch": round(batches[1] / max(batches[0], 1)),
            # per post: minor page faults, user and system CPU us (whole process; main thread)
            "per_post": {k: round((faults1[k] - faults0[k]) * (1 if k.endswith("minflt") else 1e6)
                                  / max(n - first, 1), 3) for k in faults0},
            "switches_per_post": round((switches1 - switches0) / max(n - first, 1), 3),
            "thread_cpu_s_by_tid": by_tid,
            "thread_cpu_s_ticks": {str(t): round(threads1[t] - threads0.get(t, 0.0), 3)
                                   for t in threads1},
            "gc": {g: [gc1[g][0] - gc0[g][0], round(gc1[g][1] - gc0[g][1], 4)] for g in gc0}
            if gc0 and gc1 else {}}


def faults(pid: int) -> dict[str, float]:
    """The process's minor page faults and its user and system CPU seconds (each thread's
    ``/proc/<pid>/task/<tid>/stat`` summed; ``main_*``: the main thread's own): a fault is
    kernel time charged to the thread that touched the page."""
    out = dict.fromkeys(("minflt", "user_s", "sys_s", "main_minflt", "main_user_s",
                         "main_sys_s"), 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            f = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        row = {"minflt": float(f[7]), "user_s": int(f[11]) / tick, "sys_s": int(f[12]) / tick}
        for k, v in row.items():
            out[k] += v
            if task.name == str(pid):
                out[f"main_{k}"] += v
    return out


def _thread_ns(pid: int) -> dict[int, int]:
    from ops.bench.sustained import thread_cpu_ns
    return thread_cpu_ns(pid)


def main_thread_steps(run: dict[str, Any]) -> tuple[float, dict[str, float], Counter[str]]:
    """The main thread's clock CPU in us per post, its steps' us per post (samples scaled by
    the clock), and the sampled functions (self, top frame) of the samples no step claims."""
    pid = str(run["pid"])
    steps: Counter[str] = Counter()
    unclaimed: Counter[str] = Counter()
    total = 0
    for line in Path(run["raw"]).read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, _, rest = stack.partition(";")
        if not head.endswith("MainThread"):  # "thread (<id>): <name>"
            continue
        frames = [f.split(" (")[0] for f in rest.split(";")]
        total += int(count)
        step = _step(frames)
        steps[step] += int(count)
        if step == "other":
            unclaimed[" < ".join(frames[-1:-4:-1])] += int(count)
    cpu_us = run["thread_cpu_s_by_tid"].get(pid, 0.0) * 1e6 / max(run["posts"], 1)
    scale = cpu_us / max(total, 1)
    return (cpu_us, {s: n * scale for s, n in steps.items()},
            Counter({f: n * scale for f, n in unclaimed.items()}))


def _step(frames: list[str]) -> str:
    for frame in reversed(frames):
        for step, function in STEPS:
            if frame == function or (frame.endswith("." + function) and "." not in function):
                return step
    return "other"


# The steps that run the drivers' own code (the rest does the same work either way, so its
# on-minus-off is contention, GC placement or noise).
DRIVER_STEPS = ("drivers_attach", "group_call", "pack", "send", "read_replies")


def paired(runs: list[dict[str, Any]], side: str = "on") -> list[dict[str, float]]:
    """Per round (its runs back to back): ``side`` ("on" or "off+load") minus off of every
    step's us per post, of the main thread, of the other threads and of GC (gen 0 + 1)."""
    rounds: dict[Any, dict[str, dict[str, Any]]] = {}
    for i, r in enumerate(runs):
        rounds.setdefault(r.get("round", i // 2), {})[r["drivers"]] = r
    out = []
    for by in rounds.values():
        if side not in by or "off" not in by:
            continue
        on, off = by[side], by["off"]
        (c_on, s_on, _), (c_off, s_off, _) = main_thread_steps(on), main_thread_steps(off)
        row = {k: s_on.get(k, 0.0) - s_off.get(k, 0.0) for k in set(s_on) | set(s_off)}
        row["main_thread"] = c_on - c_off
        row["other_threads"] = _other_us(on) - _other_us(off)
        row["gc_young"] = _gc_young_us(on) - _gc_young_us(off)
        for k in ("main_minflt", "main_sys_s", "minflt", "sys_s"):
            if k in on.get("per_post", {}) and k in off.get("per_post", {}):
                row[k] = on["per_post"][k] - off["per_post"][k]
        out.append(row)
    return out


def _other_us(run: dict[str, Any]) -> float:
    by = run["thread_cpu_s_by_tid"]
    spent: float = sum(by.values()) - by.get(str(run["pid"]), 0.0)
    return spent * 1e6 / max(int(run["posts"]), 1)


def _gc_young_us(run: dict[str, Any]) -> float:
    gcs = run.get("gc") or {}
    spent: float = sum(gcs.get(g, [0, 0.0])[1] for g in ("0", "1"))
    return spent * 1e6 / max(int(run["posts"]), 1)


def below(run: dict[str, Any], root: str) -> Counter[str]:
    """us per post of the main thread under ``root``, by its next two frames."""
    pid, total, found = str(run["pid"]), 0, Counter[str]()
    for line in Path(run["raw"]).read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        head, _, rest = stack.partition(";")
        if not head.endswith("MainThread"):
            continue
        frames = [f.split(" (")[0] for f in rest.split(";")]
        total += int(count)
        if root in frames:
            i = frames.index(root)
            found[" > ".join(frames[i + 1:i + 3]) or "(self)"] += int(count)
    scale = run["thread_cpu_s_by_tid"].get(pid, 0.0) * 1e6 / max(run["posts"], 1) / max(total, 1)
    return Counter({k: v * scale for k, v in found.items()})


def report(runs: list[dict[str, Any]], rate: int, command: str, top: int) -> str:
    from ops.bench.measure import spread

    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# A live worker, drivers off vs on: the main thread's steps, py-spy ({date})", "",
             f"{cpu_model()} ({os.cpu_count()} vCPUs), `{command}`; on-CPU samples at {rate} Hz "
             "of the main thread, scaled by its scheduler clock; us per post counted.", "",
             "| run | drivers | posts | worker CPU us/post | main thread (clock) | other threads "
             "| GC gen 0/1/2 (n: us/post) | batches (records each) | Redis us/post | load 1m |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(runs):
        us = 1e6 / max(r["posts"], 1)
        main = r["thread_cpu_s_by_tid"].get(str(r["pid"]), 0.0)
        other = sum(r["thread_cpu_s_by_tid"].values()) - main
        gcs = " / ".join(f"{c}: {s * us:.2f}" for c, s in r["gc"].values())
        lines.append(f"| {i} | {r['drivers']} | {r['posts']:,} | {r['worker_cpu_s'] * us:.1f} | "
                     f"{main * us:.1f} | {other * us:.1f} | {gcs} | {r.get('batches', 0):.0f} "
                     f"({r.get('records_per_batch', 0)}) | {r.get('redis_cpu_us_per_post', '-')} | "
                     f"{r['load_avg_1m']} |")
    per: dict[str, list[dict[str, float]]] = {"off": [], "on": [], "off+load": []}
    rest: dict[str, Counter[str]] = {"off": Counter(), "on": Counter(), "off+load": Counter()}
    for r in runs:
        cpu, steps, unclaimed = main_thread_steps(r)
        per[r["drivers"]].append({"main_thread": cpu, **steps})
        rest[r["drivers"]].update(unclaimed)
    rounds, loaded = paired(runs), paired(runs, "off+load")
    names = sorted({k for row in rounds for k in row})

    def mean(side: str, k: str) -> float:
        return sum(d.get(k, 0.0) for d in per[side]) / max(len(per[side]), 1)

    lines += ["", "## By step, us per post: means of each side, and per round on minus off", "",
              "Main-thread steps by py-spy; `other_threads` and `gc_young` (collections of "
              "generations 0 and 1, in whichever thread) by the clock.", "",
              "`off+load`: drivers off, with the drivers' Redis ops of the same posts replayed "
              "beside it (``RedisLoad``). `main_minflt`/`minflt`: minor page faults per post; "
              "`*_sys_s`: system CPU us per post (clock ticks).", "",
              "| step | off | on | on - off (means) | per round on - off: median (q1, q3) "
              "| per round (off+load) - off: median (q1, q3) |",
              "|---|---|---|---|---|---|"]

    def cell(rows: list[dict[str, float]], k: str) -> str:
        if not rows:
            return "-"
        sp = spread([r.get(k, 0.0) for r in rows], 2)
        return f"{sp['median']:+.2f} ({sp['q1']:+.2f}, {sp['q3']:+.2f})"

    for k in sorted(names, key=lambda k: -spread([r.get(k, 0.0) for r in rounds])["median"]):
        lines.append(f"| {k} | {mean('off', k):.2f} | {mean('on', k):.2f} | "
                     f"{mean('on', k) - mean('off', k):+.2f} | {cell(rounds, k)} | "
                     f"{cell(loaded, k)} |")
    if not rounds:
        return "\n".join(lines) + "\n"
    own = spread([sum(r.get(k, 0.0) for k in DRIVER_STEPS) for r in rounds], 2)
    same = spread([r["main_thread"] - sum(r.get(k, 0.0) for k in DRIVER_STEPS)
                   for r in rounds], 2)
    lines += ["", f"Main thread per round on minus off: the drivers' own steps "
              f"({', '.join(DRIVER_STEPS)}) median {own['median']:+.2f} us per post "
              f"(q1 {own['q1']:+.2f}, q3 {own['q3']:+.2f}); everything else median "
              f"{same['median']:+.2f} (q1 {same['q1']:+.2f}, q3 {same['q3']:+.2f}).", ""]
    on_runs = [r for r in runs if r["drivers"] == "on"]
    inner: Counter[str] = Counter()
    for r in on_runs:
        inner.update(below(r, "BatchDrivers.attach"))
    lines += ["## Inside `BatchDrivers.attach` (drivers on, mean us per post)", "",
              "| frames | us/post |", "|---|---|"]
    lines += [f"| `{f}` | {v / max(len(on_runs), 1):.2f} |" for f, v in inner.most_common(top)]
    n_on, n_off = max(len(per["on"]), 1), max(len(per["off"]), 1)
    diff = Counter({f: rest["on"][f] / n_on - rest["off"][f] / n_off
                    for f in set(rest["on"]) | set(rest["off"])})
    lines += ["", "## Samples no step claims: top frames (innermost < callers), largest on - off",
              "", "| frames | off | on | on - off |", "|---|---|---|---|"]
    for f, d in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]:
        lines.append(f"| `{f}` | {rest['off'][f] / n_off:.2f} | {rest['on'][f] / n_on:.2f} | "
                     f"{d:+.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=60_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--gc", action="store_true", help="count the worker's garbage collections")
    p.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    p.add_argument("--load", action="store_true",
                   help="a third run per round: drivers off with the drivers' Redis ops "
                   "replayed beside it (RedisLoad)")
    p.add_argument("--load-share", type=float, default=1.0,
                   help="the share of those calls sent (spread over the run)")
    p.add_argument("--out", type=Path, default=None, help="write FILE.md and FILE.json")
    p.add_argument("--report", type=Path, nargs="+", default=None,
                   help="no runs: report the runs of these FILE.json (raw samples still there)")
    args = p.parse_args()
    if args.report:
        old = []
        for n, f in enumerate(args.report):  # rounds numbered per file: keep them apart
            for i, r in enumerate(json.loads(f.read_text())):
                old.append({**r, "round": f"{n}:{r.get('round', i // 2)}"})
        print_and_write(old, report(old, args.rate, "python -m ops.bench.drivers_pyspy "
                                    + " ".join(sys.argv[1:]), args.top), args.out)
        return
    base = get_settings()
    raw_dir = base.state_dir / "drivers-pyspy" / time.strftime("%Y%m%dT%H%M%S")
    raw_dir.mkdir(parents=True, exist_ok=True)
    load = RedisLoad(base, args.posts, args.load_share) if args.load else None
    modes = ["off", "on", *(["off+load"] if load else [])]
    runs = []
    for r in range(args.rounds):
        for mode in modes[r % len(modes):] + modes[:r % len(modes)]:  # rotate who goes first
            runs.append(profile_run(base, args.posts, mode == "on", args.rate,
                                    raw_dir / f"round{r}-{mode}.txt",
                                    raw_dir / f"round{r}-{mode}-gc.json" if args.gc else None,
                                    args.native, load if mode == "off+load" else None))
            runs[-1]["round"] = r
            print(json.dumps(runs[-1]), flush=True)
    text = report(runs, args.rate, " ".join(["python -m ops.bench.drivers_pyspy", *sys.argv[1:]]),
                  args.top)
    print_and_write(runs, text, args.out)


if __name__ == "__main__":
    main()
