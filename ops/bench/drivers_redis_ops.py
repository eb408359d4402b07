"""Where the drivers' Redis CPU goes: the worker's own script calls for generated posts, replayed
against Redis with only some op kinds kept, Redis CPU (``INFO cpu``) per post of each.

Usage: .venv/bin/python -m ops.bench.drivers_redis_ops [--posts 40000] [--passes 3]
       [--data generated|tweeteval] [--batch 2048] [--partitions 1] [--base-sink PATH]
       [--out FILE]

Builds the calls in-process as the worker does (``validate``, the scorer, ``batch_deltas``,
``BatchDrivers.attach``, ``CallBuilder.group_call``) for ``sentistream generate --seed 1``'s posts
(``--data tweeteval``: the TweetEval test set repeated, each tweet's topic as its brand),
created now, in batches of ``--batch`` (2,048) over ``--partitions`` (1), then runs them on
a scratch database of the running Redis (SENTISTREAM_REDIS_URL, db 15, flushed before each
pass) with every driver op kind removed but one: ``none`` is the aggregates alone, ``a`` adds
the author HyperLogLogs, ``s`` the term sets, ``l`` the example lists, ``r`` the repost op,
``all`` everything. Each variant's best of ``--passes`` passes (alternating variants, so the
shared machine's drift hits all of them); ``--base-sink`` (a sink.py of another tree, e.g.
``git show main:stream/worker/sink.py``) adds the same for its APPLY_LUA. For the ``all``
variant of each script it also reports Redis commands per post, scripts' inner calls included,
and the us inside each (INFO commandstats, diffed around the best pass).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import orjson
import redis

from ops.bench.harness import repeated, tweeteval, umsab
from ops.bench.machine import cpu_model
from ops.bench.report import print_json
from ops.bench.sustained import redis_cpu_s
from producers.generator import generate_posts
from sentistream.settings import Settings, get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.driver_deltas import BatchDrivers, PostFeatures
from stream.worker.languages import ScoresLike
from stream.worker.pipeline import validate
from stream.worker.posts import Posts, RawRecord
from stream.worker.sink import APPLY_LUA, Call, CallBuilder

BATCH = 2048
DRIVER_OPS = ("a", "s", "l", "r")
VARIANTS = {"none": (), "a": ("a",), "s": ("s",), "l": ("l",), "r": ("r",), "all": DRIVER_OPS}


@dataclass(frozen=True)
class BuiltBatch:
    """One batch as the worker builds its script calls, with what a partial rebuild needs."""

    batch: Posts
    brands: list[tuple[str, ...]]
    labels: npt.NDArray[np.int64]
    intensity: npt.NDArray[np.float32]
    features: PostFeatures | None
    calls: list[Call]


def built_batches(values: Sequence[bytes], settings: Settings, size: int, now: float,
                  drivers: BatchDrivers, builder: CallBuilder, partitions: int = 1,
                  language_id: bool = False) -> Iterator[BuiltBatch]:
    """The worker's calls for the records ``values``, in batches of ``size`` over
    ``partitions``, built in-process as the worker builds them (``validate``, the scorer,
    ``batch_deltas``, ``BatchDrivers.attach``, ``CallBuilder.group_call``). ``language_id``:
    scored as the worker scores with SENTISTREAM_LANGUAGE_ID on (its ``load_scorer`` and
    ``score_here``: per-language bucket fields, unsupported posts unscored); off, every post
    by the English model and no language fields (the calls of the earlier results files)."""
    from model.scorer import SentimentScorer
    from stream.worker.scoring import load_scorer, score_here

    matcher = BrandsFile().current()
    scorer = (load_scorer(settings.replace(model_threads=1, language_id="on")) if language_id
              else SentimentScorer(num_threads=1))
    for start in range(0, len(values), size):
        records = [RawRecord(v, "bench", i % partitions, i // partitions, now)
                   for i, v in enumerate(values[start:start + size], start)]
        batch, brands, _ = validate(records, settings, matcher)
        scores: ScoresLike = (score_here(scorer, batch, True).routed if language_id
                              else scorer.score(batch.texts))
        labels = np.asarray(scores.labels, np.int64)
        intensity = np.asarray(scores.intensity, np.float32)
        deltas = batch_deltas(batch, brands, labels, intensity, settings.top_posts)
        features = drivers.attach(deltas, batch, brands, labels, intensity, scorer, matcher)
        yield BuiltBatch(batch, brands, labels, intensity, features,
                         [builder.group_call("bench", d) for d in deltas])


def build_calls(posts: int, data: str = "generated", batch: int = BATCH,
                partitions: int = 1, language_id: bool = False) -> list[Call]:
    """``data``: ``generated``, ``tweeteval`` (topic as brand) or ``umsab`` (the 8 x 870 UMSAB
    test tweets, 20 brands, no ``lang`` field: ``ops.bench.harness.umsab``)."""
    settings = get_settings()
    now = time.time()
    docs = (generate_posts(seed=1, rate=200.0, limit=posts) if data == "generated"
            else repeated((umsab() if data == "umsab" else tweeteval()).posts, posts))
    values = [json.dumps({**doc, "created_at": now}).encode() for doc in docs]
    drivers, builder = BatchDrivers(settings), CallBuilder(settings)
    return [call for built in built_batches(values, settings, batch, now, drivers, builder,
                                            partitions, language_id)
            for call in built.calls]


def scratch_db(url: str) -> redis.Redis:
    """A client of database 15 of the Redis at ``url``: ``from_url(url, db=15)`` would keep the
    URL's own database (redis-py lets the URL's path win), and these benches flush theirs."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        sys.exit(f"a redis:// or rediss:// URL is needed for a scratch database, not {url!r}")
    return redis.Redis.from_url(urlunsplit(parts._replace(path="/15")))


