"""`sentistream watch`: a terminal view redrawn when the worker announces a change.

It subscribes to the live pub/sub channel and waits; an announcement only says "something
changed", so the view re-reads the window (one round trip) at most a few times a second however
fast announcements arrive. ``--json`` prints the announcements themselves, one per line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import click

from sentistream.settings import Settings
from stream.readers.query import render
from stream.readers.query.params import Window
from stream.readers.query.reader import Reader, connect
from stream.schema.keys import KeyScheme
from stream.schema.live import Announcement
from stream.schema.times import iso

REDRAW_EVERY_S = 0.25
CLEAR = "\x1b[H\x1b[2J"


class Tally:
    """What the live counter shows: posts and alerts announced since the view started."""

    def __init__(self) -> None:
        self.posts = 0
        self.messages = 0
        self.alerts: list[dict[str, Any]] = []

    def add(self, announced: Announcement, brand: str | None) -> None:
        self.messages += 1
        self.posts += announced.posts(brand)
        self.alerts.extend(a for a in announced.alerts
                           if brand is None or a.get("brand") == brand)
        del self.alerts[:-5]


def _wanted(announced: Announcement, brand: str | None) -> bool:
    return brand is None or announced.mentions(brand)


async def _draw(r: Reader, window: Window, brand: str | None, tally: Tally) -> str:
    if brand is None:
        rows = [row.to_json() for row in (await r.brand_page(window, time.time())).rows]
    else:
        rows = [{**await r.summary(brand, window, time.time())}]
    head = (f"sentistream watch · window {window.text} · {iso(time.time())} · "
            f"live: {tally.posts:,} posts, {tally.messages:,} updates since start (Ctrl-C quits)")
    body = render.table(rows, render.BRAND_COLUMNS) if rows else "waiting for posts..."
    alerts = ""
    if tally.alerts:
        alerts = "\n\nrecent alerts\n" + render.table(tally.alerts[::-1], render.ALERT_COLUMNS)
    return f"{head}\n\n{body}{alerts}"


async def run_watch(settings: Settings, keys: KeyScheme, window: Window, brand: str | None,
                    as_json: bool) -> None:
    client = connect(settings)
    r = Reader(client, keys, settings.count_reposts)
    if brand is not None:
        await r.require_brand(brand)
    await r.ping()
    pubsub = client.pubsub()
    await pubsub.subscribe(keys.live)
    tally = Tally()
    tty = sys.stdout.isatty()
    dirty, last_draw = not as_json, 0.0
    try:
        while True:
            timeout = REDRAW_EVERY_S if dirty else None
            message = await _next_message(pubsub, timeout)
            if message is not None:
                announced = Announcement.from_json(message["data"])
                if announced is None or not _wanted(announced, brand):  # None: not ours
                    continue
                tally.add(announced, brand)
                if as_json:
                    click.echo(json.dumps(announced.to_json(), ensure_ascii=False))
                    continue
                dirty = True
            if dirty and time.monotonic() - last_draw >= REDRAW_EVERY_S:
                screen = await _draw(r, window, brand, tally)
                click.echo((CLEAR if tty else "\n") + screen)
                dirty, last_draw = False, time.monotonic()
    finally:
        await pubsub.aclose()
        await client.aclose()


async def _next_message(pubsub: Any, timeout: float | None) -> dict[str, Any] | None:
    """The next published message, or None after ``timeout`` (blocking; no polling loop)."""
    async def receive() -> dict[str, Any]:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None:
                return dict(message)
    try:
        return await asyncio.wait_for(receive(), timeout)
    except TimeoutError:
        return None
