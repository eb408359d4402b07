"""Backlog drain against the bare scorer, side by side, and 1 worker against 2 (4 partitions).

Usage (from the repository root; starts and stops its own Kafka + Redis, on the ports of the
SENTISTREAM_* environment, ops/bench/harness.py's BENCH_ENV otherwise):
    .venv/bin/python -m ops.bench.drain [--posts N] [--workers 1,2] [--repeats R] [--rate R]
                                        [--phase-seconds S] [--profile] [--out DIR]

Each repeat, for each worker count: the bare scorer (``SentimentScorer.score`` on batches of
SENTISTREAM_BATCH_SIZE of the same posts, one thread: what ``model.bench`` times) for
--scorer-seconds, then N posts pre-loaded into fresh topics, the workers started, and the drain
timed from the moment every partition is assigned to the moment 90% of the posts are in the
aggregates; then --rate posts/s offered for --phase-seconds, with latency p50/p99 from each post's
send to its aggregate being visible. Figures that travel between machines: drain / bare scorer
(same run), and posts per worker CPU-second. The benchmark's own costs are reported too: the CPU
of its 2 ms Redis poller (ops/bench/harness.py ``Observer``) and of its producer.
--profile runs ``py-spy record --idle`` on the (first) worker during the first drain
(``--profile-offered``: during the latency phase) and writes a summary next to the results (the
raw stacks stay in the run's log directory). For the tail of the latency phase each run also
records when its slowest 1% of posts became visible (``tail``) and Redis's latency-monitor
events over 10 ms (``redis_stalls``: slow fsyncs, forks, scripts), to set side by side, and
what exactly each of those posts waited on, await by await of the batch that carried it
(``tail_waits``, ops/bench/batch_life.py; needs a worker that keeps its batch lives).
Writes drain.json and drain.md to --out (default ops/bench/results/).
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
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis

from ops.bench import harness as h
from ops.bench.batch_life import markdown_rows, tail_waits
from ops.bench.machine import cpu_model
from ops.bench.measure import phase_stats
from ops.bench.report import write_report
from producers.sink import SinkOptions
from sentistream.harness import Child, wait_until, worker_env
from sentistream.harness import start_worker as start_this_worker
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import ALL_BRANDS, KeyScheme

RESULTS = Path(__file__).resolve().parent / "results"
TRACE_ENTRIES = 400_000  # a worker's kept step timings: ~15 per batch, a latency phase's worth


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=80_000, help="posts of each backlog drain")
    p.add_argument("--workers", default="1", help="worker counts to compare, e.g. 1,2")
    p.add_argument("--repeats", type=int, default=3, help="runs of each; medians are reported")
    p.add_argument("--rate", type=float, default=2000.0, help="offered posts/s of the latency "
                   "phase (0: no latency phase)")
    p.add_argument("--phase-seconds", type=float, default=15.0)
    p.add_argument("--scorer-seconds", type=float, default=4.0)
    p.add_argument("--poll-interval", type=float, default=0.002,
                   help="the progress poller's interval, seconds")
    p.add_argument("--profile", action="store_true", help="py-spy the first drain's worker")
    p.add_argument("--profile-offered", action="store_true",
                   help="with --profile: py-spy the latency phase at --rate instead of the drain "
                   "(where a post's wait goes when the worker is not saturated)")
    p.add_argument("--profile-cpu", action="store_true",
                   help="with --profile: on-CPU samples only (no --idle), e.g. to compare two "
                   "trees' CPU per post")
    p.add_argument("--generated", type=int, default=0,
                   help="use N generated posts instead of the TweetEval test set")
    p.add_argument("--umsab", action="store_true",
                   help="use the UMSAB test tweets (8 languages, no lang field, 20 brands)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="drain", help="results file stem")
    p.add_argument("--variant", action="append", default=[], metavar="NAME[:FIELD=VALUE,...]",
                   help="worker settings to compare side by side in each repeat, e.g. "
                   "--variant serial:overlap_writes=0 --variant overlap:overlap_writes=1; "
                   "code=DIR runs another checkout's worker (git archive of a commit) "
                   "[one variant: the defaults]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    base = h.bench_settings()
    corpus = (h.generated(args.generated) if args.generated else h.umsab() if args.umsab
              else h.tweeteval())
    texts = [p["text"] for p in corpus.posts]
    log_dir = base.state_dir / "logs" / time.strftime("drain-%Y%m%d-%H%M%S")
    counts = [int(x) for x in args.workers.split(",") if x]
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m ops.bench.drain " + " ".join(argv or sys.argv[1:]),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "data": corpus.source,
        "batch_size": base.batch_size, "partitions": base.partitions,
        "loadavg_start": os.getloadavg(), "runs": []}
    with h.services(base):
        # Redis's own record of its stalls (fsyncs, forks, slow scripts) over 10 ms, to set
        # against the moments the slowest posts became visible (tail_episodes).
        redis.Redis.from_url(base.redis_url).config_set("latency-monitor-threshold", 10)
        for repeat in range(args.repeats):
            for (variant, changes), k in ((v, k) for v in variants for k in counts):
                scorer = bare_scorer(texts, base.batch_size, args.scorer_seconds)
                profile = args.out / f"{args.name}-{variant}-pyspy" if (
                    args.profile and repeat == 0 and k == counts[0]) else None
                fields_ = {f: v for f, v in changes.items() if f != "code"}
                run = run_workers(base.replace(**fields_), corpus, k, args, log_dir, profile,
                                  changes.get("code"))
                run.update(repeat=repeat, workers=k, variant=variant, settings=changes,
                           scorer=scorer,
                           drain_to_scorer=run["drain_posts_per_s"] / scorer["posts_per_s"])
                print(json.dumps(run), flush=True)
                result["runs"].append(run)
    result["loadavg_end"] = os.getloadavg()
    result["summary"] = summary(result["runs"], counts, [v for v, _ in variants])
    md = markdown(result)
    write_report(result, md, args.out, args.name)
    print(md)
    return result


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """"name:field=value,field=value" -> (name, Settings changes), values typed as the field."""
    from dataclasses import fields

    name, _, rest = text.partition(":")
    kinds = {f.name: f.type for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "code":  # another checkout's stream/ and model/, e.g. the commit before
            changes[key] = value
            continue
        if key not in kinds:
            raise SystemExit(f"--variant {text}: {key} is not a Settings field")
        kind = kinds[key]
        changes[key] = (int(value) if kind in ("int", int)
                        else value.lower() in ("1", "true", "on", "yes") if kind in ("bool", bool)
                        else float(value) if kind in ("float", float) else value)
    return name, changes


def bare_scorer(texts: list[str], batch: int, seconds: float) -> dict[str, float]:
    """The scorer alone on this machine now: posts/s (wall) and per CPU-second."""
    from model.scorer import SentimentScorer

    scorer = SentimentScorer(num_threads=1)
    scorer.score(texts[:batch])  # warm: tokens cached, as in a long-running worker
    n, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    i = 0
    while time.perf_counter() - wall0 < seconds:
        chunk = texts[i:i + batch] or texts[:batch]
        i = (i + batch) % len(texts)
        scorer.score(chunk)
        n += len(chunk)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"posts_per_s": n / wall, "posts_per_cpu_s": n / cpu}


def _cpu_s(procs: list[psutil.Process], children: bool = True) -> float:
    """CPU seconds of the processes and of all their children, live or exited (a worker's
    scoring process, SENTISTREAM_SCORER_PROCESS=1, is part of the worker)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
            if not children:
                continue
            total += t.children_user + t.children_system
            for child in p.children(recursive=True):
                c = child.cpu_times()
                total += c.user + c.system
        except psutil.Error:
            pass
    return total


