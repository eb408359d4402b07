"""The whole box's CPU per post during a backlog drain: the worker (by thread and by part), the
Kafka broker, Redis, the benchmark's producer and its 2 ms poller, and everything else on the
machine; the same for the naive per-post VADER pipeline; and the ceilings those budgets set.

Usage (from the repository root; starts and stops its own Kafka + Redis on the ports of the
SENTISTREAM_* environment, ops/bench/harness.py's BENCH_ENV otherwise):
    .venv/bin/python -m ops.bench.cpu_budget [--posts 100000] [--naive-posts 20000]
        [--repeats 2] [--pyspy-rate 100] [--name cpu-budget] [--out DIR]
        [--alternate produce_batch_bytes=16384,1000000]

Each repeat: the bare scorer (``ops.bench.drain.bare_scorer``), then a backlog of --posts
TweetEval posts pre-loaded (its producer and broker CPU measured too) and one worker started
under ``ops.bench.gc_worker`` (its garbage collections' CPU counted) with the drain benchmark's
2 ms offset poller running; from 10% to 90% of the posts in the aggregates (start-up and the
last batches left out) /proc is read at both ends for every process and thread on the machine
and /proc/stat for the box, and ``py-spy record --threads --nonblocking`` (on-CPU samples) runs
on the worker, so its CPU splits by part (``ops.bench.cpu_split``). Then the naive pipeline
(``ops.bench.naive``, Redis at ``appendfsync everysec`` as in ``ops.bench.e2e``) drains
--naive-posts of the same posts under the same accounting. Writes <name>.json and <name>.md.

Ceilings, per repeat: with every CPU of the box given to the drain, posts/s <= CPUs x 1e6 /
(sum of us per post of the drain's own processes); for a target rate R, the worker's own us per
post may be at most CPUs x 1e6 / R - (the other processes' us per post), those taken as fixed
per post.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from ops.bench import harness as h
from ops.bench.cpu_budget_report import render
from ops.bench.cpu_split import read_samples, split, total_samples
from ops.bench.drain import bare_scorer, stage_seconds
from ops.bench.machine import cpu_model
from ops.bench.naive import LABELS
from ops.bench.proc_cpu import Snapshot, Usage, descendants
from producers.sink import SinkOptions
from sentistream.harness import Child, start_worker
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import ALL_BRANDS, KeyScheme

RESULTS = Path(__file__).resolve().parent / "results"
ROLES = ("worker", "broker", "redis", "bench producer", "bench main", "poller")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=100_000, help="posts of each worker drain")
    p.add_argument("--naive-posts", type=int, default=20_000,
                   help="posts of each naive drain (0: no naive pipeline)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--scorer-seconds", type=float, default=4.0)
    p.add_argument("--poll-interval", type=float, default=0.002,
                   help="the drain benchmark's offset poller (ops/bench/harness.py Observer)")
    p.add_argument("--pyspy-rate", type=int, default=50,
                   help="py-spy samples per second on the worker (0: no split by part)")
    p.add_argument("--pyspy-odd", action="store_true",
                   help="py-spy only in odd repeats: the even ones give the budget without it")
    p.add_argument("--alternate", metavar="FIELD=A,B,...",
                   help="a worker setting that takes these values in turn, repeat by repeat "
                   "(e.g. produce_batch_bytes=16384,1000000): variants side by side in one run")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="cpu-budget")
    p.add_argument("--resplit", type=Path, metavar="RESULTS.json",
                   help="no run: split again the worker's CPU of a results file from the py-spy "
                   "files kept in --raw-dir (after a change of ops/bench/cpu_split.py's parts)")
    p.add_argument("--raw-dir", type=Path, help="the run's log directory (pyspy-*.txt)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.resplit:
        return resplit(args.resplit, args.raw_dir)
    base = h.bench_settings()
    corpus = h.tweeteval()
    texts = [p["text"] for p in corpus.posts]
    log_dir = base.state_dir / "logs" / time.strftime("cpu-budget-%Y%m%d-%H%M%S")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m ops.bench.cpu_budget " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "data": corpus.source,
        "batch_size": base.batch_size, "partitions": base.partitions,
        "loadavg_start": os.getloadavg(), "repeats": []}
    with h.services(base) as (redis_server, broker):
        services = {"broker": broker.process.pid(), "redis": redis_server.process.pid()}
        if None in services.values():
            raise h.BenchError(f"service pids not found: {services}")
        for repeat in range(args.repeats):
            row: dict[str, Any] = {"repeat": repeat, "loadavg": os.getloadavg(),
                                   "scorer": bare_scorer(texts, base.batch_size,
                                                         args.scorer_seconds)}
            rate = 0 if args.pyspy_odd and repeat % 2 == 0 else args.pyspy_rate
            variant = alternate(base, args.alternate, repeat)
            if args.alternate:
                row["variant"] = args.alternate.split("=", 1)[0] + "=" + str(
                    getattr(variant, args.alternate.split("=", 1)[0]))
            row["worker"] = worker_drain(variant, corpus, args, services, log_dir, repeat, rate)
            if args.naive_posts:
                row["naive"] = naive_drain(base, corpus, args, services, log_dir)
            row["derived"] = derive(row, os.cpu_count() or 1)
            print(json.dumps(row["derived"]), flush=True)
            result["repeats"].append(row)
    result["loadavg_end"] = os.getloadavg()
    md = render(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(md)
    print(md)
    return result


def alternate(base: Settings, spec: str | None, repeat: int) -> Settings:
    """``base`` with the --alternate setting at its value for this repeat (the values in turn)."""
    if not spec:
        return base
    field, _, values = spec.partition("=")
    choices = values.split(",")
    return Settings.from_env({**base.to_env(), f"SENTISTREAM_{field.upper()}":
                              choices[repeat % len(choices)]})


# -- one drain -------------------------------------------------------------------------------
def producer_threads() -> list[int]:
    """This process's producer threads (kafka-python's network thread), by OS thread id."""
    return [t.native_id for t in threading.enumerate()
            if t.native_id is not None and "kafka" in t.name.lower()]


def budget(a: Snapshot, b: Snapshot, posts: int, roles: dict[str, list[int]],
           producer_tids: list[int]) -> dict[str, Any]:
    """us of CPU per post of each role, of the other processes and of the box (busy, idle);
    this process split into its producer's threads and the rest (its wait loop)."""
    use = Usage.between(a, b)
    us = 1e6 / max(posts, 1)
    me = os.getpid()
    mine = use.threads.get(me, {})
    per = {role: use.of(pids) * us for role, pids in roles.items()}
    per["bench producer"] = sum(mine.get(t, 0.0) for t in producer_tids) * us
    per["bench main"] = use.of([me]) * us - per["bench producer"]
    known = {p for pids in roles.values() for p in pids} | {me}
    others = sum(s for pid, s in use.procs.items() if pid not in known)
    total = use.box["total"]
    return {"posts": posts, "seconds": use.seconds, "posts_per_s": posts / use.seconds,
            "us_per_post": per,
            "other_processes_us_per_post": others * us,
            "unaccounted_us_per_post": use.unaccounted() * us,
            # of which: irq + softirq (loopback traffic), processes started in the window
            "irq_us_per_post": use.box.get("irq", 0.0) * us,
            "started_processes_us_per_post": use.started * us,
            "box_busy_us_per_post": use.box["busy"] * us,
            "box_share": {k: use.box[k] / total for k in ("busy", "idle", "iowait", "steal")},
            "top_others": [(pid, cmd[:100], round(s * us, 2))
                           for pid, cmd, s in use.top_others(known)],
            "_threads": use.threads}


