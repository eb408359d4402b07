"""Top-N brands of a window from the ranking sets the worker keeps (``KeyScheme.rank``).

One script call, in the slot of ``_all``'s hash tag where every ranking set lives, sums the
window's per-bucket sets into a scratch set, reads one page of it and deletes it again, so a
read never leaves keys behind and two reads never see each other's scratch set (scripts are
atomic). Its cost grows with the brands that have posts in the window, never with every brand
ever seen, and the sum runs inside Redis: no brand crosses the network unless it is on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream.readers.query.params import Window
from stream.schema.keys import KeyScheme, window_buckets
from stream.scripts import LuaScript

# KEYS[1] = scratch set, KEYS[2..] = the window's ranking sets. ARGV = offset, limit.
# Weights of -1 make the busiest brand the lowest score, so ZRANGE's ascending order is
# (volume desc, brand asc): the order the brand table always had.
PAGE_LUA = """
local union = {'ZUNIONSTORE', KEYS[1], #KEYS - 1}
for i = 2, #KEYS do union[#union + 1] = KEYS[i] end
union[#union + 1] = 'WEIGHTS'
for i = 2, #KEYS do union[#union + 1] = -1 end
local total = redis.call(unpack(union))
local page = {}
local limit = tonumber(ARGV[2])
if limit > 0 and total > 0 then
  local first = tonumber(ARGV[1])
  page = redis.call('ZRANGE', KEYS[1], first, first + limit - 1, 'WITHSCORES')
end
redis.call('DEL', KEYS[1])
return {total, page}
"""
PAGE_SCRIPT = LuaScript(PAGE_LUA)


@dataclass(frozen=True)
class RankedPage:
    """Brands with posts in a window: how many in all, and one page of (brand, posts)."""

    total: int
    volumes: list[tuple[str, int]]


def queue_page(pipe: Any, keys: KeyScheme, window: Window, end: float, offset: int,
               limit: int) -> None:
    """Queue the page script in a pipeline (``limit=0`` only counts the brands)."""
    starts = window_buckets(end, window.seconds, window.resolution)
    PAGE_SCRIPT.queue(pipe, [keys.rank_scratch(window.resolution),
                             *(keys.rank(window.resolution, s) for s in starts)],
                      [str(offset), str(limit)])


def parse_page(reply: Any) -> RankedPage:
    total, flat = reply
    pairs = [(_text(flat[i]), -int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]
    return RankedPage(int(total), pairs)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