def start_worker(rs: Settings, web_port: int, log_dir: Path, name: str,
                 code: str | None) -> Child:
    """``sentistream.harness.start_worker``, optionally running the code of another checkout."""
    if code is None:
        return start_this_worker(rs, log_dir, web_port, name)
    env = worker_env(rs, web_port)
    env["SENTISTREAM_STATE_DIR"] = str(rs.state_dir / "workers" / f"{name}-{web_port}")
    env["PYTHONPATH"] = code
    argv = [sys.executable, "-c", "from sentistream.cli import main; main()", "worker"]
    return Child(argv, env, log_dir / f"{name}-{web_port}.log", web_port, cwd=Path(code))


def run_workers(base: Settings, corpus: h.Corpus, k: int, args: argparse.Namespace,
                log_dir: Path, profile: Path | None, code: str | None = None
                ) -> dict[str, Any]:
    # Each batch step's timings, kept by the worker for the join with the slowest posts
    # (``tail_causes``); a worker of older code ignores the setting.
    rs = h.run_settings(base, f"drain{k}").replace(stage_trace=TRACE_ENTRIES)
    ensure_topics(rs)
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    posts = h.repeated(corpus.posts, args.posts + int(args.rate * args.phase_seconds))
    h.send_paced(sink, posts[:args.posts], None)
    workers = [start_worker(rs, rs.worker_web_port + 10 * i, log_dir, f"w{k}-{i}", code)
               for i in range(k)]
    procs = [psutil.Process(w.pid) for w in workers]
    raw = log_dir / f"{profile.name}.txt" if profile else None  # ~1 MB: kept out of results
    at_offered = args.profile_offered and args.rate
    spy = (_start_pyspy(workers[0].pid, raw, not args.profile_cpu) if raw and not at_offered
           else None)
    out: dict[str, Any] = {"posts": args.posts}
    try:
        with h.Observer(rs, [w.pid for w in workers], args.poll_interval) as obs:
            poller = psutil.Process(obs.proc.pid)
            h.wait_assigned(workers, rs.partitions)
            assigned, cpu0, stages0 = time.time(), _cpu_s(procs), stage_seconds(workers)
            main0 = _cpu_s(procs, children=False)
            redis0 = redis_counters(rs)
            wait_applied(rs, args.posts, workers)
            done, cpu1, stages1 = time.time(), _cpu_s(procs), stage_seconds(workers)
            main1 = _cpu_s(procs, children=False)
            redis1 = redis_counters(rs)
            if spy is not None and raw is not None and profile is not None:
                _stop_pyspy(spy, raw, profile)
            poller_cpu = _cpu_s([poller])
            run_s = done - assigned
            if args.rate:
                time.sleep(2.0)
                since, start, bench_cpu = len(sink.acks), time.time(), time.process_time()
                phase_stages0, phase_redis0 = stage_seconds(workers), redis_counters(rs)
                if at_offered and raw is not None:
                    spy = _start_pyspy(workers[0].pid, raw, not args.profile_cpu)
                h.send_paced(sink, posts[args.posts:], args.rate)
                bench_cpu = time.process_time() - bench_cpu
                if spy is not None and raw is not None and profile is not None and at_offered:
                    _stop_pyspy(spy, raw, profile)
                wait_applied(rs, len(posts), workers)
                phase_cpu = _cpu_s(procs) - cpu1
                phase_end = time.time()
                phase_stages1, phase_redis1 = stage_seconds(workers), redis_counters(rs)
                trace = stage_trace(workers[0])
                lives = batch_lives(workers[0])
            progress, samples = obs.finish()
    finally:
        for w in workers:
            w.stop()
        sink.close()
    stamped = sink.stamped()
    visible = h.visible_times(stamped, progress)
    out.update(_drain(visible[:args.posts], assigned, done, cpu1 - cpu0))
    # The worker's own process alone (its GIL): what bounds the drain when the scoring
    # process has a core of its own. Equal to the above without a scoring process.
    out["posts_per_main_cpu_s"] = out["drain_posts_after_assignment"] / max(main1 - main0, 1e-9)
    batches = stages1.pop("batch_size_count", 0.0) - stages0.pop("batch_size_count", 0.0)
    out["mean_batch"] = (stages1.pop("batch_size_sum", 0.0)
                         - stages0.pop("batch_size_sum", 0.0)) / max(batches, 1.0)
    out["redis"] = redis_per_post(redis0, redis1, out["drain_posts_after_assignment"],
                                  batches)
    out["stages_pct_of_drain"] = {  # summed over the workers: 100% = one worker's wall time
        stage: round(100 * (v - stages0.get(stage, 0.0)) / max(run_s * k, 1e-9), 1)
        for stage, v in sorted(stages1.items(), key=lambda kv: -kv[1])}
    out["poller_cpu_pct_of_drain"] = 100 * poller_cpu / max(run_s, 1e-9)
    out["worker_rss_peak_mib"] = max((r for _, _, _, r in samples), default=0) / 2**20
    if args.rate:
        st, vis = stamped[since:], visible[since:]
        phase = phase_stats(f"{args.rate:.0f}/s", args.rate, st, vis)
        phase["tail"] = tail_episodes(st, vis)
        phase["tail_causes"] = tail_causes(st, vis, trace)
        phase["tail_waits"] = tail_waits(st, vis, lives, trace)
        phase["redis_stalls"] = redis_stalls(rs, start - 1.0, phase_end)
        phase["worker_cpu_pct"] = 100 * phase_cpu / max(phase_end - start, 1e-9)
        phase["bench_producer_cpu_pct"] = 100 * bench_cpu / max(phase_end - start, 1e-9)
        phase.update(_phase_stages(phase_stages0, phase_stages1, phase_end - start, k))
        batches = phase["batches"]
        phase["redis_cpu_ms_per_batch"] = 1000 * (phase_redis1["_cpu_s"]
                                                  - phase_redis0["_cpu_s"]) / batches
        phase["redis_evalsha_ms_per_batch"] = 1000 * (phase_redis1["_evalsha_s"]
                                                      - phase_redis0["_evalsha_s"]) / batches
        out["latency"] = phase
    return out


