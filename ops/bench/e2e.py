"""End-to-end benchmark: sentistream's worker against the naive per-post pipeline, same data.

Usage (from the repository root; starts and stops its own Kafka + Redis):
    .venv/bin/python -m ops.bench.e2e [--backlog N] [--loads 500,1000,2000,5000]
                                      [--phase-seconds S] [--naive-posts N] [--generated]

Runs, in order, with one worker (`sentistream worker`, a subprocess):
  1. backlog drain: N posts (the TweetEval test set, repeated with fresh ids) pre-loaded into the
     topic, then the worker started: sustained throughput from its first to its last aggregate;
  2. fixed offered loads: each rate for S seconds, waiting for the pipeline to drain in between:
     throughput from first send to last aggregate, and latency p50/p95/p99 from each post's send
     time to the moment its aggregate is visible in Redis (see ops/bench/harness.py);
  3. max offered load: the producer as fast as it goes, the worker consuming at the same time;
  4. the naive baseline (ops/bench/naive.py) draining a backlog of the same posts;
  5. --repeats - 1 more backlog drains of each pipeline, alternating, each on fresh topics with a
     fresh worker: on a shared machine one drain can be 25% off, so the ratio is of the medians.
Accuracy of both against the TweetEval labels, and a check that each pipeline's Redis counts
equal the counts its own labeller gives offline. Writes results.json, results.md and
results.png to --out (default ops/bench/results/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from ops.bench import harness as h
from ops.bench.drain import bare_scorer
from ops.bench.machine import cpu_model
from ops.bench.measure import drain_stats, lag_timeline, phase_stats, resource_stats
from ops.bench.naive import LABELS, counter_key, vader_label
from producers.sink import SinkOptions
from sentistream.harness import Child, start_worker, wait_until
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, KeyScheme

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backlog", type=int, default=150_000, help="posts of the drain phase")
    p.add_argument("--loads", default="1000,2000,5000,10000", help="offered posts/s, comma list")
    p.add_argument("--phase-seconds", type=float, default=15.0)
    p.add_argument("--max-posts", type=int, default=30_000, help="posts of the max phase")
    p.add_argument("--naive-posts", type=int, default=24_568, help="posts the naive one drains")
    p.add_argument("--repeats", type=int, default=3,
                   help="backlog drains of each pipeline; the ratio is of their medians")
    p.add_argument("--generated", type=int, default=0,
                   help="use N generated posts instead of the TweetEval test set")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    base = h.bench_settings()
    corpus = h.generated(args.generated) if args.generated else h.tweeteval()
    log_dir = base.state_dir / "logs" / time.strftime("e2e-%Y%m%d-%H%M%S")
    result: dict[str, Any] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "machine": machine(), "data": corpus.source,
                              "loadavg_start": os.getloadavg()}
    texts = [p["text"] for p in corpus.posts]
    scorer: list[dict[str, float]] = []
    with h.services(base):
        # The bare scorer right before each drain: the ratio of the two travels between machines.
        scorer.append(bare_scorer(texts, base.batch_size, 4.0))
        result["sentistream"] = run_worker(base, corpus, args, log_dir)
        result["naive"] = run_naive(base, corpus, args, log_dir)
        drains = {"sentistream": [steady(result["sentistream"]["drain"])],
                  "naive": [steady(result["naive"]["drain"])]}
        for _ in range(args.repeats - 1):
            scorer.append(bare_scorer(texts, base.batch_size, 4.0))
            drains["sentistream"].append(drain_once(base, corpus, args.backlog, log_dir))
            drains["naive"].append(steady(run_naive(base, corpus, args, log_dir)["drain"]))
    result["loadavg_end"] = os.getloadavg()
    result["accuracy"] = accuracy(corpus)
    result.update(ratios(drains, scorer))
    drain = result["sentistream"]["drain"]
    if drain.get("cpu_mean_pct") and drain.get("steady_throughput"):
        # Over the first drain: posts/s divided by the worker's mean share of a core.
        drain["posts_per_worker_cpu_s"] = drain["steady_throughput"] / (
            drain["cpu_mean_pct"] / 100)
    result["command"] = "python -m ops.bench.e2e " + " ".join(
        sys.argv[1:] if argv is None else argv)
    from ops.bench.report import write_all

    write_all(result, args.out)
    return result


def steady(drain: dict[str, Any]) -> float | None:
    """A drain's steady posts/s; None when it had too few distinct times to measure one (a
    backlog of a batch or two, all visible at once)."""
    value = drain.get("steady_throughput")
    return float(value) if value is not None and math.isfinite(value) and value > 0 else None


def ratios(drains: dict[str, list[float | None]], scorer: list[dict[str, float]]
           ) -> dict[str, Any]:
    """The medians' ratios, over the drains that could be measured (None if none could)."""
    def median(values: list[float | None]) -> float | None:
        ok = [v for v in values if v is not None]
        return float(np.median(ok)) if ok else None

    ours, naive = median(drains["sentistream"]), median(drains["naive"])
    bare = median([x["posts_per_s"] for x in scorer])
    return {"drains": drains, "scorer": scorer,
            "throughput_ratio": ours / naive if ours and naive else None,
            "drain_to_scorer": ours / bare if ours and bare else None}


