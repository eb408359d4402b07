"""`sentistream demo`: Kafka + Redis, a worker, the post generator and a live per-brand table.

Everything it starts (the worker and generator subprocesses) it stops again on Ctrl-C or after
``--duration``; the local services stay up (`sentistream infra down` stops them).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import redis

from sentistream.settings import Settings, get_settings
from stream.aggregates import BucketAggregate
from stream.api.cli import dashboard_url
from stream.keys import ALL_BRANDS, BUCKET_FIELDS, KeyScheme, window_buckets

WINDOW_S = 15 * 60


def window_table(client: redis.Redis, keys: KeyScheme, now: float) -> list[tuple[str,
                                                                               BucketAggregate]]:
    """Per brand, the sum of the 1-minute buckets of the last 15 minutes (busiest first)."""
    found = client.zrangebyscore(keys.brands, now - WINDOW_S, "+inf")
    brands = sorted(b.decode() if isinstance(b, bytes) else str(b) for b in found)
    starts = window_buckets(now, WINDOW_S, "m")
    pipe = client.pipeline(transaction=False)
    for brand in brands:
        for start in starts:
            pipe.hmget(keys.bucket(brand, "m", start), BUCKET_FIELDS)
    values = pipe.execute()
    rows = []
    for i, brand in enumerate(brands):
        agg = BucketAggregate()
        for fields in values[i * len(starts):(i + 1) * len(starts)]:
            agg.merge(BucketAggregate(*(int(v or 0) for v in fields)))
        rows.append((brand, agg))
    rows.sort(key=lambda r: (r[0] != ALL_BRANDS, -r[1].n, r[0]))
    return rows


def render(rows: list[tuple[str, BucketAggregate]]) -> str:
    lines = [f"{'brand':<16}{'posts':>8}{'pos':>8}{'neu':>8}{'neg':>8}{'NSS':>8}{'mean int.':>11}"]
    for brand, agg in rows:
        r = agg.result()
        lines.append(f"{brand:<16}{agg.n:>8}{agg.pos:>8}{agg.neu:>8}{agg.neg:>8}"
                     f"{r['nss']:>+8.2f}{r['mean_intensity']:>+11.3f}")
    return "\n".join(lines)


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "sentistream"
    with log.open("ab") as out:
        # Own session: Ctrl-C reaches only us, and we stop the children in order.
        return subprocess.Popen([str(exe), *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@click.command()
@click.option("--rate", default=40.0, show_default=True, help="Generated posts per second.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--burst", default="tesla", show_default=True,
              help="Brand that gets a negative burst 200 s in ('' for none).")
def demo(rate: float, duration: float | None, burst: str) -> None:
    """Live demo: starts Kafka + Redis, a worker, the generator and the dashboard; shows per-brand
    sentiment over the last 15 minutes, refreshed every second. Ctrl-C stops it."""
    from sentistream.infra.services import up_all
    from sentistream.topics import ensure_topics

    settings = get_settings()
    up_all(settings)  # idempotent: already up when run through `make demo`
    ensure_topics(settings)
    logs = settings.state_dir / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    click.echo(f"starting a worker and the generator (logs in {logs}) ...")
    worker = _spawn(["worker"], logs / "worker.log")
    gen_args = ["generate", "--rate", str(rate), "--quiet"]
    if burst:
        # At 200 s: an alert compares a minute with at least 3 earlier minutes of the brand.
        gen_args += ["--burst", burst, "--burst-at", "200", "--burst-seconds", "20",
                     "--burst-rate", str(max(20.0, rate * 2))]
    generator = _spawn(gen_args, logs / "generate.log")
    server = _spawn(["serve"], logs / "serve.log")  # the HTTP API and the live dashboard
    click.echo(f"dashboard: {dashboard_url(settings)}")
    try:
        _show(settings, duration, [worker, generator, server])
    except KeyboardInterrupt:
        pass
    finally:
        _stop(server)
        _stop(generator)
        _stop(worker)
    click.echo("stopped the generator and the worker; `sentistream infra down` stops Kafka/Redis")


def _show(settings: Settings, duration: float | None,
          children: list[subprocess.Popen[bytes]]) -> None:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    keys = KeyScheme(settings.redis_prefix)
    tty = sys.stdout.isatty()
    started = time.monotonic()
    last_print = 0.0
    while duration is None or time.monotonic() - started < duration:
        for child in children:
            if child.poll() is not None:
                raise click.ClickException(
                    f"`{child.args!r}` exited with {child.returncode}; "
                    f"see its log in {settings.state_dir / 'demo'}")
        now = time.time()
        table = render(window_table(client, keys, now))
        header = (f"sentistream live — last 15 minutes, {time.strftime('%H:%M:%S')} "
                  f"(Ctrl-C to stop) — dashboard: {dashboard_url(settings)}")
        if tty:
            click.echo("\x1b[H\x1b[2J" + header + "\n\n" + table)
        elif time.monotonic() - last_print >= 5:
            click.echo(header + "\n" + table + "\n")
            last_print = time.monotonic()
        time.sleep(1.0)
