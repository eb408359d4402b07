"""One hash of what the worker's script calls leave in Redis, to prove that a change to the
drivers' script calls or Lua changes no stored key: the content of every key (hashes, sets,
sorted sets with scores, lists in order, HyperLogLog strings byte for byte) and its expiry.

Usage: .venv/bin/python -m ops.bench.drivers_state_hash [--posts 8000] [--data generated|tweeteval]
       [--fingerprints N] [--base-sink PATH]
Run it from two trees (``PYTHONPATH=<tree>``) and compare the printed hashes, or give
``--base-sink`` (a sink.py of another tree) to run its APPLY_LUA on this tree's calls too.

The calls are built in-process as the worker builds them (``validate``, the scorer,
``batch_deltas``, ``BatchDrivers.attach``, ``CallBuilder.group_call``) for ``--posts`` generated
posts (``sentistream generate --seed 1``'s) or TweetEval test tweets (topic as brand), created
over three hours (so posts meet the previous hour's fingerprint set), in batches of 1,024 on 4
partitions; every batch is applied, then sent again (a redelivery: skipped) and, for one batch
in 3, its first half is applied first (so the whole batch answers "partial" and the rest is
rebuilt from the later records, as the worker does). ``--fingerprints`` caps the fingerprint
sets (small values fill them). Runs on db 15 of the running Redis (SENTISTREAM_REDIS_URL),
flushed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from ops.bench.drivers_redis_ops import built_batches, lua_of, scratch_db
from ops.bench.harness import generated, repeated, tweeteval
from sentistream.settings import get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.driver_deltas import BatchDrivers, PostFeatures
from stream.worker.posts import Posts
from stream.worker.sink import APPLY_LUA, PARTIAL, Call, CallBuilder

BATCH = 1024
PARTITIONS = 4


def batches_of_calls(posts: int, data: str, fingerprints: int) -> list[list[list[Call]]]:
    """Per batch, the call lists sent in turn: its calls or, one batch in 3, the calls of its
    first half, then the whole batch's (partial), then the resend of its second half."""
    settings = get_settings().replace(driver_fingerprints=fingerprints, drivers=True)
    corpus = generated(posts, seed=1) if data == "generated" else tweeteval()
    docs = repeated(corpus.posts, posts)
    # From 30 minutes into the hour 3 hours ago (the worker refuses posts too old), over 3 hours:
    # run both trees within one hour, or with --base-sink, for hashes that compare.
    now = time.time()
    start_s = (now // 3600 - 3) * 3600 + 1800
    step = 3 * 3600 / max(posts, 1)
    values = [json.dumps({**d, "created_at": start_s + i * step}).encode()
              for i, d in enumerate(docs)]
    drivers, builder = BatchDrivers(settings), CallBuilder(settings)
    out: list[list[list[Call]]] = []
    built = built_batches(values, settings, BATCH, now, drivers, builder, PARTITIONS)
    for k, b in enumerate(built):
        groups = [b.calls]
        if k % 3 == 1:  # the first half applied, then the whole: partial
            first = np.arange(len(b.batch)) < len(b.batch) // 2
            args = (b.batch, b.brands, b.labels, b.intensity, b.features, drivers, builder)
            groups = [part(first, *args), b.calls, part(~first, *args)]
        out.append(groups)
    return out


def part(mask: npt.NDArray[np.bool_], batch: Posts, brands: list[tuple[str, ...]],
         labels: npt.NDArray[np.int64], intensity: npt.NDArray[np.float32],
         features: PostFeatures | None, drivers: BatchDrivers, builder: CallBuilder
         ) -> list[Call]:
    """The calls of the records of ``mask``, built as the worker's ``_refilter`` builds a
    partial group's."""
    sub = batch.select(mask)
    sub_brands = [brands[i] for i in np.flatnonzero(mask).tolist()]
    again = batch_deltas(sub, sub_brands, labels[mask], intensity[mask], builder.top_k)
    drivers.attach_partial(again, batch, brands, labels, intensity, features, mask)
    return [builder.group_call("bench", d) for d in again]


def run(client: redis.Redis, script: str, plan: list[list[list[Call]]]) -> str:
    """Apply the plan with ``script`` on a flushed db; the hash of every key's content."""
    client.flushdb()
    sha = client.script_load(script)
    statuses: list[int] = []
    for groups in plan:
        for calls in [*groups, groups[-1]]:  # the last again: a redelivery, skipped
            pipe = client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
            statuses += [int(r[0]) for r in pipe.execute()]
    digest = hashlib.sha256()
    for key in sorted(client.scan_iter(count=1000)):
        kind = str(client.type(key), "ascii")  # type: ignore[arg-type]
        value: Any
        if kind == "hash":
            value = sorted(client.hgetall(key).items())
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        else:
            value = client.get(key)  # HyperLogLogs: the string byte for byte
        digest.update(repr((key, kind, value, client.ttl(key) > 0)).encode())
    keys = client.dbsize()
    client.flushdb()
    return (f"{digest.hexdigest()} keys {keys} statuses "
            f"{[statuses.count(s) for s in range(PARTIAL + 1)]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--posts", type=int, default=8000)
    parser.add_argument("--data", choices=("generated", "tweeteval"), default="generated")
    parser.add_argument("--fingerprints", type=int, default=100_000)
    parser.add_argument("--base-sink", type=Path, default=None)
    args = parser.parse_args()
    plan = batches_of_calls(args.posts, args.data, args.fingerprints)
    calls = hashlib.sha256(repr([[[(c.keys, c.args) for c in calls] for calls in groups]
                                 for groups in plan]).encode()).hexdigest()
    print(f"calls {calls}")
    client = scratch_db(get_settings().redis_url)
    print(f"this tree: {run(client, APPLY_LUA, plan)}")
    if args.base_sink:
        print(f"base:      {run(client, lua_of(args.base_sink), plan)}")


if __name__ == "__main__":
    main()