def machine() -> dict[str, Any]:
    import psutil

    return {"cpus": os.cpu_count(), "mem_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu_model": cpu_model()}


def run_worker(base: Settings, corpus: h.Corpus, args: argparse.Namespace,
               log_dir: Path) -> dict[str, Any]:
    rs = h.run_settings(base, "e2e")
    ensure_topics(rs)
    loads = [float(x) for x in args.loads.split(",") if x]
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    plan: list[tuple[str, float | None, int]] = [("backlog drain", None, args.backlog)]
    plan += [(f"{int(r)}/s", r, int(r * args.phase_seconds)) for r in loads]
    plan += [("max", None, args.max_posts)]
    posts = h.repeated(corpus.posts, sum(n for _, _, n in plan))
    print(f"preloading {args.backlog} posts ...", flush=True)
    h.send_paced(sink, posts[:args.backlog], None)
    worker = start_worker(rs, log_dir, rs.worker_web_port)
    bounds: list[tuple[str, float | None, int, int, float, float]] = []
    try:
        with h.Observer(rs, [worker.pid]) as obs:
            t0 = time.time()
            wait_applied(rs, args.backlog, [worker])
            bounds.append(("backlog drain", None, 0, len(sink.acks), t0, time.time()))
            cursor = args.backlog
            for name, rate, n in plan[1:]:
                time.sleep(2.0)
                print(f"phase {name}: {n} posts ...", flush=True)
                since, start = len(sink.acks), time.time()
                h.send_paced(sink, posts[cursor:cursor + n], rate)
                cursor += n
                wait_applied(rs, cursor, [worker])
                bounds.append((name, rate, since, len(sink.acks), start, time.time()))
            progress, samples = obs.finish()
    finally:
        worker.stop()
        sink.close()
    stamped = sink.stamped()
    visible = h.visible_times(stamped, progress)
    phases = []
    for name, rate, lo, hi, start, end in bounds:
        st, vis = stamped[lo:hi], visible[lo:hi]
        stats = (drain_stats(st, vis) if name == "backlog drain"
                 else phase_stats(name, rate, st, vis))
        stats.update(resource_stats(samples, worker.pid, start, end))
        phases.append(stats)
        print(json.dumps(stats), flush=True)
    live = slice(bounds[1][2], len(stamped))
    return {"drain": phases[0], "phases": phases[1:],
            "lag": lag_timeline(stamped[live], visible[live]),
            "resources": resource_stats(samples, worker.pid, 0, float("inf")),
            "counts_check": counts_check(rs, corpus, posts[:cursor])}


