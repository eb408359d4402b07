"""Alerts in Redis: written once per (brand, kind, bucket) and announced live (readers list them
with ``stream.readers.query.alerts``).

The alert hash, its index and the live stream share the hash tag ``{<prefix>}``, so one script
writes the alert and announces it atomically, and only when the alert is new: a redelivered batch
or a second worker that sees the same bucket finds the id taken and announces nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from stream.schema.keys import KeyScheme
from stream.schema.live import Announcement
from stream.worker.alerts.detector import Alert

# KEYS: alerts hash, alerts index, live stream (= live channel name).
# ARGV: keep, live maxlen, announcement JSON prefix, then (id, score, json) per alert.
# The announcement carries an empty "brands" map, so readers of bucket changes see nothing new.
SAVE_LUA = """
local new = {}
for i = 4, #ARGV, 3 do
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
if #new > 0 then
  local payload = ARGV[3] .. table.concat(new, ',') .. ']}'
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'data', payload)
  redis.call('PUBLISH', KEYS[3], payload)
end
return new
"""


async def save_alerts(client: aioredis.Redis, keys: KeyScheme, alerts: Sequence[Alert],
                      keep: int, live_maxlen: int) -> int:
    """Store the alerts that are new and announce them; returns how many were new."""
    return len(await save_new_alerts(client, keys, alerts, keep, live_maxlen))


async def save_new_alerts(client: aioredis.Redis, keys: KeyScheme, alerts: Sequence[Alert],
                          keep: int, live_maxlen: int) -> list[dict[str, Any]]:
    """Store the alerts that are new and announce them; returns the new ones' JSON (what the
    webhook sends: only this call saw them new, so a second worker never sends them again)."""
    if not alerts:
        return []
    # The live announcement (stream.schema.live) with its alerts spliced in by the script.
    head = Announcement(at=time.time()).to_bytes().decode()[:-1] + ',"alerts":['
    args: list[Any] = [keep, live_maxlen, head]
    for alert in alerts:
        args.extend((alert.id, alert.bucket, json.dumps(alert.to_json())))
    script = client.register_script(SAVE_LUA)
    new = await script(keys=[keys.alerts, keys.alerts_index, keys.live], args=args)
    return [json.loads(item) for item in new]
