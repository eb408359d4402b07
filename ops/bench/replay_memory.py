"""Peak memory of `sentistream replay` on a 1 GB JSON Lines file and on gzip bombs.

Usage: .venv/bin/python -m ops.bench.replay_memory [--gb 1.0] [--client kafka-python|aiokafka]
                                                   [--dry-run] [--skip-big] [--json]

Inputs are generated in a temporary directory (removed at the end), never in the repository:
  big.jsonl       ~1 GB of posts with timestamps, newest first, so `--order auto` would have
                  had to hold and sort all of it (it now streams it: over the sort limit);
  bomb.jsonl.gz   ~10 MB: 1,000 posts, then one line of 10 GiB of "x" (multi-member gzip);
  bomb.json.gz    the same as a JSON array: 1,000 posts, then one item of 10 GiB.
Each replay is the real command (`python -m sentistream.cli replay --max --quiet`, default
settings) in a subprocess, sending to a fresh topic of the local broker, deleted afterwards.
`--dry-run` passes the command's own --dry-run instead: it reads, maps and encodes, sends nothing.
Peak RSS is the kernel's high-water mark (VmHWM) of that process, read every 20 ms until it exits.
Needs a running broker unless --dry-run: `sentistream infra up` (honours the SENTISTREAM_* ports).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from ops.bench.machine import cpu_model, high_water_kib

MIB = 1 << 20
TARGET_MIB = 200
_WORDS = ("love", "hate", "great", "awful", "phone", "battery", "screen", "support", "price",
          "delivery", "update", "camera", "slow", "fast", "broken", "perfect", "refund", "today")


def write_big_jsonl(path: Path, size: int) -> int:
    """Posts of ~400 bytes, newest first, until the file has ``size`` bytes; returns the rows."""
    texts = [" ".join(_WORDS[(i * 7 + k * 3) % len(_WORDS)] for k in range(45))
             for i in range(997)]
    rows, written, base = 0, 0, 1_800_000_000
    with path.open("wb") as f:
        while written < size:
            chunk = b"".join(orjson.dumps({
                "id": f"m{rows + j}", "text": texts[(rows + j) % len(texts)],
                "brand": ("acme", "globex", "initech")[(rows + j) % 3], "author": f"u{j % 500}",
                "created_at": base - rows - j}) + b"\n" for j in range(10_000))
            f.write(chunk)
            written += len(chunk)
            rows += 10_000
    return rows


def write_bomb(path: Path, opening: bytes, filler: bytes, gib: int) -> None:
    """Good rows, then ``gib`` GiB of ``filler``: gzip members of 64 MiB each, one repeated."""
    member = gzip.compress(filler * (64 * MIB // len(filler)), 9)
    with path.open("wb") as f:
        f.write(gzip.compress(opening, 9))
        for _ in range(gib * 16):
            f.write(member)


def good_rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"g{i}", "text": f"good post {i}", "created_at": 1_700_000_000 + i}
            for i in range(n)]


def measure(path: Path, client: str, dry_run: bool, topic: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "sentistream.cli", "replay", "--max", "--quiet",
               "--topic", topic, "--client", client, "--bad-rows", str(path) + ".bad.tsv",
               *(["--dry-run"] if dry_run else []), str(path)]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, high_water_kib(proc.pid))
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    return {"input": path.name, "input_bytes": path.stat().st_size,
            "command": " ".join(["sentistream", *command[3:-1], path.name]),
            "exit_code": proc.returncode, "seconds": round(time.monotonic() - started, 1),
            "peak_rss_mib": round(peak / 1024, 1),
            "output": (stdout + stderr).strip().splitlines()}


def delete_topic(topic: str) -> None:
    from kafka.admin import KafkaAdminClient

    from sentistream.settings import get_settings

    admin = KafkaAdminClient(bootstrap_servers=get_settings().kafka_bootstrap)
    try:
        if topic in admin.list_topics():
            admin.delete_topics([topic])
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the big JSONL file")
    parser.add_argument("--client", default="kafka-python", choices=("kafka-python", "aiokafka"))
    parser.add_argument("--dry-run", action="store_true", help="replay --dry-run: no Kafka")
    parser.add_argument("--skip-big", action="store_true", help="only the bombs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sentistream-replay-memory-"))
    results = []
    try:
        opening = b"".join(orjson.dumps(r) + b"\n" for r in good_rows(1000))
        write_bomb(work / "bomb.jsonl.gz", opening, b"x", 10)
        write_bomb(work / "bomb.json.gz",
                   orjson.dumps(good_rows(1000))[:-1] + b',{"id":"huge","text":"', b"x", 10)
        inputs = [work / "bomb.jsonl.gz", work / "bomb.json.gz"]
        if not args.skip_big:
            rows = write_big_jsonl(work / "big.jsonl", int(args.gb * 1e9))
            print(f"generated big.jsonl: {(work / 'big.jsonl').stat().st_size / 1e9:.2f} GB, "
                  f"{rows:,} rows", file=sys.stderr)
            inputs.insert(0, work / "big.jsonl")
        for path in inputs:
            topic = f"bench.memory.{uuid.uuid4().hex[:8]}"
            print(f"replaying {path.name} ...", file=sys.stderr)
            try:
                results.append(measure(path, args.client, args.dry_run, topic))
            finally:
                if not args.dry_run:
                    delete_topic(topic)
            path.unlink()  # the next input gets the disk and the page cache
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(results, indent=2))
        return
    sink = "replay --dry-run (no Kafka)" if args.dry_run else f"local broker, {args.client}"
    print(f"sink: {sink}; date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"CPU: {cpu_model()}")
    print("| input | size | exit | time | peak RSS | under 200 MB |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['input']} | {r['input_bytes'] / 1e6:,.1f} MB | {r['exit_code']} | "
              f"{r['seconds']} s | {r['peak_rss_mib']} MiB | "
              f"{'yes' if r['peak_rss_mib'] * MIB < TARGET_MIB * 1e6 else 'NO'} |")
    for r in results:
        print(f"\n{r['input']}: {r['command']}")
        for line in r["output"][-4:]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
