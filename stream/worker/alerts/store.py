"""Alerts in Redis: written once per (brand, kind, bucket) and announced live (readers list them
with ``stream.readers.query.alerts``).

The alert hash, its index and the live stream share the hash tag ``{<prefix>}``, so one script
writes the alert and announces it atomically, and only when the alert is new: a redelivered batch
or a second worker that sees the same bucket finds the id taken and announces nothing. With a
webhook set, the same script queues each new alert in the webhook's outbox stream (same tag).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from stream.schema.keys import KeyScheme
from stream.schema.live import Announcement
from stream.worker.alerts.detector import Alert

log = logging.getLogger(__name__)

# KEYS: alerts hash, alerts index, live stream (= live channel name), webhook outbox stream.
# ARGV: keep, live maxlen, announcement JSON prefix, outbox maxlen (0: no webhook), then
# (id, score, json) per alert. Returns {the new alerts' JSON, how many undelivered alerts the
# outbox dropped for them}.
# The announcement carries an empty "brands" map, so readers of bucket changes see nothing new.
SAVE_LUA = """
local new = {}
for i = 5, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
    table.insert(new, ARGV[i + 2])
  end
end
local keep = tonumber(ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - keep
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, extra - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
local dropped = 0
if #new > 0 then
  local payload = ARGV[3] .. table.concat(new, ',') .. ']}'
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'data', payload)
  redis.call('PUBLISH', KEYS[3], payload)
  local outbox = tonumber(ARGV[4])
  if outbox > 0 then
    local before = redis.call('XLEN', KEYS[4])
    for _, alert in ipairs(new) do
      redis.call('XADD', KEYS[4], 'MAXLEN', outbox, '*', 'alert', alert)
    end
    dropped = before + #new - redis.call('XLEN', KEYS[4])
  end
end
return {new, dropped}
"""


async def save_alerts(client: aioredis.Redis, keys: KeyScheme, alerts: Sequence[Alert],
                      keep: int, live_maxlen: int) -> int:
    """Store the alerts that are new and announce them; returns how many were new."""
    return len(await save_new_alerts(client, keys, alerts, keep, live_maxlen))


async def save_new_alerts(client: aioredis.Redis, keys: KeyScheme, alerts: Sequence[Alert],
                          keep: int, live_maxlen: int, outbox: int = 0) -> list[dict[str, Any]]:
    """Store the alerts that are new and announce them; returns the new ones' JSON.

    With ``outbox`` > 0 (a webhook is set) the new ones also go into the webhook's outbox
    stream, of at most that many alerts, in the same script: an alert is queued for the webhook
    exactly when it is new, even when this call's reply is lost and its retry finds it stored
    (``stream.worker.alerts.outbox``)."""
    if not alerts:
        return []
    # The live announcement (stream.schema.live) with its alerts spliced in by the script.
    head = Announcement(at=time.time()).to_bytes().decode()[:-1] + ',"alerts":['
    args: list[Any] = [keep, live_maxlen, head, outbox]
    for alert in alerts:
        args.extend((alert.id, alert.bucket, json.dumps(alert.to_json())))
    script = client.register_script(SAVE_LUA)
    new, dropped = await script(
        keys=[keys.alerts, keys.alerts_index, keys.live, keys.alert_outbox], args=args)
    if dropped:
        log.warning("alert webhook is behind: its outbox (SENTISTREAM_ALERT_WEBHOOK_QUEUE=%d) "
                    "dropped its %d oldest undelivered alert(s); they stay in `sentistream "
                    "alerts`", outbox, dropped)
    return [json.loads(item) for item in new]