def keep_ops(call: Call, kinds: tuple[str, ...]) -> Call:
    ops = [op for op in orjson.loads(call.args[3]) if op[0] not in DRIVER_OPS or op[0] in kinds]
    return Call(call.keys, [*call.args[:3], orjson.dumps(ops).decode(), *call.args[4:]])


def lua_of(sink_py: Path) -> str:
    text = sink_py.read_text()
    start = text.index('APPLY_LUA = """\n') + len('APPLY_LUA = """\n')
    return text[start:text.index('"""', start)]


def one_pass(client: redis.Redis, script: str, calls: list[Call]
             ) -> tuple[float, dict[str, tuple[int, int]]]:
    """Redis CPU seconds of running ``calls`` on a flushed db, 8 calls per round trip, and the
    (calls, usec) of each command in between (INFO commandstats: the pass's own and, on a
    shared Redis, other clients')."""
    client.flushdb()
    sha = client.script_load(script)
    stats = command_stats(client)
    before = redis_cpu_s(client)
    for start in range(0, len(calls), 8):
        pipe = client.pipeline(transaction=False)
        for call in calls[start:start + 8]:
            pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
        pipe.execute()
    cpu = redis_cpu_s(client) - before
    after = command_stats(client)
    return cpu, {name: (calls_ - stats.get(name, (0, 0))[0], usec - stats.get(name, (0, 0))[1])
                 for name, (calls_, usec) in after.items()}


def command_stats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    info: dict[str, dict[str, Any]] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in info.items()}


def per_post(stats: dict[str, tuple[int, int]], posts: int) -> dict[str, Any]:
    """Commands per post (the bench's own INFO and SCRIPT left out) and us per post of each."""
    own = {n: v for n, v in stats.items() if v[0] and n not in ("info", "script|load", "flushdb")}
    return {"commands_per_post": round(sum(c for n, (c, _) in own.items() if n != "evalsha")
                                       / posts, 2),
            "by_command": {n: {"calls_per_post": round(c / posts, 3),
                               "us_per_post": round(u / posts, 2)}
                           for n, (c, u) in sorted(own.items(), key=lambda kv: -kv[1][1])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--base-sink", type=Path, default=None)
    parser.add_argument("--data", choices=("generated", "tweeteval"), default="generated",
                        help="generated posts, or the TweetEval test set (topic as brand)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    calls = build_calls(args.posts, args.data, args.batch, args.partitions)
    scripts = {"this tree": APPLY_LUA}
    if args.base_sink:
        scripts["base"] = lua_of(args.base_sink)
    client = scratch_db(get_settings().redis_url)
    variants = {name: [keep_ops(c, kinds) for c in calls] for name, kinds in VARIANTS.items()}
    best: dict[str, dict[str, float]] = {s: {} for s in scripts}
    commands: dict[str, dict[str, Any]] = {}
    for p in range(args.passes):
        order = list(scripts.items()) if p % 2 == 0 else list(reversed(scripts.items()))
        for script_name, script in order:
            for name, variant in variants.items():
                cpu_s, stats = one_pass(client, script, variant)
                us = cpu_s * 1e6 / args.posts
                got = best[script_name].get(name)
                if got is None or us < got:
                    best[script_name][name] = us
                    if name == "all":
                        commands[script_name] = per_post(stats, args.posts)
    client.flushdb()
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "command": "python -m ops.bench.drivers_redis_ops " + " ".join(sys.argv[1:]),
        "data": args.data, "posts": args.posts, "batch": args.batch,
        "partitions": args.partitions, "calls": len(calls),
        "redis_cpu_us_per_post_best": {s: {k: round(v, 2) for k, v in b.items()}
                                       for s, b in best.items()},
        "driver_op_us_per_post": {s: {k: round(b[k] - b["none"], 2) for k in (*DRIVER_OPS, "all")}
                                  for s, b in best.items()},
        "all_ops_commands": commands,
    }
    print_json(result, args.out)


if __name__ == "__main__":
    main()
