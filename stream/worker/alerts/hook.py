"""The worker's alert hook: after a batch is applied, check the minute buckets it touched.

The worker hands ``BackgroundAlerts.submit`` the same ``changes`` map it announces (brand ->
increments, with the ``minutes`` it touched); the check itself (``check_alerts``) runs off the
batch path, at most one at a time and at most once per ``CHECK_INTERVAL_S``, on the union of the
minutes touched since the last one. Run inline, it was 41% of the worker's time on TweetEval's
139 brands (ops/bench, README "Measured results"). One pipelined read fetches each touched
bucket and its trailing baseline, and the detector runs on the minutes that could alert
(``stream.worker.alerts.screen``); a failure here is logged and never fails the batch, whose
aggregates are already applied. A check that Redis fails keeps its minutes and runs again after a
backoff (``CHECK_INTERVAL_S`` doubling to ``CHECK_RETRY_MAX_S``): an outage delays an alert, it
does not lose it. The bound: an alert fires at most ``CHECK_INTERVAL_S`` plus one check after the
batch that completes its minute is applied, or, when Redis is out then, at most
``CHECK_RETRY_MAX_S`` plus one check after Redis answers again.
The alerts that were new in Redis go to the webhook, when one is set, through its outbox in
Redis (``stream/worker/alerts/outbox``), which the save script fills: delivery never delays the
next check, and survives a lost reply or a stopped worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sentistream.settings import Settings
from stream.drivers.why import ALERT_TERMS, explain, for_alert
from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, BUCKET_FIELDS, RESOLUTIONS, KeyScheme
from stream.schema.live import BrandChange
from stream.scripts import LuaScript, run_pipeline
from stream.worker.alerts.detector import Alert, AlertRules, detect
from stream.worker.alerts.outbox import AlertOutbox
from stream.worker.alerts.screen import candidates
from stream.worker.alerts.store import save_new_alerts
from stream.worker.alerts.webhook import WebhookConfig, WebhookSender
from stream.worker.timings import StageClock

log = logging.getLogger(__name__)
MINUTE = RESOLUTIONS["m"]
# A replay batch may span many minutes; the newest few per brand are what a live user watches.
MAX_MINUTES_PER_BRAND = 8
# Alerts are per minute bucket; checking more often than this only re-reads the same buckets.
CHECK_INTERVAL_S = 1.0
# After a failed check, the wait before the next doubles from CHECK_INTERVAL_S up to this.
CHECK_RETRY_MAX_S = 5.0
# The baseline ends this many minutes before the minute judged. A burst that straddles a minute
# boundary with fewer than min_volume posts in its first minute cannot alert there, and inside
# the next minute's baseline it widened the spread enough to hide the drop (CI: 24 + 184 posts
# gave z -2.6 against 4). Skipping the minute just before costs one of ~30 baseline minutes.
BASELINE_GAP = 1


@lru_cache(maxsize=4)
def _rules(settings: Settings) -> AlertRules:
    return AlertRules.from_settings(settings)


def touched_minutes(changes: Mapping[str, BrandChange]) -> dict[str, list[int]]:
    """Brand -> the newest minute buckets a batch touched (``_all`` is not a brand).

    Only minutes less than MAX_MINUTES_PER_BRAND minutes before the brand's newest one: the
    baseline read covers every bucket from the oldest minute's baseline to the newest minute, and
    a batch of historical posts touches minutes months apart (the TweetEval test set: one worker
    fell to ~100 posts/s reading the buckets in between).
    """
    out = {}
    for brand, change in changes.items():
        minutes = sorted(set(change.minutes))
        if brand != ALL_BRANDS and minutes:
            recent = minutes[-1] - MAX_MINUTES_PER_BRAND * MINUTE
            out[brand] = [m for m in minutes[-MAX_MINUTES_PER_BRAND:] if m > recent]
    return out


# One call per brand reads all the minute buckets a check needs (as HMGETs in a pipeline,
# redis-py's per-command Python work on ~4,000 reads a second was 9% of the worker). A brand's
# keys share its hash tag, so this works on a cluster. The counts come back as one flat list of
# integers (parsed by hiredis, no per-bucket bytes). A brand none of whose judged minutes has
# min_volume posts cannot alert (``detect``), so its baseline is not read: an empty reply.
# KEYS: the brand's minute buckets, oldest first. ARGV: min_volume, then the 1-based positions
# in KEYS of the judged minutes. The fields are BUCKET_FIELDS (the first is n), in the script's
# text rather than in every call's arguments (their packing was a tenth of a check's loop CPU).
READ_COUNTS_LUA = """
local fields = {BUCKET_FIELDS}
local min_volume, width = tonumber(ARGV[1]), #fields
local busy = false
for i = 2, #ARGV do
  if (tonumber(redis.call('HGET', KEYS[tonumber(ARGV[i])], fields[1])) or 0) >= min_volume then
    busy = true
    break
  end