def _wait(count: Callable[[], int], n: int, children: list[Child], every: float = 0.01,
          timeout: float = 900.0) -> int:
    """Polls ``count`` every ``every`` seconds until it reaches n; returns the count seen."""
    deadline = time.monotonic() + timeout
    while (seen := count()) < n:
        if time.monotonic() > deadline:
            raise h.BenchError(f"{seen} of {n} posts after {timeout:.0f}s:\n"
                               + "\n".join(c.tail() for c in children))
        for c in children:
            c.check()
        time.sleep(every)
    return seen


def _preload(sink: h.StampedSink, posts: list[dict[str, Any]],
             services: dict[str, int | None]) -> dict[str, Any]:
    a = Snapshot.take((os.getpid(),))
    h.send_paced(sink, posts, None)
    b = Snapshot.take((os.getpid(),))
    got = budget(a, b, len(posts), {k: [v] for k, v in services.items() if v},
                 producer_threads())
    got.pop("_threads")
    return got


def worker_drain(base: Settings, corpus: h.Corpus, args: argparse.Namespace,
                 services: dict[str, int | None], log_dir: Path, repeat: int,
                 pyspy_rate: int) -> dict[str, Any]:
    rs = h.run_settings(base, "budget")
    ensure_topics(rs)
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    out: dict[str, Any] = {"preload": _preload(sink, h.repeated(corpus.posts, args.posts),
                                               services)}
    gc_file = log_dir / f"gc-{rs.redis_prefix}.json"
    raw = log_dir / f"pyspy-{rs.redis_prefix}.txt"
    log_dir.mkdir(parents=True, exist_ok=True)
    worker = start_worker(rs, log_dir, rs.worker_web_port, f"budget{repeat}",
                          argv=[sys.executable, "-m", "ops.bench.gc_worker", str(gc_file),
                                "worker"])
    client = redis.Redis.from_url(rs.redis_url)
    key = KeyScheme(rs.redis_prefix).total(ALL_BRANDS)

    def count() -> int:
        return int(client.hget(key, "n") or 0)

    spy: subprocess.Popen[bytes] | None = None
    try:
        with h.Observer(rs, [worker.pid], args.poll_interval) as obs:
            h.wait_assigned([worker], rs.partitions)
            spy = _start_pyspy(worker.pid, raw, pyspy_rate)
            _wait(count, int(0.1 * args.posts), [worker])
            wpids = descendants(worker.pid)
            roles: dict[str, list[int]] = {"worker": wpids, "poller": [obs.proc.pid or 0],
                     **{k: [v] for k, v in services.items() if v}}
            roles["py-spy (measuring)"] = [spy.pid] if spy is not None else []
            threads_of = (*wpids, os.getpid())
            gc0, st0, cmd0 = _gc_s(gc_file), stage_seconds([worker]), _commands(client)
            n0, a = count(), Snapshot.take(threads_of)
            producer = producer_threads()
            _wait(count, int(0.9 * args.posts), [worker])
            n1, b = count(), Snapshot.take(threads_of)
            gc1, st1, cmd1 = _gc_s(gc_file), stage_seconds([worker]), _commands(client)
            dumped = dump_thread_names(worker.pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            _wait(count, args.posts, [worker])
            obs.finish()
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        worker.stop()
        sink.close()
    posts = n1 - n0
    drain = budget(a, b, posts, roles, producer)
    threads = drain.pop("_threads")
    us = 1e6 / max(posts, 1)
    worker_threads = {tid: s for pid in wpids for tid, s in threads.get(pid, {}).items()}
    samples = read_samples(raw) if raw.exists() else {}
    names = {**dumped, **{tid: name for tid, (name, _) in samples.items()}}
    # gc_worker's file-writing thread is measurement, not the worker.
    for tid in [t for t, name in names.items() if "(_dump)" in name]:
        moved = worker_threads.pop(tid, 0.0) * us
        drain["us_per_post"]["worker"] -= moved
        drain["us_per_post"]["py-spy (measuring)"] += moved
    out["drain"] = drain
    out["worker_threads_us_per_post"] = sorted(
        ((names.get(tid, f"tid {tid} (no Python samples)"), round(s * us, 2))
         for tid, s in worker_threads.items() if s > 0), key=lambda x: -x[1])
    out["gc_us_per_post"] = (gc1 - gc0) * us
    out["parts_us_per_post"] = ({part: s * us for part, s in sorted(
        split(worker_threads, samples, gc1 - gc0).items(), key=lambda kv: -kv[1])}
        if samples else {})
    out["pyspy_samples"] = total_samples(samples)
    out["stages_wall_us_per_post"] = {k: round((v - st0.get(k, 0.0)) * us, 2)
                                      for k, v in st1.items() if not k.startswith("batch_size")}
    out["batches"] = st1.get("batch_size_count", 0.0) - st0.get("batch_size_count", 0.0)
    out["redis_command_us_per_post"] = {k: round((v - cmd0.get(k, 0.0)) * us / 1e6, 2)
                                        for k, v in cmd1.items() if v > cmd0.get(k, 0.0)}
    return out


def naive_drain(base: Settings, corpus: h.Corpus, args: argparse.Namespace,
                services: dict[str, int | None], log_dir: Path) -> dict[str, Any]:
    rs = h.run_settings(base, "budget-naive")
    ensure_topics(rs, [rs.topic_posts])
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    out: dict[str, Any] = {"preload": _preload(sink, h.repeated(corpus.posts, args.naive_posts),
                                               services)}
    sink.close()
    client = redis.Redis.from_url(rs.redis_url)
    brands = sorted({p.get("brand") or "_all" for p in corpus.posts})
    keys = [f"{rs.redis_prefix}:{b}:{label}" for b in brands for label in LABELS]

    def count() -> int:
        return sum(int(v) for v in client.mget(keys) if v)

    fsync = str(client.config_get("appendfsync")["appendfsync"])
    client.config_set("appendfsync", "everysec")  # as ops.bench.e2e gives the naive pipeline
    naive = h.start_naive(rs, rs.topic_posts, rs.redis_prefix, rs.worker_web_port + 1, log_dir)
    try:
        # An MGET of every counter: every 0.1 s, so the poll costs Redis little.
        _wait(count, int(0.1 * args.naive_posts), [naive], 0.1)
        roles = {"worker": descendants(naive.pid), **{k: [v] for k, v in services.items() if v}}
        n0, a = count(), Snapshot.take((os.getpid(),))
        cmd0, producer = _commands(client), producer_threads()
        _wait(count, int(0.9 * args.naive_posts), [naive], 0.1)
        n1, b = count(), Snapshot.take((os.getpid(),))
        cmd1 = _commands(client)
        _wait(count, args.naive_posts, [naive], 0.1)
    finally:
        naive.stop()
        client.config_set("appendfsync", fsync)
    drain = budget(a, b, n1 - n0, roles, producer)
    drain.pop("_threads")
    us = 1e6 / max(n1 - n0, 1)
    out["drain"] = drain
    out["redis_command_us_per_post"] = {k: round((v - cmd0.get(k, 0.0)) * us / 1e6, 2)
                                        for k, v in cmd1.items() if v > cmd0.get(k, 0.0)}
    return out


def _commands(client: Any) -> dict[str, float]:
    """Redis's microseconds inside each command so far (INFO commandstats)."""
    stats = client.info("commandstats")
    out = {name.removeprefix("cmdstat_"): float(v["usec"]) for name, v in stats.items()}
    out["_calls"] = float(sum(v["calls"] for name, v in stats.items()
                              if name not in ("cmdstat_info", "cmdstat_hgetall")))
    return out


def _gc_s(path: Path) -> float:
    """The worker's garbage collectors' CPU seconds so far (ops.bench.gc_worker's file, rewritten
    every 0.5 s: a window's figure is within a half-second's collections)."""
    try:
        gens = json.loads(path.read_text())["generations"]
    except (OSError, ValueError, KeyError):
        return 0.0
    return float(sum(row[1] for row in gens.values()))


def dump_thread_names(pid: int) -> dict[int, str]:
    """OS thread id -> Python thread name, from one ``py-spy dump`` (after the window)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    try:
        text = subprocess.run([exe, "dump", "--nonblocking", "--pid", str(pid)],
                              capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out = {}
    for line in text.splitlines():  # Thread 17901 (active+gil): "MainThread"
        if line.startswith("Thread ") and '"' in line:
            tid = line.split()[1]
            if tid.isdigit():
                out[int(tid)] = line.split('"')[1]
    return out


def _start_pyspy(pid: int, raw: Path, rate: int) -> subprocess.Popen[bytes] | None:
    if not rate:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise h.BenchError("py-spy not found: pip install -e .[bench], or --pyspy-rate 0")
    return subprocess.Popen([exe, "record", "--threads", "--nonblocking", "--format", "raw",
                             "--rate", str(rate), "--pid", str(pid), "--output", str(raw)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def resplit(path: Path, raw_dir: Path) -> dict[str, Any]:
    """The parts of each profiled repeat again, from its py-spy file (found by its sample
    count) and the threads' us per post the results file kept (by thread name)."""
    result: dict[str, Any] = json.loads(path.read_text())
    raws = {total_samples(got): got for got in map(read_samples, raw_dir.glob("pyspy-*.txt"))}
    for row in result["repeats"]:
        w = row["worker"]
        samples = raws.get(w["pyspy_samples"]) if w["pyspy_samples"] else None
        if samples is None:
            continue
        by_name = dict(w["worker_threads_us_per_post"])
        threads = {tid: by_name.get(name, 0.0) for tid, (name, _) in samples.items()}
        threads.update({-i: us for i, (name, us) in enumerate(by_name.items(), 1)
                        if name not in {n for n, _ in samples.values()}})
        w["parts_us_per_post"] = dict(sorted(split(threads, samples, w["gc_us_per_post"]).items(),
                                             key=lambda kv: -kv[1]))
    path.write_text(json.dumps(result, indent=1) + "\n")
    path.with_suffix(".md").write_text(render(result))
    return result


# -- what the budgets imply --------------------------------------------------------------------
def derive(row: dict[str, Any], cpus: int) -> dict[str, Any]:
    """The ceilings: the drain's own processes given the whole box, and the worker's own us per
    post that 0.6 x the bare scorer and 8 x the naive drain would need."""
    w = row["worker"]["drain"]
    per = w["us_per_post"]
    own = sum(per.get(r, 0.0) for r in ROLES)
    rest = own - per["worker"]
    out: dict[str, Any] = {
        "drain_posts_per_s": w["posts_per_s"], "scorer_posts_per_s": row["scorer"]["posts_per_s"],
        "drain_to_scorer": w["posts_per_s"] / row["scorer"]["posts_per_s"],
        "pipeline_us_per_post": own, "worker_us_per_post": per["worker"],
        "rest_of_pipeline_us_per_post": rest,
        "ceiling_posts_per_s": cpus * 1e6 / own,
        "box_idle_share": w["box_share"]["idle"] + w["box_share"]["iowait"]}
    targets = {"0.6 x scorer": 0.6 * row["scorer"]["posts_per_s"]}
    if "naive" in row:
        n = row["naive"]["drain"]
        nown = sum(n["us_per_post"].get(r, 0.0) for r in ROLES)
        out.update(naive_posts_per_s=n["posts_per_s"], naive_pipeline_us_per_post=nown,
                   naive_worker_us_per_post=n["us_per_post"]["worker"],
                   naive_ceiling_posts_per_s=cpus * 1e6 / nown,
                   drain_to_naive=w["posts_per_s"] / n["posts_per_s"],
                   per_pipeline_cpu_to_naive=nown / own)
        targets["8 x naive"] = 8 * n["posts_per_s"]
    out["targets"] = {name: {"posts_per_s": rate, "box_us_per_post": cpus * 1e6 / rate,
                             "worker_us_per_post_allowed": cpus * 1e6 / rate - rest,
                             "worker_cut_needed": 1 - (cpus * 1e6 / rate - rest) / per["worker"]}
                      for name, rate in targets.items()}
    return out


if __name__ == "__main__":
    main()
