"""The disk's fsync latency where Redis keeps its AOF: what ``appendfsync always`` waits for.

Usage: .venv/bin/python -m ops.bench.fsync_probe [--seconds 20] [--dir /tmp] [--every 0.025]

Appends 2 KB and fsyncs, every ``--every`` seconds (0.025: a batch's AOF write at 2,000 posts/s
in batches of ~50) for ``--seconds``, in a file under ``--dir`` (the state directory's disk,
where the bench's Redis writes), and prints the percentiles in ms and the count of slow fsyncs.
A batch's Redis write returns after its fsync, so an fsync of 150 ms holds ~300 posts at 2,000/s,
nearly 1% of a 20 s latency phase (ROUNDS.md, s12p).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def probe(seconds: float, directory: str, every: float) -> list[float]:
    """fsync latencies, ms, sorted."""
    fd, path = tempfile.mkstemp(prefix="fsync-probe-", dir=directory)
    payload = os.urandom(2048)
    latencies: list[float] = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            os.write(fd, payload)
            started = time.perf_counter()
            os.fsync(fd)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(every)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(latencies)


def summary(latencies: list[float]) -> str:
    n = len(latencies)

    def q(p: float) -> float:
        return latencies[min(n - 1, int(p * n))]

    over = ", ".join(f"over {t} ms: {sum(x > t for x in latencies)}" for t in (10, 50, 100))
    return (f"n={n} p50={q(0.5):.1f} p90={q(0.9):.1f} p99={q(0.99):.1f} "
            f"max={latencies[-1]:.1f} ms; {over}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--dir", default=tempfile.gettempdir())
    p.add_argument("--every", type=float, default=0.025)
    args = p.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} load {load}: "
          f"{summary(probe(args.seconds, args.dir, args.every))}")


if __name__ == "__main__":
    main()
