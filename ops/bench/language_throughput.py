"""Worker throughput with language ID on vs off, side by side in one run (issue 16: <= 15% drop).

Usage: .venv/bin/python -m ops.bench.language_throughput [--posts N] [--rounds R]
       [--input umsab|english] [--together] [--out ops/bench/results/language-throughput]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`). The same
N posts are produced to a fresh topic set per worker run; each round runs one worker with
SENTISTREAM_LANGUAGE_ID=off (every post scored by the English model, no language counted: the
worker before issue 16) and one with it on, in alternating order, and times each as
worker_throughput.py does (sustained phase, from the first aggregate write to the last).

Inputs: ``umsab`` = the 8 x 870 UMSAB test tweets (8 languages) without a ``lang`` field, so
every post goes through detection (the worst case); ``english`` = TweetEval test tweets with
``"lang": "en"`` as the generator and most platforms send (the explicit field wins: no
detection); ``english-detect`` = the same tweets without ``lang`` (an English stream whose
posts carry no language: every post detected). Each post names one of 20 brands. On a shared
machine wall-clock rates move with the load: compare posts per worker CPU-second, and the
on/off ratio of the same round. ``--together`` runs each round's two workers at once, each on its
own topics, timed over the seconds they drain together (``sustained.time_workers_together``):
the host's drift between runs a minute apart (+-25% here) then meets both sides alike; Redis
serves both, so its CPU per post is the server's over both workers' posts. The pooled ratio of
the rounds comes with a 90% paired bootstrap interval (``measure.ratio_interval``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from model.data import UMSAB, shared_data_dir, tweeteval
from ops.bench.harness import run_settings
from ops.bench.machine import cpu_model
from ops.bench.measure import ratio_interval
from ops.bench.sustained import (
    WorkerRun,
    cleanup,
    redis_us_per_post,
    time_worker,
    time_workers_together,
)
from sentistream.settings import Settings, get_settings
from sentistream.topics import ensure_topics

BRANDS = [f"brand{i:02d}" for i in range(20)]


def texts_of(kind: str) -> list[str]:
    paths = ([shared_data_dir() / "umsab-multilingual" / name / "test.csv"
              for name in UMSAB.values()] if kind == "umsab" else [tweeteval("test")])
    out: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            out += [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]
    return out


def posts(kind: str, n: int) -> list[bytes]:
    texts = texts_of(kind)
    now = time.time()
    out = []
    for i in range(n):
        doc: dict[str, Any] = {"id": f"b{i}", "text": texts[i % len(texts)],
                               "brand": BRANDS[i % len(BRANDS)], "created_at": now - i % 600}
        if kind == "english":
            doc["lang"] = "en"
        out.append(json.dumps(doc, ensure_ascii=False).encode())
    return out


def produce(settings: Settings, values: list[bytes]) -> None:
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20,
                             batch_size=256 * 1024)
    for value in values:
        producer.send(settings.topic_posts, value=value)
    producer.flush(120)
    producer.close()


def fresh(base: Settings, language_id: str) -> Settings:
    return run_settings(base, "lbench").replace(language_id=language_id)


def one_run(base: Settings, values: list[bytes], language_id: str) -> dict[str, Any]:
    settings = fresh(base, language_id)
    produce(settings, values)
    try:
        timed = time_worker(settings, len(values), f"worker-{settings.redis_prefix}")
    finally:
        cleanup(settings)
    return _row(timed, language_id, timed.redis_cpu_us_per_post)


def together(base: Settings, values: list[bytes], order: tuple[str, str]) -> list[dict[str, Any]]:
    """One round of ``--together``: a worker per language-ID mode, at once."""
    runs = [fresh(base, mode) for mode in order]
    for settings in runs:
        produce(settings, values)
    try:
        timed = time_workers_together([(s, f"worker-{s.redis_prefix}") for s in runs],
                                      len(values))
    finally:
        for settings in runs:
            cleanup(settings)
    redis_us = redis_us_per_post(timed)
    return [_row(t, mode, redis_us) for mode, t in zip(order, timed, strict=True)]


def _row(timed: WorkerRun, language_id: str, redis_us: float) -> dict[str, Any]:
    return {"language_id": language_id,
            "sustained_posts_per_s": round(timed.sustained_posts_per_s),
            "posts_per_worker_cpu_s": round(timed.posts_per_worker_cpu_s),
            # How busy the worker was (CPU-s per wall-s) and Redis's CPU: where the "on" run's
            # extra wall time goes when the worker's own CPU does not explain it.
            "worker_cpu_per_wall_s": round(timed.worker_cpu_s / max(
                timed.done.wall - timed.first.wall, 1e-9), 3),
            "redis_cpu_us_per_post": round(redis_us, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--input", choices=("umsab", "english", "english-detect"),
                        default="umsab")
    parser.add_argument("--together", action="store_true",
                        help="run each round's off and on workers at once (see above)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write <out>.json and <out>.md")
    args = parser.parse_args()
    base = get_settings()
    values = posts(args.input, args.posts)
    runs = []
    for r in range(args.rounds):
        order = ("off", "on") if r % 2 == 0 else ("on", "off")
        rows = (together(base, values, order) if args.together
                else [one_run(base, values, mode) for mode in order])
        for row in rows:
            runs.append({"round": r, **row})
            print(json.dumps(runs[-1]), flush=True)
    ratio = {metric: round(statistics.median(
        on[metric] / off[metric] for on, off in _pairs(runs)), 3)
        for metric in ("sustained_posts_per_s", "posts_per_worker_cpu_s")}
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "cpus": os.cpu_count(), "input": args.input, "posts": args.posts,
              "command": " ".join(["python -m ops.bench.language_throughput", *sys.argv[1:]]),
              "batch_size": base.batch_size, "together": args.together, "runs": runs,
              "on_over_off_median": ratio,
              "pooled": {metric: ratio_interval([on[metric] for on, _ in _pairs(runs)],
                                                [off[metric] for _, off in _pairs(runs)])
                         for metric in ("sustained_posts_per_s", "posts_per_worker_cpu_s")}}
    print(json.dumps(result["on_over_off_median"]))
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(_markdown(result))


def _pairs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["language_id"]] = run
    return [(modes["on"], modes["off"]) for modes in by_round.values()]


def _markdown(result: dict[str, Any]) -> str:
    lines = [f"# Worker throughput, language ID on vs off ({result['input']} input)", "",
             f"{result['date']}, {result['cpu']} ({result['cpus']} vCPUs; the load column says "
             f"how busy the machine was), `{result['command']}`, {result['posts']} posts per run.",
             "",
             "| round | language ID | posts/s (sustained) | posts per worker CPU-s | worker CPU-s "
             "per s | Redis CPU us per post | load 1m |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['round']} | {r['language_id']} | {r['sustained_posts_per_s']:,} | "
              f"{r['posts_per_worker_cpu_s']:,} | {r.get('worker_cpu_per_wall_s', '')} | "
              f"{r.get('redis_cpu_us_per_post', '')} | {r['load_avg_1m']} |"
              for r in result["runs"]]
    ratio = result["on_over_off_median"]
    lines += ["", f"Median on/off ratio of the rounds: {ratio['sustained_posts_per_s']:.3f} "
              f"(posts/s), {ratio['posts_per_worker_cpu_s']:.3f} (posts per CPU-s)."]
    pooled = result.get("pooled", {}).get("posts_per_worker_cpu_s")
    if pooled:
        lines += [f"Pooled on/off per worker CPU-second: {pooled['ratio']:.3f} (90% interval "
                  f"{pooled['low']:.3f}-{pooled['high']:.3f}, {pooled['n']} rounds"
                  f"{', both workers at once' if result.get('together') else ''})."]
    lines += [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
