"""A window's language mix: the ``lang:xx`` post counts of many bucket hashes, summed in Redis.

The worker writes, per bucket and language, ``lang:xx`` (posts) and ``lang:xx:neg|neu|pos|
isum_e6`` (see ``stream.worker.languages``). Which languages a window holds is not known in advance,
so the script reads each hash whole and sums the ``lang:xx`` fields it finds. Bounded: at most
~210 language codes exist (the worker's detectors' sets plus "und" and "zxx").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream.scripts import LuaScript

# KEYS = bucket hashes (one slot) -> flat {field, sum, ...} of the lang:xx fields, in the order
# first seen.
LANG_SUM_LUA = """
local sums, order = {}, {}
for i = 1, #KEYS do
  local flat = redis.call('HGETALL', KEYS[i])
  for j = 1, #flat, 2 do
    local f = flat[j]
    if string.sub(f, 1, 5) == 'lang:' and not string.find(f, ':', 6, true) then
      if not sums[f] then
        sums[f] = 0
        order[#order + 1] = f
      end
      sums[f] = sums[f] + (tonumber(flat[j + 1]) or 0)
    end
  end
end
local out = {}
for _, f in ipairs(order) do
  out[#out + 1] = f
  out[#out + 1] = string.format('%d', sums[f])
end
return out
"""
LANG_SUM_SCRIPT = LuaScript(LANG_SUM_LUA)
PREFIX = "lang:"


def queue_languages(pipe: Any, keys: Sequence[str]) -> None:
    LANG_SUM_SCRIPT.queue(pipe, keys, [])


def parse_languages(reply: Any) -> dict[str, int]:
    """{code: posts}, busiest first (ties by code), without empty ones."""
    pairs = [(_text(reply[i])[len(PREFIX):], int(reply[i + 1])) for i in range(0, len(reply), 2)]
    return dict(sorted(((c, n) for c, n in pairs if n), key=lambda cn: (-cn[1], cn[0])))


def from_hash(fields: dict[Any, Any]) -> dict[str, int]:
    """{code: posts} of one bucket hash (HGETALL reply), busiest first."""
    flat = [x for name, value in fields.items() for x in (name, value)
            if _text(name).startswith(PREFIX) and _text(name).count(":") == 1]
    return parse_languages(flat)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
