"""`sentistream replay | generate | produce`: parse options, set up, delegate, summarise."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from producers.progress import Progress, RunStats
from producers.records import KEY_CHOICES, KeyBy
from producers.sink import CLIENTS, COMPRESSIONS, Client, Compression, Sink, SinkOptions, open_sink
from sentistream.cli_errors import reported
from sentistream.settings import Settings, env_name, get_settings

FLUSH_TIMEOUT_S = 30.0
R = TypeVar("R")


@dataclass(frozen=True)
class SendOptions:
    """The option block of every command that sends posts: client tuning, topic, key, output."""

    quiet: bool
    key_by: KeyBy
    compression: str
    linger_ms: int
    batch_kib: int
    topic: str | None
    client: str

    def open_sink(self, settings: Settings) -> Sink:
        comp: Compression = self.compression  # type: ignore[assignment]  # click.Choice checked
        kind: Client = self.client  # type: ignore[assignment]
        return open_sink(settings, SinkOptions(compression=comp, linger_ms=self.linger_ms,
                                               batch_size=self.batch_kib * 1024, client=kind),
                         self.topic)


def send_options(linger_ms: int) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """The SendOptions block as click options, handed to the command as one ``send`` argument."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(command)
        def with_send(*args: Any, **kwargs: Any) -> R:
            send = SendOptions(**{f.name: kwargs.pop(f.name) for f in fields(SendOptions)})
            return command(*args, send=send, **kwargs)

        return _send_options(with_send, linger_ms)

    return decorate


def _send_options(f: Callable[..., R], linger_ms: int) -> Callable[..., R]:
    f = click.option("--quiet", is_flag=True, help="No progress output.")(f)
    f = click.option("--client", type=click.Choice(CLIENTS), default="kafka-python",
                     show_default=True,
                     help="Kafka client; aiokafka builds whole batches in C (see README).")(f)
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


def pace_options(max_help: str, rate_help: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """--max, --rate and --limit, as replay and generate both take them."""

    def decorate(f: Callable[..., R]) -> Callable[..., R]:
        f = click.option("--limit", type=click.IntRange(1), default=None,
                         help="Stop after N posts.")(f)
        f = click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
                         help=rate_help)(f)
        return click.option("--max", "as_fast", is_flag=True, help=max_help)(f)

    return decorate


@contextmanager
def sending(sink: Sink, send: SendOptions, what: str, limit: int | None,
            notes: tuple[str, ...] = ()) -> Iterator[tuple[RunStats, Progress]]:
    """The body sends through ``sink`` with these counters; the end is ``producing``'s."""
    stats = RunStats()
    stats.notes.extend(notes)
    progress = Progress(limit, enabled=not send.quiet)
    with producing(sink, stats, progress, what):
        yield stats, progress


def _positive(value: int, setting: str) -> int:
    if value < 1:
        raise click.UsageError(f"{env_name(setting)} must be at least 1, not {value}")
    return value


@contextmanager
def producing(sink: Sink, stats: RunStats, progress: Progress, what: str) -> Iterator[None]:
    """Run the body; on the end, an error or Ctrl-C: flush, count, print the summary."""
    try:
        yield
    except KeyboardInterrupt:
        stats.interrupted = True
    except Exception as exc:
        stats.error = type(exc).__name__
        raise
    finally:
        try:
            done = sink.flush(FLUSH_TIMEOUT_S)
            stats.sent, stats.failed = sink.acked, sink.failed
            stats.unconfirmed = 0 if done else sink.pending
            stats.finished = time.monotonic()
            progress.update(stats, force=True)
            progress.close()
            click.echo(stats.summary(what))
            for note in stats.notes:
                click.echo(note)
            if sink.failed:
                click.echo(f"delivery failures: {sink.error_summary()}", err=True)
        finally:
            sink.close()
    if stats.interrupted:
        sys.exit(130)
    if stats.failed or stats.unconfirmed:
        sys.exit(1)


@click.command()
@pace_options("As fast as possible.", "Ordinary posts per second [default: 50].")
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
@click.option("--burst-topic", default="battery", show_default=True,
              help="What the burst's posts complain about (the driver `why` should name).")
@send_options(linger_ms=20)
@reported
def generate(rate: float | None, as_fast: bool, limit: int | None, brands: str | None,
             seed: int | None, negative_share: float, positive_share: float,
             burst_brand: str | None, burst_at: float, burst_seconds: float, burst_rate: float,
             burst_topic: str, send: SendOptions) -> None:
    """Send synthetic posts about brands, with a sentiment mix and an optional negative burst."""
    from producers.generator import DEFAULT_BRANDS, Burst, GeneratorSpec
    from producers.live import run_generate

    if as_fast and rate is not None:
        raise click.UsageError("--rate and --max exclude each other")
    seed = seed if seed is not None else time.time_ns() % 1_000_000_007
    burst = (Burst(burst_brand, burst_at, burst_seconds, burst_rate, burst_topic)
             if burst_brand else None)
    brand_list = tuple(b.strip() for b in brands.split(",")) if brands else DEFAULT_BRANDS
    spec = GeneratorSpec(brand_list, negative_share, positive_share, seed, burst,
                         id_prefix=f"gen{seed:x}-{time.time_ns() // 1_000_000:x}-")
    sink = send.open_sink(get_settings())
    with sending(sink, send, "generate", limit) as (stats, progress):
        run_generate(sink, spec, None if as_fast else (rate or 50.0), limit, stats, progress,
                     send.key_by)


