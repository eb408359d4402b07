"""Redis work of one batch, counted from the worker's own write path (no servers needed).

Usage: .venv/bin/python -m ops.bench.redis_ops [--batch 2048] [--partitions 4] [--batches 5]
                                               [--generated N] [--out DIR]

Builds batches of live posts (TweetEval test posts, created now, spread over the partitions as
the bench producer's keys spread them), then runs ``validate``, ``batch_deltas`` and
``CallBuilder`` exactly as the worker does with stand-in labels (the label does not change which
keys are written) and counts per batch: the script calls (one per (brand, partition) group, plus
the brand-index registration), the Redis commands each script runs (from its ops: one HINCRBY
per field, ZADD/ZINCRBY per member, the trims and EXPIREs), for ``_all`` (one hash slot, the hot
one on a Redis Cluster) and for the other brands. This is what the capacity plan in README
("Capacity plan") multiplies. Writes redis-ops.json to --out (default ops/bench/results/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ops.bench import harness as h
from ops.bench.machine import cpu_model
from sentistream.settings import Settings
from stream.schema.keys import ALL_BRANDS
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.pipeline import validate
from stream.worker.posts import RawRecord
from stream.worker.sink import CallBuilder

RESULTS = Path(__file__).resolve().parent / "results"


def script_commands(args: list[str]) -> int:
    """Commands APPLY_LUA runs for one call (see its source in stream/worker/sink.py)."""
    n = 2  # HGET of the stored offset, HSET of the new one
    n += 1 if len(args) > 4 and int(args[4] or 0) > 0 else 0  # EXPIRE of the offsets hash
    for op in json.loads(args[3]):
        kind, ttl, rest = op[0], int(op[2]), op[3:]
        if kind in ("h", "z"):
            n += len(rest) // 2
        elif kind == "i":
            n += len(rest) - 1 + (1 if int(rest[0]) > 0 else 0)
        elif kind == "t":
            n += (len(rest) - 2) // 2 + 1
        n += 1 if ttl > 0 else 0
    return n


def count(settings: Settings, records: list[RawRecord]) -> dict[str, Any]:
    matcher = BrandsFile(None).matcher
    posts, brands, _ = validate(records, settings, matcher)
    h32 = np.asarray([zlib.crc32(t.encode()) for t in posts.texts], np.int64)
    labels = h32 % 3
    intensity = (((h32 % 2001) - 1000) / 1000).astype(np.float32)
    deltas = batch_deltas(posts, brands, labels, intensity, settings.top_posts)
    calls = CallBuilder(settings)
    out: dict[str, Any] = {"posts": len(posts), "brands": len({b for bs in brands for b in bs}),
                           "groups": len(deltas), "all_groups": 0, "all_commands": 0,
                           "brand_commands": 0}
    for d in deltas:
        n = script_commands(calls.group_call(posts.topic, d).args)
        if d.brand == ALL_BRANDS:
            out["all_groups"] += 1
            out["all_commands"] += n
        else:
            out["brand_commands"] += n
    # The registration script: a ZSCORE + 2 ZADDs per brand seen, plus the sweep and count.
    out["register_commands"] = 3 * out["brands"] + 3
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--generated", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    settings = Settings.from_env({})
    corpus = h.generated(args.generated) if args.generated else h.tweeteval()
    posts = h.repeated(corpus.posts, args.batch * args.batches)
    now = time.time()
    rows = []
    for b in range(args.batches):
        chunk = posts[b * args.batch:(b + 1) * args.batch]
        records = [RawRecord(json.dumps({**post, "created_at": now + i * 1e-4}).encode(),
                             "bench.posts", zlib.crc32(post.get("brand", post["id"]).encode())
                             % args.partitions, b * args.batch + i, now)
                   for i, post in enumerate(chunk)]
        rows.append(count(settings, records))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    mean["script_calls"] = mean["groups"] + 1
    mean["commands"] = (mean["all_commands"] + mean["brand_commands"]
                        + mean["register_commands"])
    mean["commands_per_post"] = mean["commands"] / mean["posts"]
    mean["commands_per_brand_group"] = mean["brand_commands"] / max(
        mean["groups"] - mean["all_groups"], 1.0)
    mean["commands_per_all_group"] = mean["all_commands"] / max(mean["all_groups"], 1.0)
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "command": "python -m ops.bench.redis_ops " + " ".join(argv or []),
              "cpu_model": cpu_model(), "cpus": os.cpu_count(), "data": corpus.source,
              "batch": args.batch, "partitions": args.partitions, "per_batch": mean,
              "batches": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redis-ops.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(mean, indent=1))
    return result


if __name__ == "__main__":
    main()