end
if not busy then return {} end
local out = {}
for _, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(fields))
  for j = 1, width do out[#out + 1] = tonumber(values[j]) or 0 end
end
return out
""".replace("BUCKET_FIELDS", ", ".join(f"'{f}'" for f in BUCKET_FIELDS))
READ_COUNTS = LuaScript(READ_COUNTS_LUA)
# Brands read per round trip. The check shares the worker's event loop with the batches: in
# one piece, 139 brands' commands and replies held it for ~5 ms at a time (and Redis for its
# whole read); in round trips of 16 brands the batches run in between.
READ_BRANDS_PER_ROUND_TRIP = 16
# A brand's baseline buckets, read by a check, are trusted this long by the next checks, which
# then read only the judged minutes (``BaselineCache``).
BASELINE_TTL_S = 10.0


class BaselineCache:
    """The minute buckets the last full read of each brand returned (start -> BUCKET_FIELDS).

    At 2,000 posts/s every check judged the same minute of each brand ~60 times, and each time
    read it with its 32 baseline buckets: 139 x 33 buckets a second, most of the check's Redis
    CPU and of the worker's loop CPU (packing their keys). The baseline minutes are closed: only
    late posts change them. This worker's own writes to a brand's minutes drop them here at once
    (``forget``, from every applied batch's changes), so a check never trusts a bucket this worker
    changed since it was read; another worker's writes are seen within BASELINE_TTL_S, after
    which the brand is read in full again. The judged minutes are read on every check.
    Bounded: one entry per brand (the brand index's size), each the buckets of one read.
    """

    def __init__(self, ttl_s: float = BASELINE_TTL_S) -> None:
        self.ttl_s = ttl_s
        # brand -> (when read, the first bucket's start, its buckets' rows, still valid rows)
        self._entries: dict[str, tuple[float, int, npt.NDArray[np.int64],
                                       npt.NDArray[np.bool_]]] = {}
        self._written_during_read: dict[str, set[int]] | None = None

    def begin(self) -> None:
        """A check starts reading: writes from now on must not be cached as read values."""
        self._written_during_read = {}
        now = time.monotonic()
        for brand in [b for b, e in self._entries.items() if now - e[0] > self.ttl_s]:
            del self._entries[brand]

    def end(self) -> None:
        self._written_during_read = None

    def forget(self, brand: str, minutes: Iterable[int]) -> None:
        """This worker applied writes to these minute buckets of the brand."""
        minutes = list(minutes)
        entry = self._entries.get(brand)
        if entry is not None:
            _, first, table, valid = entry
            for m in minutes:
                i = (m - first) // MINUTE
                if 0 <= i < len(table):
                    valid[i] = False
        if self._written_during_read is not None:
            self._written_during_read.setdefault(brand, set()).update(minutes)

    def baseline(self, brand: str, first: int, rows: int, needed: int, judged: Sequence[int]
                 ) -> npt.NDArray[np.int64] | None:
        """``rows`` minute buckets from ``first``, as read before, or None (read them all):
        the first ``needed`` of them must be held and valid, except the ``judged`` ones (row
        offsets), which are read now, as are those from ``needed`` on (not used by the detector
        unless judged)."""
        entry = self._entries.get(brand)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        _, held_first, table, valid = entry
        lo = (first - held_first) // MINUTE
        if lo < 0 or lo + needed > len(table):
            return None
        ok = valid[lo:lo + needed]
        if not ok.all():
            ok = ok.copy()
            ok[[j for j in judged if j < needed]] = True
            if not ok.all():
                return None
        out = np.zeros((rows, table.shape[1]), np.int64)
        take = min(rows, len(table) - lo)
        out[:take] = table[lo:lo + take]
        return out

    def store(self, brand: str, read_at: float, starts: Sequence[int],
              table: npt.NDArray[np.int64]) -> None:
        valid = np.ones(len(starts), np.bool_)
        for m in (self._written_during_read or {}).get(brand, ()):
            i = (m - starts[0]) // MINUTE
            if 0 <= i < len(starts):
                valid[i] = False
        self._entries[brand] = (read_at, starts[0], table.copy(), valid)


async def evaluate(client: aioredis.Redis, keys: KeyScheme, rules: AlertRules,
                   touched: Mapping[str, list[int]], now: float,
                   cache: BaselineCache | None = None) -> list[Alert]:
    """Read each touched bucket with its baseline and run the detector on the minutes that could
    alert (``stream.worker.alerts.screen``: the same alerts as running it on every minute,
    without ~40 ms of Python a check on 139 brands). With a ``cache``, a brand whose baseline
    it holds has only its judged minutes read."""
    behind = rules.baseline_buckets + BASELINE_GAP  # buckets from the oldest baseline one
    width = len(BUCKET_FIELDS)
    tables: list[npt.NDArray[np.int64]] = []
    judged: list[tuple[str, int, int]] = []  # (brand, minute, its row among all the tables)
    rows = 0
    brands = list(touched.items())
    for piece in range(0, len(brands), READ_BRANDS_PER_ROUND_TRIP):
        # Each piece planned right before its round trip and used right after: the loop is
        # held for one piece's Python at a time, never a whole check's.
        read_at = time.monotonic()
        plan = [_plan(keys, brand, minutes, behind, cache)
                for brand, minutes in brands[piece:piece + READ_BRANDS_PER_ROUND_TRIP]]
        replies = await _read_counts(client, [reads for *_, reads in plan], rules.min_volume)
        for (brand, minutes, starts, known, _), reply in zip(plan, replies, strict=True):
            if not reply:  # no judged minute has min_volume posts: nothing can alert
                continue
            fresh = np.asarray(reply, np.int64).reshape(-1, width)
            if known is None:
                table = fresh
                if cache is not None:
                    cache.store(brand, read_at, starts, table)
            else:
                table = known
                table[[(m - starts[0]) // MINUTE for m in minutes]] = fresh
            tables.append(table)
            judged.extend((brand, m, rows + (m - starts[0]) // MINUTE) for m in minutes)
            rows += len(starts)
    if not judged:
        return []
    counts = np.concatenate(tables)
    at = np.asarray([row for _, _, row in judged], np.int64)
    window = at[:, None] + np.arange(-behind, -BASELINE_GAP)  # baseline rows, oldest first
    maybe = candidates(counts[at], counts[window], rules)
    alerts: list[Alert] = []
    for k in np.flatnonzero(maybe).tolist():
        brand, minute, _ = judged[k]
        base = [BucketCounts.from_values(r) for r in counts[window[k]].tolist()]
        alerts.extend(detect(brand, minute, BucketCounts.from_values(counts[at[k]].tolist()),
                             base, rules, now))
    return alerts


Plan = tuple[str, list[int], list[int], "npt.NDArray[np.int64] | None",
             tuple[list[str], list[int]]]


def _plan(keys: KeyScheme, brand: str, minutes: list[int], behind: int,
          cache: BaselineCache | None) -> Plan:
    """(brand, judged minutes, the bucket starts the detector needs, their rows the cache
    holds or None, (the keys to read, the 1-based positions of the judged ones among them))."""
    first = minutes[0] - behind * MINUTE
    starts = list(range(first, minutes[-1] + MINUTE, MINUTE))
    if cache is not None:
        judged = [(m - first) // MINUTE for m in minutes]
        # The detector reads the rows before the newest judged minute's gap: the judged minutes
        # are at most MAX_MINUTES_PER_BRAND apart, so their baselines overlap into one run.
        known = cache.baseline(brand, first, len(starts), judged[-1] - BASELINE_GAP, judged)
        if known is not None:
            return (brand, minutes, starts, known,
                    ([keys.bucket(brand, "m", m) for m in minutes],
                     list(range(1, len(minutes) + 1))))
    return (brand, minutes, starts, None,
            ([keys.bucket(brand, "m", s) for s in starts],
             [(m - first) // MINUTE + 1 for m in minutes]))


async def _read_counts(client: aioredis.Redis, reads: list[tuple[list[str], list[int]]],
                       min_volume: int) -> list[Any]:
    """Per (bucket keys, positions of the judged ones): the flat BUCKET_FIELDS of every key, or
    [] when no judged bucket has ``min_volume`` posts (one script call per brand)."""
    def queue(pipe: Any) -> None:
        for bucket_keys, positions in reads:
            READ_COUNTS.queue(pipe, bucket_keys, [min_volume, *positions])

    replies = await run_pipeline(client, [READ_COUNTS], queue)
    for r in replies:
        if isinstance(r, Exception):
            raise r
    return replies


async def check_alerts(client: aioredis.Redis, settings: Settings,
                       changes: Mapping[str, BrandChange],
                       on_new: Callable[[list[dict[str, Any]]], None] | None = None,
                       cache: BaselineCache | None = None) -> int:
    """Detect, store and announce alerts for a batch's changes; returns how many were new.

    ``on_new`` gets the JSON of the alerts that were new (they are in the webhook's outbox
    when one is set: SENTISTREAM_ALERT_WEBHOOK_URL). Raises
    ``RedisError`` when Redis fails it: the caller checks the same changes again later (storing
    is idempotent per alert id, so a check that got halfway cannot store an alert twice)."""
    touched = touched_minutes(changes)
    if not touched:
        return 0
    keys = KeyScheme(settings.redis_prefix)
    alerts = await evaluate(client, keys, _rules(settings), touched, time.time(), cache)
    if not alerts:
        return 0
    alerts = await explained(client, keys, settings, alerts)
    outbox = settings.alert_webhook_queue if settings.alert_webhook_url else 0
    new = await save_new_alerts(client, keys, alerts, settings.alert_keep,
                                settings.live_maxlen, outbox)
    if new:
        log.info("%d new alert(s) among %s", len(new), ", ".join(a.id for a in alerts))
        if on_new is not None:
            on_new(new)
    return len(new)


async def explained(client: aioredis.Redis, keys: KeyScheme, settings: Settings,
                    alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts, those not yet stored carrying their drivers and example posts: the hour up
    to the alert's minute against the brand's baseline (``stream.drivers.why``). A detected
    alert is seen again on every check of its minute; only a new one pays for the drivers. A
    failure leaves the alert without drivers rather than losing it."""
    stored = await client.hmget(keys.alerts, [a.id for a in alerts])
    cache: dict[tuple[str, int], Any] = {}
    out = []
    for alert, old in zip(alerts, stored, strict=True):
        if old is None:
            place = (alert.brand, alert.bucket)
            try:
                if place not in cache:
                    cache[place] = await explain(
                        client, keys, alert.brand, alert.bucket + MINUTE, RESOLUTIONS["h"],
                        settings.why_baseline_days, ALERT_TERMS)
                alert = dataclasses.replace(alert, context=for_alert(alert.kind, cache[place]))
            except Exception as exc:  # drivers are a bonus: the alert itself must not be lost
                log.warning("alert %s stored without drivers: %s", alert.id, exc)
        out.append(alert)
    return out


class BackgroundAlerts:
    """Coalesces the batches' changes and checks them in one background task at a time.

    Alerts are idempotent per (brand, kind, minute) and best effort (see the module docstring),
    so merging batches and dropping a pending check at shutdown can neither duplicate nor
    falsify one; the aggregates themselves never wait for it.
    """

    def __init__(self, client: aioredis.Redis, settings: Settings,
                 stages: StageClock | None = None) -> None:
        self.client = client
        self.stages = stages
        self.settings = settings
        _rules(settings)  # a bad rule stops the worker now, not as a warning on every check
        webhook = WebhookConfig.from_settings(settings)
        self.webhook = (AlertOutbox(client, KeyScheme(settings.redis_prefix),
                                    WebhookSender(webhook)) if webhook is not None else None)
        self._pending: dict[str, set[int]] = {}
        self.baselines = BaselineCache()
        self._task: asyncio.Task[None] | None = None

    def submit(self, changes: Mapping[str, BrandChange]) -> None:
        """A batch's applied changes: their minutes are checked within CHECK_INTERVAL_S."""
        for brand, change in changes.items():  # every minute written, not only those judged
            self.baselines.forget(brand, change.minutes)
        self._keep(touched_minutes(changes))
        if self.webhook is not None:  # another worker's alerts, if it stopped before posting
            self.webhook.poll()
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._drain())

    def _keep(self, touched: Mapping[str, Iterable[int]]) -> None:
        """Add minutes to the next check's. Per brand only the newest MAX_MINUTES_PER_BRAND,
        which are all a check judges: between two checks, or through an outage, what waits is
        bounded by the brands (SENTISTREAM_MAX_BRANDS_TOTAL) times that."""
        for brand, minutes in touched.items():
            kept = self._pending.setdefault(brand, set())
            kept.update(minutes)
            if len(kept) > MAX_MINUTES_PER_BRAND:
                self._pending[brand] = set(sorted(kept)[-MAX_MINUTES_PER_BRAND:])

    async def _drain(self) -> None:
        wait = CHECK_INTERVAL_S
        while self._pending:
            started = time.monotonic()
            merged = {b: BrandChange(minutes=sorted(m)) for b, m in self._pending.items()}
            self._pending = {}
            self.baselines.begin()
            try:
                await check_alerts(self.client, self.settings, merged,
                                   self.webhook.saved if self.webhook is not None else None,
                                   self.baselines)
                if wait > CHECK_INTERVAL_S and self.webhook is not None:
                    self.webhook.look_now()  # a failed check's save may have been applied
                wait = CHECK_INTERVAL_S
                if self.stages is not None:  # not a step of a batch: its own line in /metrics
                    self.stages.add("alert_check", time.monotonic() - started)
            except RedisError as exc:  # an outage delays the alerts, never loses them
                self._keep({b: c.minutes for b, c in merged.items()})
                wait = min(2 * wait, CHECK_RETRY_MAX_S)
                log.warning("alert check failed (%s); its %d brands are checked again in %.0f s",
                            exc, len(merged), wait)
            except Exception as exc:  # never let the detector take the worker down
                log.warning("alert check failed: %s", exc)
            finally:
                self.baselines.end()
            await asyncio.sleep(max(0.0, wait - (time.monotonic() - started)))

    async def idle(self) -> None:
        """Wait for the pending checks (tests and orderly shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