@click.command()
@send_options(linger_ms=0)  # a live line goes out at once; replays and generate batch
@reported
def produce(send: SendOptions) -> None:
    """Send one post per stdin line (JSON object or plain text) as soon as it is read."""
    from producers.live import run_produce
    from producers.sources import capped_lines

    settings = get_settings()
    sink = send.open_sink(settings)
    with sending(sink, send, "produce", None) as (stats, progress):
        lines = capped_lines(sys.stdin.buffer, settings.replay_max_row_bytes)
        run_produce(sink, lines, stats, progress, send.key_by)


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--preset", type=click.Choice(["sentiment140", "tweeteval"]), default=None,
              help="A known dataset layout (columns, header, encoding).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "json"]), default=None,
              help="Input format [default: from the name, else sniffed].")
@click.option("--text-column", default=None, help="[default: text]")
@click.option("--time-column", default=None, help="[default: created_at, else date]")
@click.option("--id-column", default=None, help="[default: id, else derived from the content]")
@click.option("--brand-column", default=None, help="[default: brand, else query, else topic]")
@click.option("--author-column", default=None, help="[default: author, else user]")
@click.option("--encoding", default=None, help="Text encoding of CSV input [default: utf-8].")
@click.option("--no-extra", is_flag=True, help="Drop unmapped columns instead of keeping them.")
@pace_options("As fast as possible (the default).", "Posts per second.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="X times the original pace, from the rows' timestamps.")
@click.option("--rebase-time", is_flag=True,
              help="Shift created_at so that the first post is now (live simulation).")
@click.option("--loop", is_flag=True,
              help="Start over at the end; with --rebase-time the timeline goes on.")
@click.option("--order", type=click.Choice(["auto", "file", "time"]), default="auto",
              show_default=True,
              help="auto: sort by time in memory when unsorted and under --sort-max-mib, else "
                   "stream in file order (the summary says which); stdin streams as is.")
@click.option("--sort-max-mib", type=click.IntRange(1), default=None,
              help="--order auto sorts inputs up to this size in memory; larger ones stream "
                   "[default: SENTISTREAM_REPLAY_SORT_MAX_MIB, 16].")
@click.option("--max-row-bytes", type=click.IntRange(1), default=None,
              help="Longer rows (a line, a JSON array item) are bad rows "
                   "[default: SENTISTREAM_REPLAY_MAX_ROW_BYTES, 1 MiB].")
@click.option("--max-decompressed-mib", type=click.IntRange(1), default=None,
              help="A gzipped input inflating past this stops the replay "
                   "[default: SENTISTREAM_REPLAY_MAX_DECOMPRESSED_MIB, 4096].")
@click.option("--bad-rows", "bad_rows", type=click.Path(dir_okay=False), default=None,
              help="Report of rejected rows [default: $STATE_DIR/replay/bad-rows-<time>.tsv].")
@click.option("--dry-run", is_flag=True,
              help="Read, map and encode, send nothing (checks a file; no broker needed).")
@send_options(linger_ms=20)
@reported
def replay(files: tuple[str, ...], preset: str | None, fmt: str | None,
           text_column: str | None, time_column: str | None, id_column: str | None,
           brand_column: str | None, author_column: str | None, encoding: str | None,
           no_extra: bool, as_fast: bool, rate: float | None, speed: float | None,
           rebase_time: bool, limit: int | None, loop: bool, order: str,
           sort_max_mib: int | None, max_row_bytes: int | None,
           max_decompressed_mib: int | None, bad_rows: str | None, dry_run: bool,
           send: SendOptions) -> None:
    """Replay CSV/JSONL/JSON files (gzip ok, - for stdin) into the posts topic."""
    import dataclasses
    from pathlib import Path

    from producers.dry_run import DiscardSink
    from producers.mapping import PRESETS, ColumnMap
    from producers.pacing import Pacer
    from producers.replay import Replay, ReplayOptions
    from producers.report import BadRowReport

    if sum([as_fast, rate is not None, speed is not None]) > 1:
        raise click.UsageError("choose one of --max, --rate and --speed")
    columns = (PRESETS[preset] if preset else ColumnMap()).with_overrides(
        text_column, time_column, id_column, brand_column, author_column)
    columns = dataclasses.replace(columns, encoding=encoding or columns.encoding,
                                  keep_extra=not no_extra)
    settings = get_settings()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = BadRowReport(Path(bad_rows) if bad_rows else
                          settings.state_dir / "replay" / f"bad-rows-{stamp}.tsv")
    mib = 1 << 20
    options = ReplayOptions(
        paths=files, columns=columns, fmt=fmt,  # type: ignore[arg-type]
        limit=limit, loop=loop, rebase_time=rebase_time,
        order=order, key_by=send.key_by,  # type: ignore[arg-type]
        max_row_bytes=_positive(max_row_bytes or settings.replay_max_row_bytes,
                                "replay_max_row_bytes"),
        max_decompressed_bytes=mib * _positive(
            max_decompressed_mib or settings.replay_max_decompressed_mib,
            "replay_max_decompressed_mib"),
        sort_max_bytes=mib * _positive(sort_max_mib or settings.replay_sort_max_mib,
                                       "replay_sort_max_mib"))
    pacer = (Pacer("rate", rate) if rate is not None else
             Pacer("speed", speed) if speed is not None else Pacer("max"))
    sink: Sink = (DiscardSink(send.topic or settings.topic_posts) if dry_run
                  else send.open_sink(settings))
    notes = ("dry run: nothing went to Kafka; 'sent' counts the posts that were read, mapped "
             "and encoded",) if dry_run else ()
    try:
        with sending(sink, send, "replay", limit, notes) as (stats, progress):
            Replay(options, sink, pacer, stats, progress, report).run()
    finally:
        report.close()
        if report.count:
            listed = "" if report.listed == report.count else f", the first {report.listed:,}"
            click.echo(f"{report.count} bad rows (with line numbers{listed}) in {report.path}")
