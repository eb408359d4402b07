"""The typed keys of what the API application holds (shared by its handler modules)."""

from __future__ import annotations

from aiohttp import web

from sentistream.settings import Settings
from stream.readers.api.live import LiveHub
from stream.readers.api.metrics import ApiMetrics
from stream.readers.api.tickets import Tickets
from stream.readers.query.reader import Reader

READER = web.AppKey("reader", Reader)
HUB = web.AppKey("hub", LiveHub)
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", ApiMetrics)
TICKETS = web.AppKey("tickets", Tickets)
