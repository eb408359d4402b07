"""`sentistream replay | generate | produce`: parse options, set up, delegate, summarise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from producers.errors import ProducerError
from producers.progress import Progress, RunStats
from producers.records import KEY_CHOICES, KeyBy
from producers.sink import COMPRESSIONS, Compression, PostSink, SinkOptions
from sentistream.settings import get_settings

FLUSH_TIMEOUT_S = 30.0


def _sink_options(compression: str, linger_ms: int, batch_kib: int) -> SinkOptions:
    comp: Compression = compression  # type: ignore[assignment]  # click.Choice checked it
    return SinkOptions(compression=comp, linger_ms=linger_ms, batch_size=batch_kib * 1024)


def tuning_options(linger_ms: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda f: _tuning_options(f, linger_ms)


def _tuning_options(f: Callable[..., Any], linger_ms: int) -> Callable[..., Any]:
    f = click.option("--key", "key_by", type=click.Choice(KEY_CHOICES), default="brand",
                     show_default=True, help="Record key: the post's brand (else id), or id.")(f)
    f = click.option("--compression", type=click.Choice(COMPRESSIONS), default="lz4",
                     show_default=True)(f)
    f = click.option("--linger-ms", type=click.IntRange(0), default=linger_ms,
                     show_default=True, help="How long the client waits to fill a batch.")(f)
    f = click.option("--batch-kib", type=click.IntRange(16), default=512, show_default=True,
                     help="Producer batch size per partition.")(f)
    f = click.option("--topic", default=None,
                     help="Topic to send to [default: SENTISTREAM_TOPIC_POSTS].")(f)
    return f


@contextmanager
def producing(sink: PostSink, stats: RunStats, progress: Progress, what: str) -> Iterator[None]:
    """Run the body; on the end, an error or Ctrl-C: flush, count, print the summary."""
    try:
        yield
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        try:
            done = sink.flush(FLUSH_TIMEOUT_S)
            stats.sent, stats.failed = sink.acked, sink.failed
            stats.unconfirmed = 0 if done else sink.pending
            stats.finished = time.monotonic()
            progress.update(stats, force=True)
            progress.close()
            click.echo(stats.summary(what))
            if sink.failed:
                click.echo(f"delivery failures: {sink.error_summary()}", err=True)
        finally:
            sink.close()
    if stats.interrupted:
        sys.exit(130)
    if stats.failed or stats.unconfirmed:
        sys.exit(1)


@click.command()
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Ordinary posts per second [default: 50].")
@click.option("--max", "as_fast", is_flag=True, help="As fast as possible.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Stop after N posts.")
@click.option("--brands", default=None, help="Comma-separated brands [default: packaged list].")
@click.option("--seed", type=int, default=None, help="Random seed [default: from the clock].")
@click.option("--negative-share", type=click.FloatRange(0, 1), default=0.25, show_default=True)
@click.option("--positive-share", type=click.FloatRange(0, 1), default=0.40, show_default=True)
@click.option("--burst", "burst_brand", default=None, help="Brand of a negative burst.")
@click.option("--burst-at", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds after the start.")
@click.option("--burst-seconds", type=click.FloatRange(0), default=20.0, show_default=True)
@click.option("--burst-rate", type=click.FloatRange(0), default=200.0, show_default=True,
              help="Extra negative posts per second during the burst.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@tuning_options(linger_ms=20)
def generate(rate: float | None, as_fast: bool, limit: int | None, brands: str | None,
             seed: int | None, negative_share: float, positive_share: float,
             burst_brand: str | None, burst_at: float, burst_seconds: float, burst_rate: float,
             quiet: bool, key_by: KeyBy, compression: str, linger_ms: int, batch_kib: int,
             topic: str | None) -> None:
    """Send synthetic posts about brands, with a sentiment mix and an optional negative burst."""
    from producers.generator import DEFAULT_BRANDS, Burst, GeneratorSpec
    from producers.live import run_generate

    if as_fast and rate is not None:
        raise click.UsageError("--rate and --max exclude each other")
    seed = seed if seed is not None else time.time_ns() % 1_000_000_007
    burst = (Burst(burst_brand, burst_at, burst_seconds, burst_rate)
             if burst_brand else None)
    brand_list = tuple(b.strip() for b in brands.split(",")) if brands else DEFAULT_BRANDS
    try:
        spec = GeneratorSpec(brand_list, negative_share, positive_share, seed, burst,
                             id_prefix=f"gen{seed:x}-{time.time_ns() // 1_000_000:x}-")
        sink = PostSink(get_settings(), _sink_options(compression, linger_ms, batch_kib), topic)
    except ProducerError as exc:
        raise click.ClickException(str(exc)) from exc
    stats = RunStats()
    progress = Progress(limit, enabled=not quiet)
    with producing(sink, stats, progress, "generate"):
        run_generate(sink, spec, None if as_fast else (rate or 50.0), limit, stats, progress,
                     key_by)


@click.command()
@click.option("--quiet", is_flag=True, help="No progress output.")
@tuning_options(linger_ms=0)  # a live line goes out at once; replays and generate batch
def produce(quiet: bool, key_by: KeyBy, compression: str, linger_ms: int, batch_kib: int,
            topic: str | None) -> None:
    """Send one post per stdin line (JSON object or plain text) as soon as it is read."""
    from producers.live import run_produce

    try:
        sink = PostSink(get_settings(), _sink_options(compression, linger_ms, batch_kib), topic)
    except ProducerError as exc:
        raise click.ClickException(str(exc)) from exc
    stats = RunStats()
    progress = Progress(None, enabled=not quiet)
    with producing(sink, stats, progress, "produce"):
        run_produce(sink, sys.stdin.buffer, stats, progress, key_by)
