"""What language ID "on" costs over "off", per post, by item: the worker's steps on the same
batches, in-process (this thread's CPU clock), no Kafka or Redis.

Usage: .venv/bin/python -m ops.bench.language_breakdown [--posts 20480] [--batch 2048]
       [--passes 4] [--input umsab|english-detect|english] [--reposts 0.3]

The posts of ``ops.bench.language_throughput`` (same input names), parsed by the worker's
``validate``, then per batch, as ``stream.worker.pipeline`` builds a batch:
``score_here`` (score), ``batch_deltas`` (deltas), ``BatchDrivers.attach`` (drivers), the scored
records (records), each group's ``group_call`` + redis-py ``pack_command`` (calls). Off: every
post scored by the English model; on: detected, routed, scored by the model of its language.
The "on" score is then split: ``route`` (detection: ``strip`` = the noise regex, ``cld2`` = the
CLD2 calls, ``second`` = py3langid's batched second opinion on what CLD2 did not place), and per
model its ``tokenize`` (``encode_rows``) and ``invoke`` (the rest of its scoring), then the
token-row splice (``rows``). ``english_on_companion_posts``: the English model timed on the
posts the companion scores, so the two models' per-post costs compare on the same texts.
``labels``: routed and scored as "on", built without languages (the honest labels' own cost
in the drivers, top posts and calls). ``--reposts 0.3``: 30% of each batch retweets of a few
of its posts. Passes alternate; the first warms up; best of the others, microseconds per post
(of all posts of the batch, so the items add up). Extra counters: script arguments per post.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from types import SimpleNamespace
from typing import Any, cast

import pycld2
from redis.asyncio.connection import Connection

from model.languages import _CLD2_ARGS, _cld2, _strip_batch
from model.scorer import SentimentScorer
from ops.bench.language_throughput import posts as bench_posts
from ops.bench.language_worker_cpu import Batch, validated_batches
from ops.bench.machine import cpu_model
from sentistream.settings import get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.driver_deltas import BatchDrivers
from stream.worker.pipeline import BatchProcessor
from stream.worker.scoring import TokenRowsOf, score_here
from stream.worker.sink import CallBuilder


def worker_steps(batches: list[Batch], scorer: SentimentScorer, side: str, n: int
                 ) -> dict[str, float]:
    """Microseconds of CPU per post of each worker step, and script arguments per post.
    ``side``: "off", "on", or "labels": routed and scored as "on", then built without the
    languages (what the honest labels alone cost the steps after scoring)."""
    on = side != "off"
    settings = get_settings()
    builder, drivers = CallBuilder(settings), BatchDrivers(settings)
    matcher = BrandsFile().current()
    spent = dict.fromkeys(("score", "deltas", "drivers", "records", "calls"), 0.0)
    args = 0
    conn = Connection()
    me = cast(Any, SimpleNamespace(scorer=scorer))
    clock = time.thread_time
    for posts, brands in batches:
        t0 = clock()
        scores = score_here(scorer, posts, on)
        routed = scores.routed
        t1 = clock()
        if side == "labels":
            posts.languages = []
        deltas = batch_deltas(posts, brands, routed.labels, routed.intensity, 8)
        t2 = clock()
        drivers.attach(deltas, posts, brands, routed.labels, routed.intensity,
                       TokenRowsOf(posts.texts, scores) if scores.rows is not None else scorer,
                       matcher)
        t3 = clock()
        BatchProcessor._scored_records(me, posts, brands, routed.labels, routed.probs,
                                       routed.intensity)
        t4 = clock()
        for delta in deltas:
            call = builder.group_call("bench", delta)
            args += len(call.args)
            conn.pack_command("EVALSHA", "0" * 40, len(call.keys), *call.keys, *call.args)
        t5 = clock()
        for k, a, b in (("score", t0, t1), ("deltas", t1, t2), ("drivers", t2, t3),
                        ("records", t3, t4), ("calls", t4, t5)):
            spent[k] += b - a
    out = {k: v * 1e6 / n for k, v in spent.items()}
    out["all_steps"] = sum(out.values())
    out["script_args_per_post"] = args / n
    return out


def score_parts(batches: list[Batch], scorer: SentimentScorer, n: int) -> dict[str, float]:
    """The "on" score, item by item (the same calls score_posts makes, timed one by one)."""
    spent: dict[str, float] = {}
    counts: dict[str, int] = {}
    clock = time.thread_time
    models = scorer._models
    detector = scorer.router.detector

    def add(key: str, seconds: float) -> None:
        spent[key] = spent.get(key, 0.0) + seconds

    for posts, _ in batches:
        texts = posts.texts
        langs = [doc.get("lang") for doc in posts.docs]
        t0 = clock()
        routed = scorer.router.route(texts, langs)
        add("route", clock() - t0)
        t0 = clock()
        stripped = _strip_batch(texts)
        add("route.strip", clock() - t0)
        t0 = clock()
        for text in stripped:
            with contextlib.suppress(pycld2.error, ValueError, UnicodeError):
                _cld2(text, *_CLD2_ARGS)
        add("route.cld2", clock() - t0)
        first = [detector._first(t) for t in stripped]
        todo = [stripped[i] for i, c in enumerate(first) if c in detector._ask]
        t0 = clock()
        if todo:
            detector._second_batch.classify(todo)
        add("route.second", clock() - t0)
        counts["second_opinions"] = counts.get("second_opinions", 0) + len(todo)
        which = [scorer._model_of.get(c, -1) if ok else -1
                 for c, ok in zip(routed.codes, routed.supported.tolist(), strict=True)]
        for index, m in enumerate(models):
            sub = [t for t, w in zip(texts, which, strict=True) if w == index]
            if not sub:
                continue
            name = "english" if index == 0 else "companion"
            counts[name + "_posts"] = counts.get(name + "_posts", 0) + len(sub)
            t0 = clock()
            m.tokenizer.encode_rows(sub)
            t1 = clock()
            m.score(sub)
            t2 = clock()
            add(f"{name}.tokenize", t1 - t0)
            add(f"{name}.invoke", (t2 - t1) - (t1 - t0))
            if index:  # the same posts through the English model
                t0 = clock()
                models[0].tokenizer.encode_rows(sub)
                t1 = clock()
                models[0].score(sub)
                t2 = clock()
                add("english_on_companion_posts.tokenize", t1 - t0)
                add("english_on_companion_posts.invoke", (t2 - t1) - (t1 - t0))
        scorer.score_posts(texts, langs)
        t0 = clock()
        scorer.token_rows(texts)
        add("rows", clock() - t0)
    out = {k: v * 1e6 / n for k, v in spent.items()}
    out.update({k: float(v) / n for k, v in counts.items()})  # fraction of the posts
    return out


def with_reposts(values: list[bytes], share: float, batch: int) -> list[bytes]:
    """Every post whose index falls in the first ``share`` of each 100 becomes a retweet
    ("RT @<author>: <text>", as platforms send them: all retweets of one post alike) of one
    of 16 posts of its batch (a few viral posts)."""
    if share <= 0:
        return values
    out = list(values)
    for i in range(len(out)):
        if (i * 37) % 100 < share * 100:
            j = i - i % batch + i % 16  # one of the first 16 posts of the batch
            doc, source = json.loads(out[i]), json.loads(values[j])
            doc["text"] = f"RT @author{j}: {source['text']}"
            out[i] = json.dumps(doc, ensure_ascii=False).encode()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=20_480)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--input", choices=("umsab", "english-detect", "english"), default="umsab")
    p.add_argument("--reposts", type=float, default=0.0,
                   help="share of posts that are a retweet of a post of the same batch")
    args = p.parse_args()
    settings = get_settings()
    values = with_reposts(bench_posts(args.input, args.posts), args.reposts, args.batch)
    batches = validated_batches(values, args.batch, settings)
    n = sum(len(b[0]) for b in batches)
    scorer = SentimentScorer(num_threads=1)
    best: dict[str, dict[str, float]] = {"off": {}, "labels": {}, "on": {}, "on_parts": {}}
    for i in range(args.passes + 1):
        sides = list(best) if i % 2 == 0 else list(best)[::-1]
        for side in sides:
            got = (score_parts(batches, scorer, n) if side == "on_parts"
                   else worker_steps(batches, scorer, side, n))
            if i:  # the first pass warms the tables and the interpreter
                for k, v in got.items():
                    best[side][k] = min(best[side].get(k, v), v)
    diff = {k: round(best["on"][k] - best["off"][k], 2) for k in best["on"]}
    labels = {k: round(best["labels"][k] - best["off"][k], 2) for k in best["on"]}
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "input": args.input, "reposts": args.reposts, "posts": n, "batch": args.batch,
        "us_per_post_best": {s: {k: round(v, 3) for k, v in sorted(d.items())}
                             for s, d in best.items()},
        "on_minus_off": diff, "labels_minus_off": labels,
    }, indent=1))


if __name__ == "__main__":
    main()
