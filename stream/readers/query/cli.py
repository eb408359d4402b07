"""`sentistream brands|query|timeline|top|why|alerts|watch`: thin commands over the Reader.

Exit codes: 0 answered, 2 bad window/resolution/time, 3 Redis unreachable, 4 unknown brand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from sentistream.cli_errors import reported
from sentistream.settings import get_settings
from stream.readers.query import render
from stream.readers.query.params import (
    parse_lang,
    parse_range,
    parse_time,
    parse_why_window,
    parse_window,
)
from stream.readers.query.reader import DEFAULT_PAGE, MAX_PAGE, Reader, reader
from stream.schema.keys import KeyScheme

T = TypeVar("T")

json_option = click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
at_option = click.option("--at", default=None,
                         help="End of the window: ISO-8601, epoch s or -2h [default: now].")
brand_option = click.option("--brand", "-b", required=True, help="Brand name, as listed.")
lang_option = click.option("--lang", default=None, help="Only posts in this language: an ISO "
                           "639 code (en, de, pt; und = undetermined).")


def _run(query: Callable[[Reader], Awaitable[T]]) -> T:
    """Run one query on a fresh connection."""
    async def go() -> T:
        async with reader(get_settings()) as r:
            return await query(r)
    return asyncio.run(go())


def _end(at: str | None) -> float:
    return parse_time(at) if at else time.time()


def _emit(data: Any, as_json: bool, human: Callable[[], str]) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else human())


@click.command()
@click.option("--window", "-w", default="15m", show_default=True, help="15m, 1h, 24h, 7d...")
@click.option("--limit", "-n", type=click.IntRange(1, MAX_PAGE), default=DEFAULT_PAGE,
              show_default=True, help="Brands per page.")
@click.option("--offset", type=click.IntRange(0, None), default=0, show_default=True,
              help="Skip the busiest brands before the page (the JSON's next_offset).")
@at_option
@lang_option
@json_option
@reported
def brands(window: str, limit: int, offset: int, at: str | None, lang: str | None,
           as_json: bool) -> None:
    """The busiest brands of a window: volume, NSS, mean intensity and share of voice.

    --json prints the page's rows (a list); the human table ends with which rows of how many
    brands with posts in the window it shows. --lang counts one language's posts (the order
    and share of voice stay those of every language)."""
    win, end, code = parse_window(window), _end(at), parse_lang(lang)
    page = _run(lambda r: r.brand_page(win, end, limit, offset, code))
    rows = [r.to_json() for r in page.rows]

    def human() -> str:
        if not page.total:
            return (f"no brands with posts in the last {win.text}: is a worker running and "
                    "are posts being produced?")
        if not rows:
            return f"no brands at offset {offset}: {page.total} have posts in the window"
        more = f"; --offset {page.next_offset} for more" if page.next_offset is not None else ""
        return (render.table(rows, render.BRAND_COLUMNS) + f"\n\nbrands {offset + 1}-"
                f"{offset + len(rows)} of {page.total} with posts in the window{more}")
    _emit(rows, as_json, human)


@click.command()
@brand_option
@click.option("--window", "-w", default="15m", show_default=True, help="15m, 1h, 24h, 7d...")
@at_option
@lang_option
@json_option
@reported
def query(brand: str, window: str, at: str | None, lang: str | None, as_json: bool) -> None:
    """Summary of one brand over a window: counts per class, NSS, intensity, share of voice,
    language mix. NSS and intensity are over the scored posts (posts in languages the model
    does not score count in posts and in the language mix only)."""
    win, end, code = parse_window(window), _end(at), parse_lang(lang)
    s = _run(lambda r: r.summary(brand, win, end, code))
    _emit(s, as_json, lambda: render.pairs([
        ("brand", s["brand"]), ("window", f"{s['window']}  ({s['from']} .. {s['to']})"),
        ("posts", render.num(s["n"])),
        ("negative", f"{render.num(s['negative'])}"), ("neutral", render.num(s["neutral"])),
        ("positive", render.num(s["positive"])), ("NSS", render.signed(s["nss"])),
        ("mean intensity", render.signed(s["mean_intensity"])),
        ("share of voice", f"{render.pct(s['share_of_voice'])} of "
                           f"{s['brands_in_window']} brands with posts"),
        ("unique authors", f"{render.num(s['unique_authors'])} (HyperLogLog, ~0.81% error)"),
        ("reposts", render.num(s["reposts"])),
        ("unsupported language", render.num(s["unsupported_language"])),
        ("languages", render.languages(s["languages"])),
        *([("only language", s["lang"])] if s["lang"] else []),
    ]))


@click.command()
@brand_option
@click.option("--resolution", "-r", default="1m", show_default=True, help="1m, 1h or 1d.")
@click.option("--from", "start", default=None, help="ISO-8601, epoch s or -2h [default: one "
              "hour, two days or 30 days before --to].")
@click.option("--to", "end", default=None, help="Exclusive end [default: now].")
@lang_option
@json_option
@reported
def timeline(brand: str, resolution: str, start: str | None, end: str | None,
             lang: str | None, as_json: bool) -> None:
    """The brand's buckets between two times, empty buckets included, with their language
    mix (--lang: one language's counts)."""
    trange = parse_range(resolution, start, end)
    code = parse_lang(lang)
    rows = _run(lambda r: r.timeline(brand, trange, code))
    _emit(rows, as_json, lambda: render.table(rows, render.TIMELINE_COLUMNS))


@click.command()
@brand_option
@click.option("--window", "-w", default="1h", show_default=True,
              help="Rounded out to whole hours (top posts are kept per hour).")
@click.option("--limit", "-n", type=click.IntRange(1, 100), default=5, show_default=True)
@at_option
@json_option
@reported
def top(brand: str, window: str, limit: int, at: str | None, as_json: bool) -> None:
    """The most positive and the most negative posts about a brand."""
    win, end = parse_window(window), _end(at)
    posts = _run(lambda r: r.top(brand, win, end, limit))

    def human() -> str:
        parts = []
        for name in ("positive", "negative"):
            rows = posts[name]
            body = render.table(rows, render.POST_COLUMNS) if rows else "(none)"
            parts.append(f"most {name}\n{body}")
        return "\n\n".join(parts)
    _emit(posts, as_json, human)


@click.command()
@brand_option
@click.option("--window", "-w", default="1h", show_default=True,
              help="Up to 7d; rounded out to whole hours (terms are counted per hour).")
@at_option
@json_option
@reported
def why(brand: str, window: str, at: str | None, as_json: bool) -> None:
    """Why sentiment moved: the terms most over-represented in the brand's negative and in its
    positive posts of the window, against its own baseline (SENTISTREAM_WHY_BASELINE_DAYS days
    before), with z-score, posts and up to 2 example posts each."""
    win, end = parse_why_window(window), _end(at)
    settings = get_settings()
    data = _run(lambda r: r.why(brand, win, end, settings.why_baseline_days,
                                settings.why_terms))
    _emit(data, as_json, lambda: render.why(data))


@click.command()
@click.option("--brand", "-b", default=None, help="Only this brand.")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--since", default=None, help="Only alerts of buckets from this time on.")
@json_option
@reported
def alerts(brand: str | None, limit: int, since: str | None, as_json: bool) -> None:
    """Sentiment drops/rises and volume spikes, newest first, with the driver terms and
    example posts each alert carried when it fired."""
    since_s = parse_time(since) if since else None
    rows = _run(lambda r: r.alerts(brand, limit, since_s))
    def human() -> str:
        if not rows:
            return "no alerts"
        examples = render.alert_examples(rows)
        return render.table(rows, render.ALERT_COLUMNS) + (
            f"\n\nexample posts\n{examples}" if examples else "")
    _emit(rows, as_json, human)


@click.command()
@click.option("--brand", "-b", default=None, help="Only this brand.")
@click.option("--window", "-w", default="15m", show_default=True, help="Window of the table.")
@json_option
@reported
def watch(brand: str | None, window: str, as_json: bool) -> None:
    """Live view: redrawn on each Redis announcement (pub/sub), never by polling."""
    from stream.readers.query.watch import run_watch

    win = parse_window(window)
    settings = get_settings()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        asyncio.run(run_watch(settings, KeyScheme(settings.redis_prefix), win, brand, as_json))
