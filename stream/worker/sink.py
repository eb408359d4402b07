"""The Redis sink: applies a batch's increments exactly once, in one round trip.

Each (brand, partition) group of a batch is one call of ``APPLY_LUA``, atomic in the brand's slot:
it compares the group's Kafka offset range with the last offset applied to that brand from that
partition (stored in the same slot) and

* skips the group when everything in it was applied before (a redelivery),
* applies the increments and stores the new offset when nothing in it was,
* answers "partial" otherwise; the caller then drops the records at or below the stored offset,
  recomputes the group and sends it again.

All the groups of a batch are pipelined into one round trip; with
SENTISTREAM_WRITE_TRANSACTION, one MULTI/EXEC on a single Redis (readers see a batch whole; one
fsync per batch under ``appendfsync always``; a fresh batch's announcement inside,
``apply_announcing``). A lost connection, a timeout or a restarted Redis (which forgets loaded
scripts) only makes the caller retry the whole batch, which the offsets make harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sentistream.settings import Settings
from stream.cluster import is_cluster
from stream.errors import RedisFullError, ScriptError
from stream.schema.counts import BucketCounts
from stream.schema.keys import (
    ALL_BRANDS,
    BUCKET_FIELDS,
    MENTIONS_FIELD,
    RESOLUTIONS,
    KeyScheme,
    brand_ttl_s,
    index_keep,
)
from stream.schema.live import Announcement
from stream.scripts import LuaScript, run_pipeline
from stream.worker.aggregates import GroupDelta
from stream.worker.driver_deltas import DriverLimits, driver_ops

APPLIED, SKIPPED, PARTIAL = 0, 1, 2
# A batch of a brand flood (SENTISTREAM_MAX_BRANDS_PER_POST brands x 2,048 posts) is ~20,000
# group calls: in one round trip, Redis took longer than the socket timeout on this machine, and
# every retry the same, which would stall the partition. Chunks keep each answer prompt.
CALLS_PER_ROUND_TRIP = 1000
SOCKET_TIMEOUT_S = 10.0  # a Redis that answers nothing for this long counts as a failed write

# KEYS[1] = offsets hash, KEYS[2..] = the keys the ops name by index.
# ARGV = offsets field, min offset, max offset, JSON list of ops (numbers as strings, so nothing
# is rounded by Lua's doubles), expiry of the offsets hash (optional, 0 = none). Ops:
#   {"h", k, ttl, field, incr, ...}            HINCRBY each field, then EXPIRE when ttl > 0
#   {"i", k, ttl, keep, start, ...}            bucket index: ZADD start start, keep the newest
#   {"t", k, ttl, keep, sign, score, member, ...}  top set: ZADD, keep the `keep` best
#   {"z", k, ttl, incr, member, ...}           brand ranking: ZINCRBY each member
#   {"a", k, ttl, also, member, ...}           unique authors: PFADD the members to k and to
#                                              each {k, ttl} of the list `also`
#   {"s", k, ttl, keep, term, incr, ...}       driver terms: weighted Space-Saving top-K, the
#                                              increments largest first (merge_top_k's order)
#   {"l", k, ttl, keep, member, ...}           example posts: LPUSH oldest first, LTRIM to keep
#   {"r", k, 0, cap, fp ttl, profiles, fps, rts, profile of each post, ie6 of each post}
#        reposts, post by post in offset order (stream/worker/driver_deltas.py builds it): a post is
#        a repost when it is a retweet (rts: "1"/"0" per post) or its fingerprint (fps: 16 hex
#        digits per post, zeros = none) is in its hour's set or the previous hour's; new
#        fingerprints are added while the hour's set holds fewer than cap. A profile is {minute
#        bucket, hour bucket, day bucket, hour set, previous hour set (key indexes), class
#        (2, 3, 4 = neg, neu, pos; 6 = none)}; reposts are summed into REPOST_FIELDS of its
#        buckets and of KEYS[k] (the total).
APPLY_LUA = """
-- Reposts (op r), post by post in offset order, with one SMISMEMBER per set for every
-- fingerprint it is asked about (before any write) and one SADD per set at the end: the loop
-- tracks its own additions, so each post sees what a SADD/SISMEMBER per post would have seen.
local function reposts(op)
  local cap, profiles, fps, rts = tonumber(op[4]), op[6], op[7], op[8]
  local of, ie6, n = op[9], op[10], #op[9]
  local zero = '0000000000000000'
  -- Each profile's two sets once, and each post's fingerprint once (false: none): the loops
  -- below then do no tonumber or string.sub per post.
  local pset, pprev, fpl = {}, {}, {}
  for pi, p in ipairs(profiles) do
    pset[pi], pprev[pi] = KEYS[tonumber(p[4])], KEYS[tonumber(p[5])]
  end
  local asked, member, card, adds, touched, sets = {}, {}, {}, {}, {}, {}
  local function ask(set, fp)  -- once per (set, fingerprint), in first-asked order
    local a = asked[set]
    if a == nil then
      a = {list = {}, seen = {}}
      asked[set] = a
    end
    if not a.seen[fp] then
      a.seen[fp] = true
      a.list[#a.list + 1] = fp
    end
  end
  for i = 1, n do
    local fp = string.sub(fps, 16 * i - 15, 16 * i)
    if fp ~= zero then
      fpl[i] = fp
      local pi = of[i] + 1
      ask(pset[pi], fp)
      ask(pprev[pi], fp)
    else
      fpl[i] = false
    end
  end
  for set, a in pairs(asked) do
    local m = {}
    for i = 1, #a.list, 4096 do
      local last = math.min(i + 4095, #a.list)
      local r = redis.call('SMISMEMBER', set, unpack(a.list, i, last))
      for j = 1, #r do
        if r[j] == 1 then m[a.list[i + j - 1]] = true end
      end
    end
    member[set] = m
  end
  local count, isum = {}, {}  -- per profile: reposts, intensity sum
  for i = 1, n do
    local pi = of[i] + 1
    local fp = fpl[i]
    local copy = string.byte(rts, i) == 49
    if fp then
      local set = pset[pi]
      if not touched[set] then
        touched[set] = true
        sets[#sets + 1] = set
      end
      local in_set = member[set]
      if in_set[fp] then
        copy = true
      else
        if card[set] == nil then card[set] = redis.call('SCARD', set) end
        if card[set] < cap then
          in_set[fp] = true
          card[set] = card[set] + 1
          local add = adds[set]
          if add == nil then
            add = {}
            adds[set] = add
          end
          add[#add + 1] = fp
        end
        if member[pprev[pi]][fp] then copy = true end
      end
    end
    if copy then
      count[pi] = (count[pi] or 0) + 1
      isum[pi] = (isum[pi] or 0) + ie6[i]
    end
  end
  for set, add in pairs(adds) do
    for i = 1, #add, 4096 do redis.call('SADD', set, unpack(add, i, math.min(i + 4095, #add))) end
  end
  local sums = {}
  for pi, c in pairs(count) do
    local p = profiles[pi]
    local label = tonumber(p[6])
    for _, b in ipairs({tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), tonumber(op[2])}) do
      local s = sums[b] or {0, 0, 0, 0, 0, 0}
      s[1] = s[1] + c
      s[label] = s[label] + c
      s[5] = s[5] + isum[pi]
      sums[b] = s
    end
  end
  for b, s in pairs(sums) do
    for f, name in ipairs({'reposts', 'rp_neg', 'rp_neu', 'rp_pos', 'rp_isum_e6'}) do
      if s[f] ~= 0 then redis.call('HINCRBY', KEYS[b], name, string.format('%.0f', s[f])) end
    end
  end
  for _, set in ipairs(sets) do redis.call('EXPIRE', set, op[5]) end
end

local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if stored >= tonumber(ARGV[3]) then return {1, stored} end
if stored >= tonumber(ARGV[2]) then return {2, stored} end
-- Every number handed to redis.call is a string where it costs nothing: Redis formats a Lua
-- number argument with snprintf("%.17g") (~2,300 instructions; ~12 a post: the TTLs, the term
-- increments, the trims' ranks), the string is passed as it is. The trims' ranks are made once
-- per call (`below` = -(keep + 1)). Redis's instructions per post -1.1% (issue 14, s11r).
local below, upto = {}, {}
local function below_of(keep)
  local b = below[keep]
  if b == nil then
    b = tostring(-(tonumber(keep) + 1))
    below[keep] = b
  end
  return b
end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  local kind, key, ttl = op[1], KEYS[tonumber(op[2])], op[3]
  if kind == 'h' then
    for i = 4, #op, 2 do redis.call('HINCRBY', key, op[i], op[i + 1]) end
  elseif kind == 'i' then
    for i = 5, #op do redis.call('ZADD', key, op[i], op[i]) end
    if tonumber(op[4]) > 0 then redis.call('ZREMRANGEBYRANK', key, '0', below_of(op[4])) end
  elseif kind == 'z' then
    for i = 4, #op, 2 do redis.call('ZINCRBY', key, op[i], op[i + 1]) end
  elseif kind == 'a' then
    local also = op[4]
    for i = 5, #op, 512 do
      local last = math.min(i + 511, #op)
      redis.call('PFADD', key, unpack(op, i, last))
      for _, t in ipairs(also) do redis.call('PFADD', KEYS[tonumber(t[1])], unpack(op, i, last)) end
    end
    for _, t in ipairs(also) do
      if tonumber(t[2]) > 0 then redis.call('EXPIRE', KEYS[tonumber(t[1])], t[2]) end
    end
  elseif kind == 'l' then
    for i = 5, #op, 512 do redis.call('LPUSH', key, unpack(op, i, math.min(i + 511, #op))) end
    local l = upto[op[4]]
    if l == nil then
      l = tostring(tonumber(op[4]) - 1)
      upto[op[4]] = l
    end
    redis.call('LTRIM', key, '0', l)
  elseif kind == 's' then
    local keep, card = tonumber(op[4]), redis.call('ZCARD', key)
    for i = 5, #op, 2 do
      local term, incr = op[i], op[i + 1]
      if redis.call('ZADD', key, 'XX', 'INCR', incr, term) then
        -- kept already: incremented in the same call
      elseif card < keep then
        redis.call('ZADD', key, incr, term)
        card = card + 1
      else  -- ZPOPMIN: the smallest score, ties the smallest member (the set's own order)
        local low = redis.call('ZPOPMIN', key)
        redis.call('ZADD', key, tonumber(low[2]) + tonumber(incr), term)
      end
    end
  elseif kind == 'r' then
    reposts(op)
  elseif kind == 't' then
    for i = 6, #op, 2 do redis.call('ZADD', key, op[i], op[i + 1]) end
    if op[5] == '1' then
      redis.call('ZREMRANGEBYRANK', key, '0', below_of(op[4]))
    else
      redis.call('ZREMRANGEBYRANK', key, op[4], '-1')
    end
  end
  if tonumber(ttl) > 0 then redis.call('EXPIRE', key, ttl) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if tonumber(ARGV[5] or '0') > 0 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
return {0, tonumber(ARGV[3])}
"""
APPLY_SCRIPT = LuaScript(APPLY_LUA)

# A fresh batch's live announcement, in the same transaction as its writes and before them:
# published only when none of its groups was applied before (each stored offset below the
# group's first), so that every group is about to be applied and the announcement is exactly
# what ``APPLY_LUA`` will add. A redelivery publishes nothing here; its caller announces what
# was applied. KEYS[1] = live stream (= channel), KEYS[2..] = each group's offsets hash.
# ARGV = live maxlen, payload, then each group's offsets field and first offset.
ANNOUNCE_IF_FRESH_LUA = """
for i = 2, #KEYS do
  local stored = tonumber(redis.call('HGET', KEYS[i], ARGV[2 * i - 1]) or '-1')
  if stored >= tonumber(ARGV[2 * i]) then return 0 end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[2])
return 1
"""
ANNOUNCE_IF_FRESH_SCRIPT = LuaScript(ANNOUNCE_IF_FRESH_LUA)

# The brand index, bounded. KEYS[1] = brand index, KEYS[2] = last-write times. ARGV = most brands
# (``_all`` not counted), force ("1": add even beyond the limit, for brands whose data is being
# written anyway), now, idle expiry (0 = no sweep), then brand, score pairs. Sweeps a bounded
# number of brands silent longer than the idle expiry (their keys have expired), then adds or
# refreshes each brand; answers {brands in the index, refused brand...}.
REGISTER_LUA = """
local limit, force = tonumber(ARGV[1]), ARGV[2] == '1'
local now, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
if idle > 0 then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - idle), 'LIMIT', 0, 256)
  for _, brand in ipairs(gone) do
    redis.call('ZREM', KEYS[1], brand)
    redis.call('ZREM', KEYS[2], brand)
  end
end
local count = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], '_all') then count = count - 1 end
local out = {0}
for i = 5, #ARGV, 2 do
  local brand, score = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', KEYS[1], brand) then
    redis.call('ZADD', KEYS[1], 'GT', score, brand)
    redis.call('ZADD', KEYS[2], now, brand)
  elseif brand == '_all' or force or count < limit then
    redis.call('ZADD', KEYS[1], score, brand)
    redis.call('ZADD', KEYS[2], now, brand)
    if brand ~= '_all' then count = count + 1 end
  else
    out[#out + 1] = brand
  end
end
out[1] = count
return out
"""
REGISTER_SCRIPT = LuaScript(REGISTER_LUA)


@dataclass(frozen=True)
class Call:
    """One script call: a group's keys and arguments."""

    keys: list[str]
    args: list[str]


@dataclass(frozen=True)
class Outcome:
    status: int  # APPLIED, SKIPPED or PARTIAL
    stored_offset: int


class CallBuilder:
    """Turns increments into script calls, with the retention of each resolution."""

    def __init__(self, settings: Settings) -> None:
        self.keys = KeyScheme(settings.redis_prefix)
        self.ttl = {"m": settings.retention_minute_s, "h": settings.retention_hour_s,
                    "d": settings.retention_day_s}
        self.brand_ttl = brand_ttl_s(self.ttl)
        self.keep = {res: index_keep(ttl, res) for res, ttl in self.ttl.items()}
        self.top_k = settings.top_posts
        self.drivers = DriverLimits(
            settings.driver_terms_hour,
            settings.driver_examples, settings.driver_fingerprints, self.ttl, self.brand_ttl)
        # The numbers every call repeats, as the strings the script takes: once, not per group.
        self._ttl_text = {res: str(ttl) for res, ttl in self.ttl.items()}
        self._index_ttl_text = {res: str(ttl or self.brand_ttl) for res, ttl in self.ttl.items()}
        self._keep_text = {res: str(keep) for res, keep in self.keep.items()}
        self._brand_ttl_text, self._top_k_text = str(self.brand_ttl), str(self.top_k)

    def group_call(self, topic: str, delta: GroupDelta) -> Call:
        k = self.keys
        brand, ttl = delta.brand, self._ttl_text
        keys = [k.offsets(brand)]
        named: dict[str, str] = {}

        def ref(key: str) -> str:  # each key once: the driver ops name the buckets again
            found = named.get(key)
            if found is None:
                keys.append(key)
                found = named[key] = str(len(keys))
            return found

        ops: list[list[Any]] = [["h", ref(k.total(brand)), self._brand_ttl_text,
                                 *_flat_counts(delta.total)]]
        starts: dict[str, list[str]] = {res: [] for res in RESOLUTIONS}
        mentions = brand == ALL_BRANDS
        languages = delta.languages
        for bucket, agg in sorted(delta.buckets.items()):
            res, start = bucket
            fields = _flat_counts(agg)
            if mentions:  # the _all group's brand mentions (zero: left out, as every field)
                n = delta.mentions(bucket)
                if n:
                    fields += (MENTIONS_FIELD, str(n))
            ops.append(["h", ref(k.bucket(brand, res, start)), ttl[res], *fields,
                        *languages.get(bucket, ())])
            starts[res].append(str(start))
        for (res, start), volumes in sorted(delta.ranks.items()):
            ops.append(["z", ref(k.rank(res, start)), ttl[res],
                        *(x for name, n in sorted(volumes.items()) for x in (str(n), name))])
        for res, values in starts.items():
            if values:
                ops.append(["i", ref(k.bucket_index(brand, res)), self._index_ttl_text[res],
                            self._keep_text[res], *values])
        tops: dict[tuple[str, int], list[str]] = {}
        for c in delta.top:
            tops.setdefault((c.polarity, c.hour), []).extend((repr(c.score), c.member))
        for (polarity, hour), pairs in sorted(tops.items()):
            ops.append(["t", ref(k.top(brand, polarity, hour)), ttl["h"], self._top_k_text,
                        "1" if polarity == "pos" else "0", *pairs])
        ops += driver_ops(delta, k, ref, self.drivers)
        return Call(keys, [f"{topic}:{delta.partition}", str(delta.min_offset),
                           str(delta.max_offset), _ops_json(ops), self._brand_ttl_text])

    def dead_letter_call(self, topic: str, partition: int, min_offset: int, max_offset: int,
                         reasons: dict[str, int]) -> Call:
        k = self.keys
        ops = [["h", "2", "0", *_flat(reasons)]]
        return Call([k.dead_letter_offsets, k.dead_letters],
                    [f"{topic}:{partition}", str(min_offset), str(max_offset), _ops_json(ops)])


def _ops_json(ops: Sequence[Sequence[Any]]) -> str:
    """The ops as JSON for the script's cjson.decode: orjson, ~4x faster than json.dumps on the
    top-post members (themselves JSON, so full of escapes); every value is a valid str."""
    return orjson.dumps(ops).decode("utf-8")


def _flat(fields: dict[str, int]) -> list[str]:
    return [x for name, value in fields.items() if value for x in (name, str(value))]


def _flat_counts(counts: BucketCounts) -> list[str]:
    """``_flat(counts.fields())`` without the dict: name, value of each non-zero field."""
    return [x for name, value in zip(BUCKET_FIELDS, counts.as_tuple(), strict=True) if value
            for x in (name, str(value))]


class RedisSink:
    """Runs script calls (one pipeline per batch) plus the idempotent index and announcements.

    Works with a single Redis and with Redis Cluster (detected at start-up): every script call
    names only keys of one brand's hash tag, so the cluster pipeline routes each call to the node
    of that slot and the round trips to the nodes run in parallel.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeyScheme(settings.redis_prefix)
        self.brand_ttl = CallBuilder(settings).brand_ttl
        options: dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT_S,
                                   "socket_connect_timeout": 5}
        self.cluster = is_cluster(settings.redis_url)
        # A cluster's pipeline spans slots: no MULTI/EXEC there (SENTISTREAM_WRITE_TRANSACTION)
        self.transaction = bool(settings.write_transaction) and not self.cluster
        self.client: Any = self._connect(options)
        # The batch writes' own client: redis-py arms a timer per reply read (asyncio.timeout),
        # ~9% of the worker's main thread with TweetEval's ~100-150 calls per batch (py-spy,
        # README "Throughput of one worker"); one timer per round trip bounds it instead.
        self._apply_client: Any = self._connect({**options, "socket_timeout": None})

    def _connect(self, options: dict[str, Any]) -> Any:
        url = self.settings.redis_url
        return (RedisCluster.from_url(url, **options) if self.cluster
                else aioredis.Redis.from_url(url, **options))

    async def ping(self) -> None:
        await self.client.ping()

    def _register_args(self, brands: dict[str, float], force: bool) -> tuple[list[str], list[str]]:
        now = time.time()
        # A post dated ahead must not leave its brand "last seen" in the future for good.
        pairs = [x for brand, seen in brands.items() for x in (brand, repr(min(seen, now)))]
        return ([self.keys.brands, self.keys.brands_written],
                [str(self.settings.max_brands_total), "1" if force else "0", repr(now),
                 str(self.brand_ttl), *pairs])

    async def admit(self, brands: dict[str, float]) -> tuple[int, set[str]]:
        """Add new brands to the index while it holds fewer than SENTISTREAM_MAX_BRANDS_TOTAL;
        returns the brands in the index and the refused brands. Atomic in the index's slot,
        so concurrent workers never take it past the limit."""
        keys, args = self._register_args(brands, force=False)
        reply = (await run_pipeline(self.client, [REGISTER_SCRIPT],
                                    lambda pipe: REGISTER_SCRIPT.queue(pipe, keys, args)))[0]
        if isinstance(reply, OutOfMemoryError):  # a full Redis refuses new brands too
            raise _redis_full(reply)
        if isinstance(reply, Exception):
            raise reply
        return int(reply[0]), {b.decode("utf-8") for b in reply[1:]}

    async def apply(self, calls: Sequence[Call], brands_seen: dict[str, float]) -> list[Outcome]:
        """Run every call, in one round trip per CALLS_PER_ROUND_TRIP calls (one for a normal
        batch); raises RedisError when Redis is not reachable."""
        return (await self.apply_announcing(calls, brands_seen, None, 0))[0]

    async def apply_announcing(self, calls: Sequence[Call], brands_seen: dict[str, float],
                               announcement: Announcement | None, groups: int
                               ) -> tuple[list[Outcome], bool]:
        """``apply``, with ``announcement`` (that of the first ``groups`` calls all applied)
        published in the same transaction when none of those groups was applied before
        (SENTISTREAM_WRITE_TRANSACTION, a single Redis and one round trip only); returns the
        outcomes and whether it was. Saves the announcement's own round trip and fsync, and
        readers see counts and announcement together."""
        announce = None
        if announcement is not None and self.transaction and len(calls) <= CALLS_PER_ROUND_TRIP:
            heads = calls[:groups]
            announce = ([self.keys.live, *(c.keys[0] for c in heads)],
                        [str(self.settings.live_maxlen), announcement.to_bytes(),
                         *(a for c in heads for a in (c.args[0], c.args[1]))])
        outcomes: list[Outcome] = []
        announced = False
        for start in range(0, max(len(calls), 1), CALLS_PER_ROUND_TRIP):
            chunk, announced = await self._apply_chunk(
                calls[start:start + CALLS_PER_ROUND_TRIP], brands_seen if start == 0 else {},
                announce)
            outcomes += chunk
        return outcomes, announced

    async def _apply_chunk(self, calls: Sequence[Call], brands_seen: dict[str, float],
                           announce: tuple[list[str], list[Any]] | None
                           ) -> tuple[list[Outcome], bool]:
        register = self._register_args(brands_seen, force=True) if brands_seen else None

        def queue(pipe: Any) -> None:
            if register:
                # Before the scripts: a crash in between leaves a listed brand with no data
                # yet, never data missing from the index. Idempotent (ZADD GT, event times).
                REGISTER_SCRIPT.queue(pipe, *register)
            if announce:  # before the scripts, which move the offsets it compares
                ANNOUNCE_IF_FRESH_SCRIPT.queue(pipe, *announce)
            for call in calls:
                APPLY_SCRIPT.queue(pipe, call.keys, call.args)

        if not register and not calls:
            return [], False
        try:
            async with asyncio.timeout(SOCKET_TIMEOUT_S):  # the whole round trip, as one read
                # With SENTISTREAM_WRITE_TRANSACTION, one MULTI/EXEC: Redis reads a pipeline 16
                # KB at a time and, under appendfsync always, fsyncs after each piece that wrote
                # (3.9 fsyncs a 50-post batch against 1.2: ops/bench/batch_write.py), and
                # readers see the batch half applied in between.
                # All three are loaded together, even with no announcement in this batch: a later
                # batch's announcement missing from Redis's script cache would fail alone inside
                # the transaction, after its writes had run, and the retry would find them
                # applied and announce nothing (tests/stream/test_sink.py).
                results = await run_pipeline(
                    self._apply_client, [REGISTER_SCRIPT, ANNOUNCE_IF_FRESH_SCRIPT, APPLY_SCRIPT],
                    queue, transaction=self.transaction)
        except TimeoutError as exc:  # redis-py disconnects a read it was cancelled in
            raise RedisTimeoutError(f"Redis did not answer a batch's writes within "
                                    f"{SOCKET_TIMEOUT_S:.0f} s") from exc
        except OutOfMemoryError as exc:  # a transaction Redis refused whole
            raise _redis_full(exc) from exc
        for r in results:
            if isinstance(r, RedisError):
                if isinstance(r, RedisConnectionError | RedisTimeoutError) or _transient(r):
                    raise r
                if isinstance(r, OutOfMemoryError):  # scripts fail before their first write
                    raise _redis_full(r)
                raise ScriptError(f"the apply script failed: {r}")
        heads = (1 if register else 0) + (1 if announce else 0)
        announced = bool(announce) and int(results[heads - 1]) == 1
        return [Outcome(int(r[0]), int(r[1])) for r in results[heads:]], announced

    async def announce(self, announcement: Announcement) -> None:
        """Tell live readers what was just applied (a hint to re-read, not a ledger); the
        announcement is built, bounded, by ``stream.worker.pipeline.announcement``."""
        payload = announcement.to_bytes()
        # One round trip for both (the same key, so one slot on a cluster too).
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(self.keys.live, {"data": payload}, maxlen=self.settings.live_maxlen,
                  approximate=True)
        pipe.publish(self.keys.live, payload)
        await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
        await self._apply_client.aclose()


def _redis_full(error: OutOfMemoryError) -> RedisFullError:
    return RedisFullError(
        f"Redis is full ({error}): this batch waits and is retried; free memory, shorten "
        "retention or raise maxmemory (SENTISTREAM_REDIS_MAXMEMORY for the local Redis)")


def _transient(error: RedisError) -> bool:
    text = str(error)
    return text.startswith(("LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"))
