"""What Redis does per post with language ID on vs off: every command (INFO commandstats) of
one live worker per mode, on the posts of ``language_throughput`` (issue 16: Redis CPU per post
about doubles on UMSAB with language ID on).

Usage: .venv/bin/python -m ops.bench.language_redis_ops [--posts 40000] [--rounds 1]
       [--input umsab|english|english-detect] [--variant NAME:FIELD=VALUE,...] [--out FILE]

Uses the running Kafka + Redis of the SENTISTREAM_* environment (`sentistream infra up`; the
Redis must be this benchmark's alone while it runs: commandstats are server-wide). Each run: the
posts produced to a fresh topic set, one worker drains them, and the difference of INFO
commandstats and of Redis's CPU between the worker's start and its last post gives, per post,
the calls and microseconds (Redis's own ``usec``: the commands a script calls count under their
own names as well as inside ``evalsha``) of each command, and the scored classes. Variants:
``off`` (language_id=off) and ``on`` by default; ``--variant`` adds or replaces settings, e.g.
``--variant off-nodrv:language_id=off,drivers=false``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

from ops.bench.harness import run_settings
from ops.bench.language_throughput import posts as bench_posts
from ops.bench.language_throughput import produce
from ops.bench.machine import cpu_model
from ops.bench.report import print_and_write
from ops.bench.sustained import cleanup, counted, redis_cpu_s
from sentistream.harness import start_worker
from sentistream.settings import Settings, get_settings
from stream.schema.keys import KeyScheme


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """command -> (calls, usec) since the server started (or its last CONFIG RESETSTAT)."""
    info: dict[str, dict[str, Any]] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(s["calls"]), int(s["usec"]))
            for name, s in info.items()}


def one_run(base: Settings, values: list[bytes], name: str, changes: dict[str, Any]
            ) -> dict[str, Any]:
    settings = run_settings(base, "lops").replace(**changes)
    produce(settings, values)
    client = redis.Redis.from_url(settings.redis_url)
    before, cpu0 = commandstats(client), redis_cpu_s(client)
    worker = start_worker(settings, settings.state_dir, name=f"worker-{settings.redis_prefix}")
    try:
        while counted(client, settings) < len(values):
            worker.check()
            time.sleep(0.05)
        after, cpu1 = commandstats(client), redis_cpu_s(client)
        total: dict[bytes, bytes] = client.hgetall(  # type: ignore[assignment]
            KeyScheme(settings.redis_prefix).total("_all"))
    finally:
        worker.stop()
        cleanup(settings)
    n = len(values)
    per_command = {cmd: {"calls_per_post": round((c - before.get(cmd, (0, 0))[0]) / n, 3),
                         "us_per_post": round((u - before.get(cmd, (0, 0))[1]) / n, 2)}
                   for cmd, (c, u) in after.items() if c > before.get(cmd, (0, 0))[0]}
    classes = {k.decode(): int(v) for k, v in total.items()
               if k.decode() in ("n", "neg", "neu", "pos")}
    return {"variant": name, "changes": changes, "posts": n,
            "redis_cpu_us_per_post": round((cpu1 - cpu0) * 1e6 / n, 1), "classes": classes,
            "commands": dict(sorted(per_command.items(),
                                    key=lambda kv: -kv[1]["us_per_post"])),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name:field=value,field=value`` -> (name, {field: value}), values as JSON when they
    parse (``false``, ``1``), else strings."""
    name, _, spec = text.partition(":")
    changes: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        field, _, raw = item.partition("=")
        try:
            changes[field] = json.loads(raw)
        except ValueError:
            changes[field] = raw
    return name, changes


def markdown(result: dict[str, Any], top: int) -> str:
    runs = result["runs"]
    names = list(dict.fromkeys(r["variant"] for r in runs))
    commands = sorted({c for r in runs for c in r["commands"]},
                      key=lambda c: -max(r["commands"].get(c, {}).get("us_per_post", 0)
                                         for r in runs))[:top]
    head = " | ".join(f"{r['variant']} (r{r['round']})" for r in runs)
    lines = [f"# Redis commands per post, by variant ({result['input']} input)", "",
             f"{result['date']}, {result['cpu']} ({result['cpus']} vCPUs, shared), "
             f"`{result['command']}`, {result['posts']} posts a run; variants: "
             + ", ".join(f"{n} {json.dumps(next(r['changes'] for r in runs if r['variant'] == n))}"
                         for n in names) + ".", "",
             "Calls per post / Redis usec per post (commandstats; a script's commands count "
             "under their own names and inside `evalsha`).", "",
             f"| command | {head} |", "|---|" + "---|" * len(runs)]
    lines.append("| Redis CPU us/post (used_cpu) | "
                 + " | ".join(f"{r['redis_cpu_us_per_post']}" for r in runs) + " |")
    lines.append("| scored neg / neu / pos of n | " + " | ".join(
        f"{r['classes'].get('neg', 0):,} / {r['classes'].get('neu', 0):,} / "
        f"{r['classes'].get('pos', 0):,} of {r['classes'].get('n', 0):,}" for r in runs) + " |")
    for c in commands:
        cells = []
        for r in runs:
            s = r["commands"].get(c)
            cells.append(f"{s['calls_per_post']:.2f} / {s['us_per_post']:.2f}" if s else "-")
        lines.append(f"| `{c}` | " + " | ".join(cells) + " |")
    lines.append(f"| load 1m | {' | '.join(str(r['load_avg_1m']) for r in runs)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=40_000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--input", choices=("umsab", "english", "english-detect"), default="umsab")
    p.add_argument("--variant", action="append", default=[],
                   help="NAME:FIELD=VALUE,... (default: off and on)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--out", type=Path, default=None, help="write FILE.md and FILE.json")
    args = p.parse_args()
    variants = [parse_variant(v) for v in args.variant] or [
        ("off", {"language_id": "off"}), ("on", {"language_id": "on"})]
    base = get_settings()
    values = bench_posts(args.input, args.posts)
    runs = []
    for r in range(args.rounds):
        for name, changes in (variants if r % 2 == 0 else variants[::-1]):
            runs.append({"round": r, **one_run(base, values, name, changes)})
            print(json.dumps(runs[-1]), flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "cpus": os.cpu_count(), "input": args.input, "posts": args.posts,
              "command": " ".join(["python -m ops.bench.language_redis_ops", *sys.argv[1:]]),
              "runs": runs}
    text = markdown(result, args.top)
    print_and_write(result, text, args.out)


if __name__ == "__main__":
    main()