def drain_once(base: Settings, corpus: h.Corpus, n: int, log_dir: Path) -> float | None:
    """One more backlog drain of n posts by a fresh worker on fresh topics: steady posts/s."""
    rs = h.run_settings(base, "e2e-drain")
    ensure_topics(rs)
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    h.send_paced(sink, h.repeated(corpus.posts, n), None)
    worker = start_worker(rs, log_dir, rs.worker_web_port)
    try:
        with h.Observer(rs, [worker.pid]) as obs:
            wait_applied(rs, n, [worker])
            progress, _ = obs.finish()
    finally:
        worker.stop()
        sink.close()
    stamped = sink.stamped()
    rate = steady(drain_stats(stamped, h.visible_times(stamped, progress)))
    print(json.dumps({"phase": "backlog drain (repeat)", "posts": n,
                      "steady_throughput": rate}), flush=True)
    return rate


def wait_applied(rs: Settings, n: int, procs: list[Child], timeout: float = 600) -> None:
    client = redis.Redis.from_url(rs.redis_url)
    key = KeyScheme(rs.redis_prefix).total(ALL_BRANDS)
    wait_until(lambda: int(client.hget(key, "n") or 0) >= n, timeout,
               f"{n} posts in the aggregates", procs)


_LABELS_CACHE: dict[str, np.ndarray] = {}


def model_labels(corpus: h.Corpus) -> dict[str, int]:
    from model.scorer import SentimentScorer

    if "model" not in _LABELS_CACHE:
        _LABELS_CACHE["model"] = SentimentScorer().score([p["text"] for p in corpus.posts]).labels
    return {p["id"]: int(x) for p, x in zip(corpus.posts, _LABELS_CACHE["model"], strict=True)}


def worker_labels(rs: Settings, corpus: h.Corpus) -> dict[str, int]:
    """Each post's label as the worker gives it: language detected and routed (``score_posts``,
    the worker's own ``load_scorer``), so a post the router leaves unscored is counted in ``n``
    and in no class, as in Redis. ``model_labels`` (the English model on every post) is what the
    accuracy columns judge; with language ID the two differ on ~0.3% of TweetEval."""
    from stream.worker.scoring import load_scorer

    if "worker" not in _LABELS_CACHE:
        scores = load_scorer(rs).score_posts([p["text"] for p in corpus.posts],
                                             [p.get("lang") for p in corpus.posts])
        _LABELS_CACHE["worker"] = scores.labels
    return {p["id"]: int(x) for p, x in zip(corpus.posts, _LABELS_CACHE["worker"], strict=True)}