def _drain(visible: np.ndarray, assigned: float, done: float, cpu_s: float) -> dict[str, Any]:
    """The rate once every partition is assigned, to 90% of the posts visible (the tail of the
    last batches leaves out), and posts per worker CPU-second over the same span."""
    seen = np.sort(visible[np.isfinite(visible)])
    hi = seen[int(0.9 * (len(seen) - 1))]
    window = seen[(seen >= assigned) & (seen <= hi)]
    n_after = int((seen >= assigned).sum())
    rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 else float("nan")
    return {"drain_posts_per_s": rate, "drain_posts_after_assignment": n_after,
            "posts_per_worker_cpu_s": n_after / cpu_s if cpu_s else float("nan"),
            "worker_cpu_pct": 100 * cpu_s / max(done - assigned, 1e-9)}


def redis_stalls(rs: Settings, since: float, until: float) -> dict[str, Any]:
    """Redis's latency-monitor events (>= 10 ms) between two wall times: per event kind, how
    many, the longest, and when (epoch seconds; the monitor keeps one per kind per second)."""
    client = redis.Redis.from_url(rs.redis_url)
    out: dict[str, Any] = {}
    for row in client.latency_latest() or []:
        name = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
        events = [(int(t), int(ms)) for t, ms in client.latency_history(name)
                  if since - 1 <= int(t) <= until + 1]
        if events:
            out[name] = {"events": len(events), "max_ms": max(ms for _, ms in events),
                         "at_s_ms": [(round(t - since, 1), ms) for t, ms in events][:40]}
    return out


