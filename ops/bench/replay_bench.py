"""How fast `sentistream replay --max` sends to the local broker, next to the client's own ceiling.

Usage: .venv/bin/python ops/bench/replay_bench.py [--rows N] [--repeat R] [--input FILE]
                                                  [--preset NAME] [--profile] [--json]

Each round measures, on the same machine and broker, one after the other:
  parse+encode  the replay pipeline (read, map, order, stamp, key, JSON-encode) with no Kafka;
  bare client   a kafka-python producer (same settings as the replay's) sending the pre-encoded
                records with pre-computed partitions in a plain loop: the client's own ceiling;
  replay        `sentistream replay --max` as a user runs it (subprocess, its summary's rate);
  replay_aiokafka  the same with `--client aiokafka` (whole batches built in C).
--profile adds a cProfile of one in-process replay, split by package.
Default input: ../shared/data/sentiment140-train-sample/train.csv (real tweets, no brand, so
every key is a distinct content-derived id: the partitioning worst case).
Needs a running broker: `sentistream infra up` (honours the SENTISTREAM_* ports).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "sentiment140-train-sample" / "train.csv"


class NullSink:
    """Counts what the replay would send: the pipeline's cost without Kafka."""

    def __init__(self) -> None:
        self.acked = self.failed = self.submitted = 0
        self.records: list[tuple[bytes, bytes]] = []

    def send(self, keys: list[bytes], values: list[bytes]) -> None:
        self.records.extend(zip(keys, values, strict=True))
        self.acked += len(keys)
        self.submitted += len(keys)


def replay_args(path: Path, rows: int, preset: str | None) -> list[str]:
    args = ["--max", "--quiet", "--limit", str(rows), "--loop", str(path)]
    return args + (["--preset", preset] if preset else [])