def counts_check(rs: Settings, corpus: h.Corpus, posts: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker's `_all` total against the labels the worker's scorer gives the same posts,
    offline."""
    labels = worker_labels(rs, corpus)
    expected = BucketCounts()
    for p in posts:
        expected.add(labels[p["id"].split("~")[0]], 0)
    got = BucketCounts.from_fields(redis.Redis.from_url(rs.redis_url).hgetall(
        KeyScheme(rs.redis_prefix).total(ALL_BRANDS)))
    fields = ("n", "neg", "neu", "pos")
    return {"expected": {f: getattr(expected, f) for f in fields},
            "redis": {f: getattr(got, f) for f in fields},
            "equal": all(getattr(expected, f) == getattr(got, f) for f in fields)}


def run_naive(base: Settings, corpus: h.Corpus, args: argparse.Namespace,
              log_dir: Path) -> dict[str, Any]:
    rs = h.run_settings(base, "naive")
    ensure_topics(rs, [rs.topic_posts])
    posts = h.repeated(corpus.posts, args.naive_posts)
    sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
    h.send_paced(sink, posts, None)
    sink.close()
    client = redis.Redis.from_url(rs.redis_url)
    # The tutorial runs Redis without an fsync per write; giving the naive pipeline that
    # favourable setting keeps the ratio conservative (the worker runs with `appendfsync always`).
    fsync = str(client.config_get("appendfsync")["appendfsync"])
    client.config_set("appendfsync", "everysec")
    prefix = rs.redis_prefix
    naive = h.start_naive(rs, rs.topic_posts, prefix, rs.worker_web_port + 1, log_dir)
    timeline: list[tuple[float, int]] = []
    samples: list[tuple[float, int, float, int]] = []
    try:
        import psutil

        proc = psutil.Process(naive.pid)
        proc.cpu_percent(None)
        deadline, next_sample = time.monotonic() + 1800, 0.0
        while time.monotonic() < deadline:
            now = time.time()
            total = sum(int(v) for v in client.mget(*keys) or [] if v) if (
                keys := list(client.scan_iter(match=f"{prefix}:*", count=1000))) else 0
            if not timeline or total != timeline[-1][1]:
                timeline.append((now, total))
            if now >= next_sample:
                samples.append((now, naive.pid, proc.cpu_percent(None), proc.memory_info().rss))
                next_sample = now + 0.5
            if total >= len(posts):
                break
            if not naive.alive():
                raise h.BenchError(f"naive pipeline exited:\n{naive.tail()}")
            time.sleep(0.02)
    finally:
        naive.stop()
        client.config_set("appendfsync", fsync)
    times = np.asarray([t for t, _ in timeline[1:]])
    counts = np.asarray([c for _, c in timeline[1:]])
    drain: dict[str, Any] = {"phase": "backlog drain", "posts": len(posts),
                             "visible": int(counts[-1]) if len(counts) else 0}
    if len(times) > 1:
        lo, hi = np.searchsorted(counts, [0.1 * len(posts), 0.9 * len(posts)])
        hi = min(hi, len(counts) - 1)
        drain["seconds"] = float(times[-1] - times[0])
        drain["throughput"] = float(counts[-1] / (times[-1] - times[0]))
        if times[hi] > times[lo]:  # else too few distinct times (a tiny backlog)
            drain["steady_throughput"] = float((counts[hi] - counts[lo])
                                               / (times[hi] - times[lo]))
    drain.update(resource_stats(samples, naive.pid, 0, float("inf")))
    print(json.dumps(drain), flush=True)
    expected: dict[str, int] = {}
    labels = {p["id"]: vader_label(p["text"]) for p in corpus.posts}
    for p in posts:
        key = counter_key(prefix, p, labels[p["id"].split("~")[0]])
        expected[key] = expected.get(key, 0) + 1
    got = {k.decode(): int(v) for k in client.scan_iter(match=f"{prefix}:*", count=1000)
           if (v := client.get(k)) is not None}
    return {"drain": drain, "redis_fsync": "everysec (the worker: always)",
            "counts_check": {"equal": got == expected, "keys": len(expected),
                             "posts_counted": sum(got.values())}}


def accuracy(corpus: h.Corpus) -> dict[str, Any]:
    """Both labellers on the corpus, against its gold labels (macro-F1 too: the data is skewed)."""
    if not corpus.gold:
        return {}
    gold = np.asarray([corpus.gold[p["id"]] for p in corpus.posts])
    ours = np.asarray([model_labels(corpus)[p["id"]] for p in corpus.posts])
    vader = np.asarray([vader_label(p["text"]) for p in corpus.posts])
    return {"posts": len(gold), "sentistream": _scores(gold, ours), "naive_vader":
            _scores(gold, vader), "labels": list(LABELS)}


def _scores(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    f1 = []
    for k in range(3):
        tp = float(((pred == k) & (gold == k)).sum())
        prec = tp / max(1.0, float((pred == k).sum()))
        rec = tp / max(1.0, float((gold == k).sum()))
        f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return {"accuracy": float((gold == pred).mean()), "macro_f1": float(np.mean(f1))}


if __name__ == "__main__":
    main()
