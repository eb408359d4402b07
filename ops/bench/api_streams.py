"""API memory under live-stream load: 200 SSE streams, 10 of them never reading, during a run.

Usage (from the repository root; starts and stops its own Kafka + Redis unless they run):
    .venv/bin/python -m ops.bench.api_streams [--rate 5000] [--seconds 60] [--streams 200]
        [--stalled 10] [--api-src DIR] [--out ops/bench/results]

A real worker, a real `sentistream serve` and a producer sending the TweetEval test set (brands
from its topic field, created_at = send time) at --rate for --seconds. Before producing, a client
process opens --streams live streams, 8 per source address (127.0.0.2, 127.0.0.3, ...: the
default per-client cap), of which --stalled never read a byte (a 4 KiB receive buffer, like a
frozen tab); the others read and count events. The API's RSS and CPU are sampled every 0.5 s.
--api-src runs `serve` from another source tree (e.g. an export of an older commit), to compare.
Writes api-streams.json / .md to --out.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from ops.bench import harness as h
from ops.bench.e2e import RESULTS, machine
from ops.bench.report import write_report
from producers.sink import SinkOptions
from sentistream.harness import Child, child_env, free_port, start_worker
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, KeyScheme
from stream.schema.live import Announcement, BrandChange

PER_ADDRESS = 8


async def _stream(port: int, source: str, stalled: bool, stats: dict[str, Any]) -> None:
    sock = socket.socket()
    if stalled:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock,
                                                       limit=1024 if stalled else 1 << 20)
        writer.write(b"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError) as exc:
        stats["errors"][type(exc).__name__] += 1
        return
    status = int(head.split(b" ", 2)[1])
    stats["status"][status] += 1
    if status != 200:
        writer.close()
        return
    if stalled:
        await asyncio.sleep(3600)  # never reads: the server must cut it loose
        return
    counts: list[int] = stats["events"]
    mine = len(counts)
    counts.append(0)
    tail = b""
    while True:
        chunk = await reader.read(1 << 16)
        if not chunk:
            stats["closed_by_server"] += 1
            break
        stats["bytes"] += len(chunk)
        counts[mine] += (tail + chunk).count(b"\nevent: update")
        tail = chunk[-16:]


async def _clients(port: int, streams: int, stalled: int, stop: Any, out: Any) -> None:
    stats: dict[str, Any] = {"status": Counter(), "errors": Counter(), "bytes": 0,
                             "closed_by_server": 0, "events": []}
    every = max(1, streams // max(1, stalled)) if stalled else 0
    tasks = []
    for i in range(streams):
        source = f"127.0.0.{2 + i // PER_ADDRESS}"
        is_stalled = bool(stalled) and i % every == 0 and i // every < stalled
        tasks.append(asyncio.create_task(_stream(port, source, is_stalled, stats)))
        await asyncio.sleep(0.01)
    out.put(("opened", dict(stats["status"])))
    while not stop.is_set():
        await asyncio.sleep(0.2)
    reading = [t for t in tasks if not t.done()]
    for t in reading:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats["status"], stats["errors"] = dict(stats["status"]), dict(stats["errors"])
    out.put(("done", stats))


def _client_process(port: int, streams: int, stalled: int, stop: Any, out: Any) -> None:
    asyncio.run(_clients(port, streams, stalled, stop, out))


def _start_api(rs: Settings, port: int, log_dir: Path, src: Path | None) -> Child:
    env = child_env(rs.replace(api_port=port))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = [sys.executable, "-m", "sentistream.cli", "serve"]
    # `python -m` puts the working directory first on sys.path: it picks the source tree.
    return Child(argv, env, log_dir / "serve.log", port, cwd=src or h.REPO)


def _metrics(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("sentistream_api_live") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _inject(rs: Settings, size: int, rate: float, stop: threading.Event) -> int:
    """XADD announcements of about ``size`` bytes at ``rate``/s, as a huge batch would write
    them, until ``stop``; returns how many. (The worker's own announcements stay as they are.)"""
    import redis

    brands = max(1, size // 80)
    changes = {f"brand-{i:06d}": BrandChange(BucketCounts(1, 0, 0, 1, 5), [1_700_000_000])
               for i in range(brands)}
    changes[ALL_BRANDS] = BrandChange(BucketCounts(brands, 0, 0, brands, 5))
    client = redis.Redis.from_url(rs.redis_url)
    live, sent = KeyScheme(rs.redis_prefix).live, 0
    while not stop.wait(1.0 / rate):
        payload = Announcement(at=time.time(), brands=changes).to_bytes()
        client.xadd(live, {"data": payload}, maxlen=rs.live_maxlen, approximate=True)
        sent += 1
    return sent


def _applied(rs: Settings) -> int:
    import redis

    client = redis.Redis.from_url(rs.redis_url)
    return int(client.hget(KeyScheme(rs.redis_prefix).total(ALL_BRANDS), "n") or 0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=5000.0)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--stalled", type=int, default=10)
    p.add_argument("--api-src", type=Path, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--name", default="api-streams")
    p.add_argument("--inject-bytes", type=int, default=0,
                   help="also XADD announcements of this size while producing (0: none)")
    p.add_argument("--inject-rate", type=float, default=2.0, help="injected announcements/s")
    args = p.parse_args(argv)
    base = h.bench_settings()
    corpus = h.tweeteval()
    log_dir = base.state_dir / "logs" / time.strftime("api-streams-%Y%m%d-%H%M%S")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
        "rate_offered": args.rate, "seconds": args.seconds, "streams": args.streams,
        "stalled": args.stalled, "api_src": str(args.api_src or "this tree"),
        "loadavg_start": os.getloadavg()}
    ctx = mp.get_context("spawn")
    with h.services(base):
        rs = h.run_settings(base, "api")
        ensure_topics(rs)
        sink = h.StampedSink(rs, SinkOptions(linger_ms=5))
        worker = start_worker(rs, log_dir, rs.worker_web_port)
        api_port = free_port()
        api = _start_api(rs, api_port, log_dir, args.api_src)
        stop, out = ctx.Event(), ctx.Queue()
        clients = ctx.Process(target=_client_process, daemon=True,
                              args=(api_port, args.streams, args.stalled, stop, out))
        try:
            h.wait_assigned([worker], rs.partitions)
            api.wait_web()
            with h.Observer(rs, [api.pid, worker.pid]) as obs:
                time.sleep(2.0)
                t_streams = time.time()
                clients.start()
                _, opened = out.get(timeout=120)
                time.sleep(2.0)
                t_produce = time.time()
                posts = h.repeated(corpus.posts, int(args.rate * args.seconds))
                injected: list[int] = []
                stop_inject = threading.Event()
                injector = threading.Thread(target=lambda: injected.append(_inject(
                    rs, args.inject_bytes, args.inject_rate, stop_inject)), daemon=True)
                if args.inject_bytes:
                    injector.start()
                achieved = h.send_paced(sink, posts, args.rate)
                t_sent = time.time()
                stop_inject.set()
                if args.inject_bytes:
                    injector.join(30)
                deadline = time.monotonic() + 120
                while _applied(rs) < len(posts) and time.monotonic() < deadline:
                    time.sleep(0.5)
                t_applied = time.time()
                time.sleep(3.0)
                metrics = _metrics(api_port)
                stop.set()
                _, stats = out.get(timeout=60)
                _, samples = obs.finish()
            clients.join(10)
            applied = _applied(rs)
        finally:
            stop.set()
            if clients.is_alive():
                clients.kill()
            api.stop()
            worker.stop()
            sink.close()
    mib = 2**20
    api_rss = [(t, r / mib) for t, pid, _, r in samples if pid == api.pid]
    api_cpu = [c for t, pid, c, _ in samples if pid == api.pid and t >= t_produce]
    worker_rss = [r / mib for t, pid, _, r in samples if pid == worker.pid]
    before = [r for t, r in api_rss if t < t_streams]
    events = sorted(stats["events"])
    result.update({
        "loadavg_end": os.getloadavg(), "posts_sent": len(posts), "send_rate": achieved,
        "posts_applied": applied, "injected": injected[0] if injected else 0,
        "inject_bytes": args.inject_bytes,
        "applied_rate": applied / max(1e-9, t_applied - t_produce),
        "produce_s": t_sent - t_produce, "streams_status": opened, "clients": {
            "status": stats["status"], "errors": stats["errors"],
            "closed_by_server": stats["closed_by_server"], "bytes_read": stats["bytes"],
            "events_min": events[0] if events else None,
            "events_median": events[len(events) // 2] if events else None},
        "api_rss_mib": {"idle": max(before) if before else None,
                        "peak": max(r for _, r in api_rss), "end": api_rss[-1][1]},
        "api_cpu_mean_pct": sum(api_cpu) / len(api_cpu) if api_cpu else None,
        "worker_rss_peak_mib": max(worker_rss) if worker_rss else None,
        "api_metrics": metrics})
    md = markdown(result)
    write_report(result, md, args.out, args.name)
    print(md)
    return result



def markdown(r: dict[str, Any]) -> str:
    rss, c = r["api_rss_mib"], r["clients"]
    m = r["api_metrics"]
    dropped = sum(v for k, v in m.items() if k.startswith("sentistream_api_live_dropped_total"))
    return "\n".join([
        f"# API under live-stream load, {r['date']} ({r['api_src']})", "",
        f"Machine: {r['machine']['cpu_model']}, {r['machine']['cpus']} vCPUs (shared). Load "
        f"average start/end: {' '.join(f'{x:.1f}' for x in r['loadavg_start'])} / "
        f"{' '.join(f'{x:.1f}' for x in r['loadavg_end'])}.", "",
        f"- {r['streams']} live streams asked for, {r['stalled']} of them never reading; "
        f"answers: {r['streams_status']}",
        f"- injected announcements: {r['injected']} of {r['inject_bytes']:,} bytes",
        f"- posts: {r['posts_sent']:,} sent at {r['send_rate']:,.0f}/s (offered "
        f"{r['rate_offered']:,.0f}/s), {r['posts_applied']:,} applied "
        f"({r['applied_rate']:,.0f}/s from the first send to the last applied)",
        f"- **API RSS: {rss['idle']:.0f} MiB idle, peak {rss['peak']:.0f} MiB, "
        f"{rss['end']:.0f} MiB at the end**; API CPU {r['api_cpu_mean_pct'] or 0:.0f}% "
        f"(mean while producing); worker RSS peak {r['worker_rss_peak_mib'] or 0:.0f} MiB",
        f"- reading clients: {c['bytes_read'] / 2**20:,.0f} MiB read, updates per client "
        f"min {c['events_min']} / median {c['events_median']}; streams the server closed: "
        f"{c['closed_by_server']} reading; stalled clients dropped (metrics): {dropped:.0f}",
        ""])


if __name__ == "__main__":
    main()
