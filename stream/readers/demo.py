"""`sentistream demo`: Kafka + Redis, a worker, the post generator and a live per-brand table.

Everything it starts (the worker and generator subprocesses) it stops again on Ctrl-C or after
``--duration``; the local services stay up (`sentistream infra down` stops them).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from sentistream.cli_errors import reported
from sentistream.harness import Child, sentistream_argv
from sentistream.settings import Settings, get_settings
from stream.readers.api.cli import dashboard_url
from stream.readers.query.params import parse_window
from stream.readers.query.reader import reader
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS

WINDOW_S = 15 * 60
TABLE_ROWS = 20  # brands under `_all`: what fits a terminal


async def window_table(settings: Settings, now: float,
                       limit: int = TABLE_ROWS) -> list[tuple[str, BucketCounts]]:
    """``_all`` and the ``limit`` busiest brands of the last 15 minutes (1-minute buckets),
    from the ranking the worker keeps: the table costs the same however many brands exist."""
    window = parse_window(f"{WINDOW_S // 60}m")
    async with reader(settings) as r:
        page = await r.brand_page(window, now, limit)
        everything = (await r.window_counts([ALL_BRANDS], window, now))[ALL_BRANDS]
    return [(ALL_BRANDS, everything), *((row.brand, row.counts) for row in page.rows)]


def render(rows: list[tuple[str, BucketCounts]]) -> str:
    lines = [f"{'brand':<16}{'posts':>8}{'pos':>8}{'neu':>8}{'neg':>8}{'NSS':>8}{'mean int.':>11}"]
    for brand, agg in rows:
        lines.append(f"{brand:<16}{agg.n:>8}{agg.pos:>8}{agg.neu:>8}{agg.neg:>8}"
                     f"{_signed(agg.nss, 2):>8}{_signed(agg.mean_intensity, 3):>11}")
    return "\n".join(lines)


def _signed(value: float | None, digits: int) -> str:
    """A derived value, or "-" for a bucket without posts (it has none)."""
    return "-" if value is None else f"{value:+.{digits}f}"


def _spawn(args: list[str], log: Path) -> Child:
    # Own session: Ctrl-C reaches only us, and we stop the children in order.
    return Child(sentistream_argv(*args), None, log, own_session=True)


@click.command()
@click.option("--rate", default=40.0, show_default=True, help="Generated posts per second.")
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--burst", default="tesla", show_default=True,
              help="Brand that gets a negative burst 200 s in ('' for none).")
@reported
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
        for child in (server, generator, worker):
            child.stop(20)
    click.echo("stopped the generator and the worker; `sentistream infra down` stops Kafka/Redis")


def _show(settings: Settings, duration: float | None,
          children: list[Child]) -> None:
    tty = sys.stdout.isatty()
    started = time.monotonic()
    last_print = 0.0
    while duration is None or time.monotonic() - started < duration:
        for child in children:
            if not child.alive():
                raise click.ClickException(
                    f"`{' '.join(child.argv)}` exited with {child.proc.returncode}; "
                    f"see its log in {child.log}")
        now = time.time()
        table = render(asyncio.run(window_table(settings, now)))
        header = (f"sentistream live — last 15 minutes, {time.strftime('%H:%M:%S')} "
                  f"(Ctrl-C to stop) — dashboard: {dashboard_url(settings)}")
        if tty:
            click.echo("\x1b[H\x1b[2J" + header + "\n\n" + table)
        elif time.monotonic() - last_print >= 5:
            click.echo(header + "\n" + table + "\n")
            last_print = time.monotonic()
        time.sleep(1.0)