def tail_episodes(stamped: np.ndarray, visible: np.ndarray, gap_s: float = 0.1
                  ) -> dict[str, Any]:
    """When the slowest 1% of the posts became visible: runs of them (a new run after ``gap_s``
    without one), how often runs start and how long each is. A run every ~1 s points at the
    once-a-second alert check, every ~2.8 s at the offset commit, none periodic at scheduling."""
    send_s = stamped[:, 2] / 1000.0
    seen = np.isfinite(visible)
    if seen.sum() < 100:
        return {}
    lat, vis = visible[seen] - send_s[seen], visible[seen]
    slow = np.sort(vis[lat > np.percentile(lat, 99)])
    if not len(slow):
        return {}
    breaks = np.flatnonzero(np.diff(slow) > gap_s) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(slow)]))
    t0 = float(vis.min())
    # (seconds into the phase, second of the wall-clock minute, posts, span of the run)
    runs = [(round(float(slow[a] - t0), 3), round(float(slow[a]) % 60, 2), int(b - a),
             round(float(slow[b - 1] - slow[a]), 3))
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    intervals = np.diff([r[0] for r in runs])
    return {"posts": len(slow), "runs": len(runs), "phase_start_epoch_s": t0,
            "median_interval_s": float(np.median(intervals)) if len(intervals) else None,
            "runs_at_s_minute_s_posts_span": runs[:60],
            "max_latency_per_second": [round(float(lat[(vis >= t0 + i) & (vis < t0 + i + 1)]
                                                   .max(initial=0.0)), 3)
                                       for i in range(int(vis.max() - t0) + 1)]}


def stage_trace(worker: Child) -> tuple[np.ndarray, list[str]]:
    """The worker's kept timings (/stages/trace) as rows (start, end, stage index) and the
    stage names by index; empty for a worker without it (older code)."""
    status, body = worker.get("/stages/trace")
    rows = json.loads(body) if status == 200 else []
    names: dict[str, int] = {}
    out = np.asarray([(end - seconds, end, names.setdefault(stage, len(names)))
                      for end, stage, seconds in rows], float).reshape(-1, 3)
    return out, list(names)


def batch_lives(worker: Child) -> list[dict[str, Any]]:
    """The worker's kept batch lives (/stages/batches); empty for older code."""
    status, body = worker.get("/stages/batches")
    return list(json.loads(body)) if status == 200 else []


def tail_causes(stamped: np.ndarray, visible: np.ndarray,
                traced: tuple[np.ndarray, list[str]], typical: int = 400) -> dict[str, Any]:
    """What the slowest 1% of posts waited on, against typical posts (latency p40-p60): per
    worker step (and GC pause), the mean milliseconds of it that fell inside a post's life
    (its send to its aggregate being visible), and the longest single one inside a slow
    post's life. A step whose share grows from typical to slow is what the tail is made of."""
    trace, names = traced
    send_s = stamped[:, 2] / 1000.0
    seen = np.isfinite(visible)
    if seen.sum() < 100 or not len(trace):
        return {}
    send_s, vis = send_s[seen], visible[seen]
    lat = vis - send_s
    p40, p60, p99 = np.percentile(lat, [40, 60, 99])
    rng = np.random.default_rng(0)
    groups = {"slow": np.flatnonzero(lat > p99),
              "typical": np.flatnonzero((lat >= p40) & (lat <= p60))}
    start, end, stage = trace[:, 0], trace[:, 1], trace[:, 2].astype(int)
    out: dict[str, Any] = {"p99_s": float(p99), "typical_latency_s": float(np.median(lat[
        groups["typical"]]))}
    longest = np.zeros(len(names))
    for group, idx in groups.items():
        if len(idx) > typical:
            idx = rng.choice(idx, typical, replace=False)
        total = np.zeros(len(names))
        for i in idx.tolist():
            overlap = np.minimum(end, vis[i]) - np.maximum(start, send_s[i])
            inside = overlap > 0
            total += np.bincount(stage[inside], overlap[inside], minlength=len(names))
            if group == "slow":
                np.maximum.at(longest, stage[inside], (end - start)[inside])
        out[f"{group}_ms"] = {names[j]: round(1000 * total[j] / max(len(idx), 1), 1)
                              for j in np.argsort(-total).tolist() if total[j] > 0}
    out["longest_in_slow_ms"] = {names[j]: round(1000 * longest[j], 1)
                                 for j in np.argsort(-longest).tolist() if longest[j] > 0}
    # Each step over the whole phase: how many, median and longest ms (GC pauses, loop holds).
    phase = (end >= send_s.min()) & (start <= vis.max())
    seconds = (end - start)[phase]
    out["steps_n_p50_max_ms"] = {
        names[j]: (int((stage[phase] == j).sum()),
                   round(1000 * float(np.median(seconds[stage[phase] == j])), 2),
                   round(1000 * float(seconds[stage[phase] == j].max()), 1))
        for j in range(len(names)) if (stage[phase] == j).any()}
    return out


def _phase_stages(before: dict[str, float], after: dict[str, float], seconds: float,
                  k: int) -> dict[str, Any]:
    """Where a worker's wall time went in the latency phase: the mean batch, and per step its
    share of the wall time and its mean seconds per batch (what a post waits on)."""
    delta = {stage: v - before.get(stage, 0.0) for stage, v in after.items()}
    batches = max(delta.pop("batch_size_count", 0.0), 1.0)
    posts = delta.pop("batch_size_sum", 0.0)
    return {"mean_batch": posts / batches, "batches": batches,
            "stages_pct": {stage: round(100 * v / max(seconds * k, 1e-9), 1)
                           for stage, v in sorted(delta.items(), key=lambda kv: -kv[1])},
            "stage_ms_per_batch": {stage: round(1000 * v / batches, 2)
                                   for stage, v in sorted(delta.items(), key=lambda kv: -kv[1])}}


def stage_seconds(workers: list[Child]) -> dict[str, float]:
    """Seconds per batch step so far (``sentistream_stage_seconds_sum``), summed over workers."""
    out: dict[str, float] = {}
    for w in workers:
        for line in w.get("/metrics")[1].decode().splitlines():
            if line.startswith(("sentistream_batch_size_sum ", "sentistream_batch_size_count ")):
                name = line.split(" ", 1)[0].removeprefix("sentistream_")
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            if line.startswith("sentistream_stage_seconds_sum{"):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                out[stage] = out.get(stage, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def redis_counters(rs: Settings) -> dict[str, float]:
    """Redis's command counts (scripts' inner commands included) and its CPU seconds so far."""
    client = redis.Redis.from_url(rs.redis_url)
    stats = client.info("commandstats")
    out = {name.removeprefix("cmdstat_"): float(v["calls"]) for name, v in stats.items()}
    cpu = client.info("cpu")
    out["_cpu_s"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    # Time Redis spent in the worker's scripts (EVALSHA; their inner commands are counted apart)
    out["_evalsha_s"] = float(stats.get("cmdstat_evalsha", {}).get("usec", 0)) / 1e6
    return out


def redis_per_post(before: dict[str, float], after: dict[str, float], posts: int,
                   batches: float) -> dict[str, Any]:
    """What the capacity plan rests on: Redis work per post and per batch during the drain
    (the benchmark's own poller, an HGETALL every 2 ms, is left out)."""
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    cpu = delta.pop("_cpu_s", 0.0)
    delta.pop("hgetall", None)
    delta.pop("_evalsha_s", None)
    delta = {k: v for k, v in delta.items() if v > 0 and k not in ("info",)}
    commands = sum(delta.values())
    return {"commands_per_post": commands / max(posts, 1),
            "evalsha_per_batch": delta.get("evalsha", 0.0) / max(batches, 1.0),
            "commands_per_batch": commands / max(batches, 1.0),
            "redis_cpu_ms_per_1000_posts": 1000 * 1000 * cpu / max(posts, 1),
            "posts_per_redis_cpu_s": posts / cpu if cpu else None,
            "by_command": {k: round(v) for k, v in sorted(delta.items(), key=lambda kv: -kv[1])}}


def wait_applied(rs: Settings, n: int, procs: list[Child], timeout: float = 600) -> None:
    client = redis.Redis.from_url(rs.redis_url)
    key = KeyScheme(rs.redis_prefix).total(ALL_BRANDS)
    wait_until(lambda: int(client.hget(key, "n") or 0) >= n, timeout,
                 f"{n} posts in the aggregates", procs)


# -- profile ---------------------------------------------------------------------------------
def _start_pyspy(pid: int, raw: Path, idle: bool = True) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not found: pip install -e .[bench]", flush=True)
        return None
    raw.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([exe, "record", *(["--idle"] if idle else []), "--threads",
                             "--format", "raw", "--rate", "200", "--pid", str(pid),
                             "--output", str(raw)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_pyspy(spy: subprocess.Popen[bytes], raw: Path, summary: Path) -> None:
    """Stops py-spy (it writes the raw stacks on SIGINT) and writes the summary as .md."""
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
    if raw.exists():
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.with_suffix(".md").write_text(profile_summary(raw))


def profile_summary(raw: Path, top: int = 25) -> str:
    """Per thread, the share of samples in each of our functions (inclusive) and each leaf."""
    by_thread: dict[str, Counter[str]] = {}
    leaves: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        thread, count = frames[0], int(n)
        totals[thread] += count
        ours = {f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")" for f in
                frames[1:] if "(" in f and any(m in f for m in ("stream/", "model/"))}
        c = by_thread.setdefault(thread, Counter())
        for f in ours:
            c[f] += count
        leaves.setdefault(thread, Counter())[frames[-1].split(":")[0]] += count
    lines = [f"# py-spy --idle of a worker's backlog drain ({raw.name})", ""]
    for thread, total in totals.most_common():
        if total < 0.02 * sum(totals.values()):
            continue
        lines += [f"## {thread}: {total} samples", "", "| our function (inclusive) | share |",
                  "|---|---|"]
        lines += [f"| {f} | {100 * n / total:.1f}% |"
                  for f, n in by_thread[thread].most_common(top)]
        lines += ["", "| leaf frame | share |", "|---|---|"]
        lines += [f"| {f} | {100 * n / total:.1f}% |" for f, n in leaves[thread].most_common(top)]
        lines.append("")
    return "\n".join(lines)


# -- report ----------------------------------------------------------------------------------
def summary(runs: list[dict[str, Any]], counts: list[int], variants: list[str]
            ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant, k in ((v, k) for v in variants for k in counts):
        mine = [r for r in runs if r["workers"] == k and r["variant"] == variant]

        def med(f: Any, rows: list[dict[str, Any]] = mine) -> float:
            return float(np.median([f(r) for r in rows]))

        row = {"drain_posts_per_s": med(lambda r: r["drain_posts_per_s"]),
               "scorer_posts_per_s": med(lambda r: r["scorer"]["posts_per_s"]),
               "drain_to_scorer": med(lambda r: r["drain_to_scorer"]),
               "posts_per_worker_cpu_s": med(lambda r: r["posts_per_worker_cpu_s"]),
               "posts_per_main_cpu_s": med(lambda r: r.get("posts_per_main_cpu_s",
                                                           float("nan"))),
               "scorer_posts_per_cpu_s": med(lambda r: r["scorer"]["posts_per_cpu_s"]),
               "worker_cpu_pct": med(lambda r: r["worker_cpu_pct"]),
               "poller_cpu_pct_of_drain": med(lambda r: r["poller_cpu_pct_of_drain"]),
               "worker_rss_peak_mib": max(r["worker_rss_peak_mib"] for r in mine),
               "mean_batch": med(lambda r: r["mean_batch"]),
               "redis_commands_per_post": med(lambda r: r["redis"]["commands_per_post"]),
               "redis_evalsha_per_batch": med(lambda r: r["redis"]["evalsha_per_batch"]),
               "redis_cpu_ms_per_1000_posts": med(
                   lambda r: r["redis"]["redis_cpu_ms_per_1000_posts"])}
        lat = [r["latency"] for r in mine if "latency" in r and "p99_s" in r["latency"]]
        if lat:
            row.update({"offered": lat[0]["offered_target"],
                        "p50_s": float(np.median([x["p50_s"] for x in lat])),
                        "p99_s": float(np.median([x["p99_s"] for x in lat])),
                        "p99_s_runs": [x["p99_s"] for x in lat],
                        "latency_worker_cpu_pct": float(np.median(
                            [x["worker_cpu_pct"] for x in lat])),
                        "bench_producer_cpu_pct": float(np.median(
                            [x["bench_producer_cpu_pct"] for x in lat]))})
        out[f"{variant} x{k}"] = row
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Backlog drain vs bare scorer, {r['date']}", "",
             f"Machine: {r['cpus']} CPUs ({r['cpu_model']}), Kafka and Redis on the same "
             f"machine (shared with other work: load average "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_start'])} at start, "
             f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])} at end). Data: {r['data']}; "
             f"batch size {r['batch_size']}, {r['partitions']} partitions.", "",
             f"Command: `{r['command']}`", "",
             "Medians over the repeats (each repeat measures the bare scorer right before its "
             "drain).", "",
             "| variant x workers | drain posts/s | bare scorer posts/s | drain / scorer | "
             "posts per worker CPU-s | scorer posts per CPU-s | worker CPU % (100 = 1 core) | "
             "poller CPU % | offered | p50 | p99 | worker CPU % at offered | RSS peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, s in r["summary"].items():
        lines.append(
            f"| {k} | {s['drain_posts_per_s']:,.0f} | {s['scorer_posts_per_s']:,.0f} | "
            f"{s['drain_to_scorer']:.2f} | {s['posts_per_worker_cpu_s']:,.0f} | "
            f"{s['scorer_posts_per_cpu_s']:,.0f} | {s['worker_cpu_pct']:.0f} | "
            f"{s['poller_cpu_pct_of_drain']:.0f} | {s.get('offered', 0):,.0f}/s | "
            f"{s.get('p50_s', float('nan')):.3f} s | {s.get('p99_s', float('nan')):.3f} s | "
            f"{s.get('latency_worker_cpu_pct', float('nan')):.0f} | "
            f"{s['worker_rss_peak_mib']:.0f} |")
    lines += ["", "In CPU terms, which the machine's load moves little: the drain's posts per "
              "CPU-second of all the worker's processes, and of its main process alone (its "
              "one GIL: what bounds the drain when a scoring process has a core of its own), "
              "each divided by the bare scorer's posts per CPU-second.", "",
              "| variant x workers | posts per worker CPU-s (all processes) | / scorer | "
              "posts per main-process CPU-s | / scorer |", "|---|---|---|---|---|"]
    for k, s in r["summary"].items():
        main = s.get("posts_per_main_cpu_s", float("nan"))
        lines.append(f"| {k} | {s['posts_per_worker_cpu_s']:,.0f} | "
                     f"{s['posts_per_worker_cpu_s'] / s['scorer_posts_per_cpu_s']:.2f} | "
                     f"{main:,.0f} | {main / s['scorer_posts_per_cpu_s']:.2f} |")
    lines += ["", "Redis during the drain (INFO commandstats and cpu; the poller's HGETALLs left "
              "out): what the capacity plan rests on.", "",
              "| variant x workers | posts/batch | Redis commands per post (scripts' inner "
              "commands included) | EVALSHA per batch | Redis CPU ms per 1,000 posts |",
              "|---|---|---|---|---|"]
    for k, s in r["summary"].items():
        lines.append(f"| {k} | {s['mean_batch']:.0f} | {s['redis_commands_per_post']:.1f} | "
                     f"{s['redis_evalsha_per_batch']:.0f} | "
                     f"{s['redis_cpu_ms_per_1000_posts']:.1f} |")
    stages = sorted({st for run in r["runs"] for st in run["stages_pct_of_drain"]})
    lines += ["", "Share of each worker's wall time in each step of its batch loop during the "
              "drain (sentistream_stage_seconds; steps overlap when writes overlap scoring):", "",
              "| repeat | variant | workers | posts/batch | " + " | ".join(stages) + " |",
              "|---|---|---|---|" + "---|" * len(stages)]
    for run in r["runs"]:
        pct = run["stages_pct_of_drain"]
        lines.append(f"| {run['repeat']} | {run['variant']} | {run['workers']} | "
                     f"{run['mean_batch']:.0f} | "
                     + " | ".join(f"{pct.get(st, 0.0):.1f}%" for st in stages) + " |")
    timed = [run for run in r["runs"] if "stage_ms_per_batch" in run.get("latency", {})]
    if timed:
        lat_stages = sorted({st for run in timed for st in run["latency"]["stage_ms_per_batch"]})
        lines += ["", "At the offered rate: milliseconds per batch in each step of the batch "
                  "loop (what a post waits on; steps overlap when writes overlap scoring), "
                  "with p50 / p99:", "",
                  "| repeat | variant | workers | posts/batch | p50 | p99 | Redis CPU | "
                  "Redis in scripts | " + " | ".join(lat_stages) + " |",
                  "|---|---|---|---|---|---|---|---|" + "---|" * len(lat_stages)]
        for run in timed:
            lat = run["latency"]
            ms = lat["stage_ms_per_batch"]
            lines.append(f"| {run['repeat']} | {run['variant']} | {run['workers']} | "
                         f"{lat['mean_batch']:.0f} | {lat.get('p50_s', float('nan')):.3f} | "
                         f"{lat.get('p99_s', float('nan')):.3f} | "
                         f"{lat['redis_cpu_ms_per_batch']:.1f} | "
                         f"{lat['redis_evalsha_ms_per_batch']:.1f} | "
                         + " | ".join(f"{ms.get(st, 0.0):.1f}" for st in lat_stages) + " |")
    causes = [run for run in r["runs"] if run.get("latency", {}).get("tail_causes")]
    if causes:
        lines += ["", "What the slowest 1% of posts waited on (``tail_causes``): per worker step, "
                  "the mean ms of it inside a slow post's life (send to visible) against a "
                  "typical post's (latency p40-p60), and the longest single one inside a slow "
                  "post's life (gcN: garbage-collector pauses; loop_late: the event loop held; "
                  "alert_check: a background task's wall time, its own waits behind the "
                  "batches included, which no batch waits for: what it costs them is its "
                  "share of the loop and of Redis, ``python -m ops.bench.alert_check``).",
                  "", "| repeat | variant | p99 | step: slow ms / typical ms / longest ms |",
                  "|---|---|---|---|"]
        for run in causes:
            c = run["latency"]["tail_causes"]
            slow, typ, longest = c["slow_ms"], c["typical_ms"], c["longest_in_slow_ms"]
            steps = sorted(slow, key=lambda st: -(slow[st] - typ.get(st, 0.0)))[:8]
            lines.append(f"| {run['repeat']} | {run['variant']} | {c['p99_s']:.3f} | "
                         + "; ".join(f"{st}: {slow[st]:.0f} / {typ.get(st, 0.0):.0f} / "
                                     f"{longest.get(st, 0.0):.0f}" for st in steps) + " |")
    if any(run.get("latency", {}).get("tail_waits") for run in r["runs"]):
        lines += ["", "What exactly the slowest 1% of posts waited on, await by await of the "
                  "batch that carried each (``tail_waits``, ops/bench/batch_life.py): mean ms "
                  "slow / typical (p40-p60) of each consecutive segment of a post's life; they "
                  "add up to its latency. Last column: of the prepare segment, slow:typical ms "
                  "of the traced steps.", "", *markdown_rows(r["runs"])]
    lines += ["", "Variants: " + "; ".join(sorted({f"{r['variant']} = {r['settings'] or 'defaults'}"
                                                   for r in r["runs"]})), "",
              "Each run:", "", "| repeat | variant | workers | drain posts/s | scorer posts/s | "
              "ratio | posts per worker CPU-s | p99 at offered |",
              "|---|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        lines.append(f"| {run['repeat']} | {run['variant']} | {run['workers']} | "
                     f"{run['drain_posts_per_s']:,.0f} | "
                     f"{run['scorer']['posts_per_s']:,.0f} | {run['drain_to_scorer']:.2f} | "
                     f"{run['posts_per_worker_cpu_s']:,.0f} | "
                     f"{run.get('latency', {}).get('p99_s', float('nan')):.3f} s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
