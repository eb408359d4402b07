"""Redis' instructions per post for the worker's script calls, under callgrind: a measure of
APPLY_LUA variants that the shared machine's load does not move (CPU time on 2 vCPUs shared by
several engineers moved by 20-50% between passes; instruction counts repeat to <1%).

Usage: .venv/bin/python -m ops.bench.redis_instructions --port PORT
       [--data tweeteval|generated|umsab] [--languages] [--posts 20000] [--batch 2048]
       [--partitions 4] [--ops all|s|none] [--without KINDS] [--base-sink PATH]
       [--server-option NAME=VALUE ...] [--profiles DIR] [--out FILE]

Builds the worker's calls in-process as ``ops.bench.drivers_redis_ops`` does (driver op kinds
other than ``--ops`` removed; ``--without``: these op kinds removed too, any of ``hitzaslr``, to
price one kind as the difference of two runs; ``--languages``: scored with language ID on, as
the worker's default, so the bucket ops carry the per-language fields), then for this tree's
APPLY_LUA and, with ``--base-sink``, that of
another tree's sink.py (``git show main:stream/worker/sink.py > /tmp/base_sink.py``): starts a
scratch ``redis-server`` on ``--port`` under ``valgrind --tool=callgrind`` with the local
infra's persistence (AOF, ``appendfsync always``), runs the calls (8 per round trip), shuts it
down and reads the instructions it executed. The same run with the calls' ops emptied is the
floor (start-up, protocol, offsets check, JSON decoding of the call) that is subtracted to give
the ops' own instructions. Needs valgrind and redis-server on PATH; takes ~1-2 minutes per run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from ops.bench.drivers_redis_ops import DRIVER_OPS, build_calls, keep_ops, lua_of
from ops.bench.machine import cpu_model
from ops.bench.report import print_json
from stream.worker.sink import APPLY_LUA, Call


def without_ops(call: Call, kinds: str) -> Call:
    ops = [op for op in orjson.loads(call.args[3]) if op[0] not in kinds]
    return Call(call.keys, [*call.args[:3], orjson.dumps(ops).decode(), *call.args[4:]])


def empty_ops(call: Call) -> Call:
    return Call(call.keys, [*call.args[:3], "[]", *call.args[4:]])


def instructions(port: int, script: str, calls: list[Call], keep: Path | None = None,
                 options: Sequence[str] = ()) -> tuple[int, dict[str, int]]:
    """Instructions a fresh callgrind-run Redis executes for ``calls`` (start-up and shutdown
    included), and the commands it ran (INFO commandstats: calls of each); ``keep``: where to
    leave callgrind's profile (for callgrind_annotate)."""
    with tempfile.TemporaryDirectory(prefix="redis-callgrind-") as tmp:
        out = keep or Path(tmp) / "callgrind.out"
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             *(x for o in options for x in (f"--{o.split('=', 1)[0]}", o.split("=", 1)[1]))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_timeout=600)
        try:
            for _ in range(600):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            sha = client.script_load(script)
            for start in range(0, len(calls), 8):
                pipe = client.pipeline(transaction=False)
                for call in calls[start:start + 8]:
                    pipe.evalsha(sha, len(call.keys), *call.keys, *call.args)
                pipe.execute()
            stats: dict[str, Any] = client.info("commandstats")
            with contextlib.suppress(redis.ConnectionError):  # it closes it as it goes
                client.shutdown(nosave=True)
            server.wait(timeout=600)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        return _total(out), {n.removeprefix("cmdstat_"): int(v["calls"])
                             for n, v in stats.items()}


def _total(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    sys.exit(f"no instruction total in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="a free port for the scratch "
                        "Redis (e.g. SENTISTREAM_WORKER_WEB_PORT when no worker runs)")
    parser.add_argument("--data", choices=("generated", "tweeteval", "umsab"), default="tweeteval")
    parser.add_argument("--languages", action="store_true",
                        help="score with language ID on (the worker's default): per-language "
                        "bucket fields")
    parser.add_argument("--without", default="", help="op kinds to remove from every call, "
                        "e.g. 'it' (the bucket indexes and top-post sets)")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--ops", choices=("all", "s", "none"), default="all",
                        help="which driver ops to keep: all, the term sets alone, none")
    parser.add_argument("--base-sink", type=Path, default=None)
    parser.add_argument("--server-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a redis-server option for every run, e.g. "
                        "zset-max-listpack-entries=0")
    parser.add_argument("--profiles", type=Path, default=None,
                        help="a directory to keep each run's callgrind profile in")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.profiles:
        args.profiles.mkdir(parents=True, exist_ok=True)
    kinds = {"all": DRIVER_OPS, "s": ("s",), "none": ()}[args.ops]
    calls = [keep_ops(c, kinds) for c in build_calls(args.posts, args.data, args.batch,
                                                     args.partitions, args.languages)]
    if args.without:
        calls = [without_ops(c, args.without) for c in calls]
    floor, _ = instructions(args.port, APPLY_LUA, [empty_ops(c) for c in calls],
                            options=args.server_option)
    scripts = {"this tree": APPLY_LUA}
    if args.base_sink:
        scripts["base"] = lua_of(args.base_sink)
    runs: dict[str, Any] = {}
    for name, script in scripts.items():
        keep = args.profiles / f"callgrind.{name.replace(' ', '-')}" if args.profiles else None
        total, stats = instructions(args.port, script, calls, keep, args.server_option)
        inner = sum(n for c, n in stats.items()
                    if c not in ("evalsha", "script|load", "ping", "info", "shutdown"))
        runs[name] = {"instructions_per_post": round(total / args.posts),
                      "ops_instructions_per_post": round((total - floor) / args.posts),
                      "redis_commands_per_post": round(inner / args.posts, 2),
                      "commands": {c: round(n / args.posts, 3) for c, n in sorted(
                          stats.items(), key=lambda kv: -kv[1]) if n}}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "command": "python -m ops.bench.redis_instructions " + " ".join(sys.argv[1:]),
        "data": args.data, "posts": args.posts, "batch": args.batch,
        "partitions": args.partitions, "ops": args.ops, "without": args.without,
        "language_id": args.languages, "calls": len(calls),
        "floor_instructions_per_post": round(floor / args.posts),
        "runs": runs,
    }
    print_json(result, args.out)


if __name__ == "__main__":
    main()
