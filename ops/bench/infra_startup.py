"""How long the local broker takes to start cold (first download) and warm, and its memory use.

Usage: .venv/bin/python ops/bench/infra_startup.py [--cold] [--json]

--cold uses an empty jar cache and an empty Maven local repository, so the jars really come from
Maven Central, as on a fresh machine. Runs on private ports and a temporary state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path

from sentistream.infra.kafka import KafkaBroker
from sentistream.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed_start(broker: KafkaBroker) -> float:
    started = time.monotonic()
    broker.up()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also measure a first-download start")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ss-infra-bench-") as tmp:
        base = Settings.from_env()
        settings = base.replace(
            state_dir=Path(tmp) / "state",
            cache_dir=Path(tmp) / "cache" if args.cold else base.cache_dir,
            kafka_port=_free_port(), kafka_controller_port=_free_port(),
        )
        if args.cold:
            # An empty Maven repository makes `mvn` download every jar, as on a fresh machine.
            os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={tmp}/m2"
        broker = KafkaBroker(settings)
        results: dict[str, float] = {}
        try:
            results["first_start_s"] = _timed_start(broker)
            pid = broker.process.pid()
            assert pid is not None
            time.sleep(5)  # let the JVM settle before reading its memory
            results["broker_rss_mib_idle"] = _rss_mib(pid)
            broker.down()
            results["warm_start_s"] = _timed_start(broker)
        finally:
            broker.down()
        results["cold"] = float(args.cold)
    if args.json:
        print(json.dumps(results))
    else:
        kind = "cold (download + format + start)" if args.cold else "first start (jars cached)"
        print(f"{kind}: {results['first_start_s']:.1f} s")
        print(f"warm start (jars cached, storage formatted): {results['warm_start_s']:.1f} s")
        print(f"broker RSS when idle: {results['broker_rss_mib_idle']:.0f} MiB "
              f"(heap {settings.kafka_heap})")


if __name__ == "__main__":
    main()