class Cpu:
    """CPU seconds spent by this process, its finished children and the broker, over a block."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def __enter__(self) -> Cpu:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.own, self.children, self.broker_s = (b - a for a, b in
                                                  zip(self._start, end, strict=True))

    def _now(self) -> tuple[float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        broker = sum(self.broker.cpu_times()[:2]) if self.broker is not None else 0.0
        return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime, broker


def find_broker(port: int) -> Any:
    """The broker process (listening on the Kafka port), to count its CPU too."""
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def parse_encode(path: Path, rows: int, preset: str | None) -> tuple[float, NullSink]:
    from producers.mapping import PRESETS, ColumnMap
    from producers.pacing import Pacer
    from producers.progress import Progress, RunStats
    from producers.replay import Replay, ReplayOptions
    from producers.report import BadRowReport

    sink = NullSink()
    options = ReplayOptions(paths=(str(path),), columns=PRESETS[preset] if preset else ColumnMap(),
                            limit=rows, loop=True)
    report = BadRowReport(Path("/dev/null"))
    started = time.perf_counter()
    Replay(options, sink, Pacer("max"), RunStats(), Progress(enabled=False),  # type: ignore[arg-type]
           report).run()
    return rows / (time.perf_counter() - started), sink


def bare_client(settings: Any, records: list[tuple[bytes, bytes]]) -> float:
    from kafka import KafkaProducer

    from producers.sink import SinkOptions

    opts = SinkOptions()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
        compression_type=None if opts.compression == "none" else opts.compression,
        linger_ms=opts.linger_ms, batch_size=opts.batch_size,
        max_request_size=opts.max_request_size, metrics_enabled=False)
    topic = f"bench.bare.{uuid.uuid4().hex[:8]}"
    from sentistream.topics import ensure_topics

    ensure_topics(settings, [topic])
    producer.send(topic, b"warm-up", key=b"w").get(timeout=30)
    # Partitions are computed up front like the keys and values (the replay does it per batch
    # with numpy): the timed loop is the client's own per-record work and nothing else.
    from producers.partitioning import Partitioner

    keys = [key for key, _ in records]
    partitions = Partitioner(producer.partitions_for(topic))(keys)
    started = time.perf_counter()
    send = producer.send
    for (key, value), partition in zip(records, partitions, strict=True):
        send(topic, value, key=key, partition=partition)
    producer.flush()
    rate = len(records) / (time.perf_counter() - started)
    producer.close()
    return rate


def replay_cli(path: Path, rows: int, preset: str | None, client: str = "kafka-python") -> float:
    topic = f"bench.replay.{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "sentistream.cli", "replay", "--topic", topic,
           "--client", client, *replay_args(path, rows, preset)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # "replay done: read N, sent N, failed 0, skipped 0 in 3.21s (31,150 posts/s)"
    summary = next(line for line in out.splitlines() if line.startswith("replay "))
    if f"sent {rows}," not in summary:
        raise SystemExit(f"replay did not send every row: {summary}")
    return float(summary.rsplit("(", 1)[1].split()[0].replace(",", ""))


def profile_replay(settings: Any, path: Path, rows: int, preset: str | None) -> dict[str, Any]:
    from click.testing import CliRunner

    from sentistream.cli import cli

    args = ["replay", "--topic", f"bench.prof.{uuid.uuid4().hex[:8]}",
            *replay_args(path, rows, preset)]
    profiler = cProfile.Profile()
    profiler.enable()
    result = CliRunner().invoke(cli, args)
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = ("kafka-python" if "/kafka/" in filename else
                   "producers" if "/producers/" in filename else "other")
        by_package[package] = by_package.get(package, 0.0) + tottime
    top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # type: ignore[attr-defined]
    return {
        "summary": result.output.strip().splitlines()[-1] if result.output else "",
        "seconds_by_package": {k: round(v, 2) for k, v in by_package.items()},
        "top_tottime": [f"{v[2]:.2f}s {Path(f).name}:{line}({fn})"
                        for (f, line, fn), v in top],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.input.exists():
        raise SystemExit(f"benchmark input {args.input} is missing: the shared datasets live in "
                         "<repo>/../shared/data; pass --input FILE to use another file")

    from sentistream.infra.kafka import metadata_ok
    from sentistream.settings import get_settings

    settings = get_settings()
    if not metadata_ok(settings.kafka_bootstrap):
        raise SystemExit(f"no broker at {settings.kafka_bootstrap}: run `sentistream infra up`")
    broker = find_broker(settings.kafka_port)
    names = ("parse_encode", "bare_client", "replay", "replay_aiokafka")
    rounds: dict[str, list[float]] = {n: [] for n in names}
    cpu_us: dict[str, list[float]] = {n: [] for n in names}  # client CPU per post
    broker_us: dict[str, list[float]] = {n: [] for n in names}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeat):
        with Cpu(broker) as cpu:
            rate, sink = parse_encode(args.input, args.rows, args.preset)
        _record(rounds, cpu_us, broker_us, "parse_encode", rate, cpu, args.rows)
        with Cpu(broker) as cpu:
            rate = bare_client(settings, sink.records)
        _record(rounds, cpu_us, broker_us, "bare_client", rate, cpu, args.rows)
        with Cpu(broker) as cpu:
            rate = replay_cli(args.input, args.rows, args.preset)
        _record(rounds, cpu_us, broker_us, "replay", rate, cpu, args.rows)
        with Cpu(broker) as cpu:
            rate = replay_cli(args.input, args.rows, args.preset, client="aiokafka")
        _record(rounds, cpu_us, broker_us, "replay_aiokafka", rate, cpu, args.rows)
    result: dict[str, Any] = {
        "input": str(args.input), "rows": args.rows, "repeat": args.repeat,
        "cores": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
        "median_posts_per_s": {k: round(statistics.median(v)) for k, v in rounds.items()},
        "all_posts_per_s": {k: [round(x) for x in v] for k, v in rounds.items()},
        "median_client_cpu_us_per_post": {k: round(statistics.median(v), 1)
                                          for k, v in cpu_us.items()},
        "median_broker_cpu_us_per_post": {k: round(statistics.median(v), 1)
                                          for k, v in broker_us.items()},
    }
    med = result["median_posts_per_s"]
    result["replay_vs_bare_client"] = round(med["replay"] / med["bare_client"], 3)
    if args.profile:
        result["profile"] = profile_replay(settings, args.input, args.rows, args.preset)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"input {result['input']}, {args.rows} rows, {args.repeat} rounds, "
          f"{result['cores']} cores, 1-min load before {result['load_avg_1m_before']}")
    print(f"  {'':<15} {'posts/s':>9}  {'client CPU':>10}  {'broker CPU':>10}   all posts/s")
    for name, value in med.items():
        print(f"  {name:<15} {value:>9,}  {result['median_client_cpu_us_per_post'][name]:>7} us"
              f"  {result['median_broker_cpu_us_per_post'][name]:>7} us   "
              f"{result['all_posts_per_s'][name]}")
    print(f"  replay / bare client = {result['replay_vs_bare_client']:.0%}")
    if args.profile:
        print(json.dumps(result["profile"], indent=2))


def _record(rounds: dict[str, list[float]], cpu_us: dict[str, list[float]],
            broker_us: dict[str, list[float]], name: str, rate: float, cpu: Cpu,
            rows: int) -> None:
    rounds[name].append(rate)
    cpu_us[name].append((cpu.own + cpu.children) / rows * 1e6)
    broker_us[name].append(cpu.broker_s / rows * 1e6)


if __name__ == "__main__":
    main()
