"""APPLY_LUA's driver-term op "s" against its sequential reference, on the real Redis.

The reference is the op's definition, one Redis command per term in the order sent: ZADD XX INCR
for a kept term, else ZADD while fewer than ``keep`` are kept, else ZPOPMIN (the smallest score,
ties the smallest member by bytes) and ZADD of its score plus the increment. Whatever the script
does inside (issue 14 tried batching it: commit 73dedf6), every sequence of calls must leave
the same sorted set: hits, misses, evictions of stored terms and of terms added earlier in the
same call, a kept term evicted before its own turn, ties, non-ASCII members, a set above
``keep``, long calls.
"""

from __future__ import annotations

import random

import orjson
import pytest
import redis

from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from stream.worker.sink import APPLY_LUA

pytestmark = pytest.mark.integration
Pairs = list[tuple[str, int]]


def apply_op(client: redis.Redis, key: str, keep: int, pairs: Pairs, offset: int) -> None:
    offsets = key[:key.index("}") + 1] + ":offsets"
    op = ["s", "2", "0", str(keep), *(x for term, n in pairs for x in (term, str(n)))]
    reply = client.eval(APPLY_LUA, 2, offsets, key, "t:0", str(offset), str(offset),
                        orjson.dumps([op]).decode(), "0")
    assert int(reply[0]) == 0


def apply_sequential(client: redis.Redis, key: str, keep: int, pairs: Pairs) -> None:
    """The reference: the op's commands one term at a time, from the client."""
    card = client.zcard(key)
    for term, incr in pairs:
        if client.zadd(key, {term: incr}, xx=True, incr=True) is not None:
            continue
        if card < keep:
            client.zadd(key, {term: incr})
            card += 1
        else:
            popped: list[tuple[bytes, float]] = client.zpopmin(key)  # type: ignore[assignment]
            client.zadd(key, {term: popped[0][1] + incr})


# The same reference run inside Redis, for calls too long to send term by term.
SEQUENTIAL_LUA = """
local keep, card = tonumber(ARGV[1]), redis.call('ZCARD', KEYS[1])
for i = 2, #ARGV, 2 do
  local term, incr = ARGV[i], tonumber(ARGV[i + 1])
  if not redis.call('ZADD', KEYS[1], 'XX', 'INCR', incr, term) then
    if card < keep then
      redis.call('ZADD', KEYS[1], incr, term)
      card = card + 1
    else
      local low = redis.call('ZPOPMIN', KEYS[1])
      redis.call('ZADD', KEYS[1], tonumber(low[2]) + incr, term)
    end
  end
end
"""


def members(client: redis.Redis, key: str) -> list[tuple[bytes, float]]:
    return client.zrange(key, 0, -1, withscores=True)  # type: ignore[return-value]


@pytest.fixture
def keys(isolated: Settings) -> tuple[redis.Redis, str, str]:
    k = KeyScheme(isolated.redis_prefix)
    client = redis.Redis.from_url(isolated.redis_url)
    return client, k.terms("acme", "neg", "h", 0), k.terms("acme", "neg", "h", 3600)


def check(client: redis.Redis, script_key: str, ref_key: str, keep: int, batches: list[Pairs],
          first_offset: int = 0, in_redis: bool = False) -> None:
    for i, pairs in enumerate(batches):
        apply_op(client, script_key, keep, pairs, first_offset + i)
        if in_redis:
            client.eval(SEQUENTIAL_LUA, 1, ref_key, str(keep),
                        *(x for term, n in pairs for x in (term, str(n))))
        else:
            apply_sequential(client, ref_key, keep, pairs)
        assert members(client, script_key) == members(client, ref_key), (keep, i, pairs)


def test_evictions_within_one_call_follow_the_order_sent(
        keys: tuple[redis.Redis, str, str]) -> None:
    client, key, ref = keys
    for k in (key, ref):
        client.zadd(k, {"a": 1, "b": 1, "c": 5})
    # d evicts a (1, the smaller member of the tie); a, kept when the call began, now misses
    # and evicts b; e evicts a again (3, the smallest left), a term of this very call.
    check(client, key, ref, 3, [[("d", 4), ("a", 2), ("e", 1)]])
    assert members(client, key) == [(b"e", 4.0), (b"c", 5.0), (b"d", 5.0)]


def test_ties_go_by_bytes_and_a_set_above_keep_stays_at_its_size(
        keys: tuple[redis.Redis, str, str]) -> None:
    client, key, ref = keys
    stored = {"é": 2, "z": 2, "za": 2, "Z": 2, "zé": 2, "ab": 7}
    for k in (key, ref):
        client.zadd(k, stored)
    # keep 3 below the 6 stored (SENTISTREAM_DRIVER_TERMS_HOUR lowered): each miss evicts.
    check(client, key, ref, 3, [[("new", 1), ("z", 1), ("Z", 1), ("n2", 1)],
                                [("ab", 1), ("x", 3), ("é", 1)]])
    assert client.zcard(key) == len(stored)


def test_random_calls_leave_the_sequential_sets(keys: tuple[redis.Redis, str, str]) -> None:
    client, key, ref = keys
    rng = random.Random(14)
    vocab = ["a", "ab", "b", "ba", "Z", "z", "é", "ée", "w1", "w2", "w10", "x", "y", "€",
             "prefix", "prefix1", "prefix2", "préfixe", "préfixes"]  # 6 bytes alike
    for keep in (1, 2, 3, 5, 8, 20):
        client.delete(key, ref)
        batches = []
        for _ in range(30):
            size = rng.randrange(0, 12)
            # any order, ties everywhere, now and then a repeated term or a zero increment
            batches.append([(rng.choice(vocab), rng.choice((0, 1, 1, 1, 2, 3)))
                            for _ in range(size)])
        check(client, key, ref, keep, batches, first_offset=keep * 100)


def test_long_calls_across_the_scripts_chunks(keys: tuple[redis.Redis, str, str]) -> None:
    client, key, ref = keys
    rng = random.Random(15)
    words = [f"t{i}" for i in range(9000)]
    batches = []
    for _ in range(3):
        chosen = rng.sample(words, 5000)
        batches.append([(w, rng.randrange(1, 4)) for w in chosen])
    check(client, key, ref, 3000, batches, in_redis=True)
    assert client.zcard(key) == 3000
