"""The driver ops of APPLY_LUA on the real Redis, against their Python references.

Space-Saving top-K must keep exactly what ``fightin_words.merge_top_k`` keeps (random Zipf
batches); the repost op must mark exactly the posts the hourly reference marks; authors,
examples and fingerprint sets keep their bounds; a redelivered call changes nothing.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import orjson
import pytest
import redis

from sentistream.settings import Settings
from stream.drivers.fightin_words import merge_top_k
from stream.drivers.reposts import member
from stream.schema.keys import KeyScheme
from stream.worker.sink import APPLY_LUA

pytestmark = pytest.mark.integration


def run(client: redis.Redis, keys: list[str], ops: list[list[Any]], lo: int, hi: int
        ) -> list[int]:
    """One APPLY_LUA call: KEYS[1] = the offsets of the first key's brand, then ``keys`` (op
    indexes start at 2)."""
    offsets = keys[0][:keys[0].index("}") + 1] + ":offsets"
    reply = client.eval(APPLY_LUA, 1 + len(keys), offsets, *keys, "t:0", str(lo), str(hi),
                        orjson.dumps(ops).decode(), "0")
    return [int(v) for v in reply]


def zipf_batch(rng: random.Random, words: int, posts: int) -> dict[str, int]:
    weights = [1 / (r + 1) ** 1.1 for r in range(words)]
    counts: dict[str, int] = {}
    for w in rng.choices(range(words), weights, k=posts):
        term = f"w{w}é" if w % 7 == 0 else f"w{w}"  # some non-ASCII: byte order = code points
        counts[term] = counts.get(term, 0) + 1
    return counts


def stored_terms(client: redis.Redis, key: str) -> dict[str, int]:
    pairs: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return {m.decode(): int(s) for m, s in pairs}


def test_space_saving_in_lua_equals_merge_top_k(isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    key = KeyScheme(isolated.redis_prefix).terms("acme", "neg", "h", 0)
    rng = random.Random(15)
    for k in (1, 5, 32):
        client.delete(key)
        expected: dict[str, int] = {}
        for batch in range(40):
            counts = zipf_batch(rng, rng.choice((20, 300)), rng.randrange(1, 400))
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            op = ["s", "2", "0", str(k), *(x for t, n in ordered for x in (t, str(n)))]
            offset = k * 1000 + batch
            assert run(client, [key], [op], offset, offset)[0] == 0
            expected = merge_top_k(expected, counts, k)
            assert stored_terms(client, key) == expected, (k, batch)
        assert client.zcard(key) == k  # the bound


def reference_reposts(posts: list[tuple[int, bool, int]], cap: int) -> list[bool]:
    """(hour, retweet, fingerprint) in offset order -> repost? (this hour's or the previous
    hour's set; new fingerprints added while the hour's set is below ``cap``)."""
    seen: dict[int, set[int]] = {}
    out = []
    for hour, retweet, fp in posts:
        cur, prev = seen.setdefault(hour, set()), seen.get(hour - 3600, set())
        copy = fp != 0 and (fp in cur or fp in prev)
        if fp != 0 and fp not in cur and len(cur) < cap:
            cur.add(fp)
        out.append(retweet or copy)
    return out


def test_repost_op_marks_what_the_reference_marks_and_redelivery_is_a_no_op(
        isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    k = KeyScheme(isolated.redis_prefix)
    rng = random.Random(3)
    cap, n = 25, 600
    hours = [0, 3600, 7200]
    posts = [(rng.choice(hours) + rng.randrange(0, 3600, 60), rng.random() < 0.1,
              rng.choice([0, *range(1, 60)]), rng.randrange(3), rng.randrange(-10**6, 10**6))
             for _ in range(n)]
    keys: list[str] = []

    def ref(key: str) -> int:
        if key not in keys:
            keys.append(key)
        return keys.index(key) + 2

    total = ref(k.total("acme"))
    profiles: list[list[int]] = []
    of = []
    for minute, _, _, label, _ in posts:
        hour = minute // 3600 * 3600
        profile = [ref(k.bucket("acme", "m", minute)), ref(k.bucket("acme", "h", hour)),
                   ref(k.bucket("acme", "d", 0)), ref(k.fingerprints("acme", hour)),
                   ref(k.fingerprints("acme", hour - 3600)), label + 2]
        if profile not in profiles:
            profiles.append(profile)
        of.append(profiles.index(profile))
    fps = np.asarray([p[2] for p in posts], np.uint64).astype(">u8").tobytes().hex()
    rts = "".join("1" if p[1] else "0" for p in posts)

    def op(lo: int, hi: int) -> list[Any]:  # posts lo..hi-1
        return ["r", str(total), "0", str(cap), "7200", profiles, fps[16 * lo:16 * hi],
                rts[lo:hi], of[lo:hi], [p[4] for p in posts[lo:hi]]]

    half = n // 2
    assert run(client, keys, [op(0, half)], 0, half - 1)[0] == 0
    assert run(client, keys, [op(half, n)], half, n - 1)[0] == 0
    marked = reference_reposts([(m // 3600 * 3600, rt, fp) for m, rt, fp, _, _ in posts], cap)
    fields = ("reposts", "rp_neg", "rp_neu", "rp_pos", "rp_isum_e6")

    def expect(select: Any) -> dict[str, int]:
        rows = [p for p, rp in zip(posts, marked, strict=True) if rp and select(p)]
        out = {"reposts": len(rows), "rp_isum_e6": sum(p[4] for p in rows)}
        for label, name in enumerate(("rp_neg", "rp_neu", "rp_pos")):
            out[name] = sum(1 for p in rows if p[3] == label)
        return {f: v for f, v in out.items() if v}

    def read(key: str) -> dict[str, int]:
        got = client.hgetall(key)
        return {f: int(got[f.encode()]) for f in fields if f.encode() in got}

    assert sum(marked) > n // 4 and not all(marked)
    assert read(k.total("acme")) == expect(lambda p: True)
    for hour in hours:
        in_hour = expect(lambda p, h=hour: p[0] // 3600 * 3600 == h)
        assert read(k.bucket("acme", "h", hour)) == in_hour
        assert client.scard(k.fingerprints("acme", hour)) <= cap
        assert 0 < client.ttl(k.fingerprints("acme", hour)) <= 7200
        members = {m.decode() for m in client.smembers(k.fingerprints("acme", hour))  # type: ignore[union-attr]
                   }
        assert all(len(m) == 16 for m in members) and member(0) not in members
    minute = posts[0][0]
    assert read(k.bucket("acme", "m", minute)) == expect(lambda p: p[0] == minute)
    before = {key: client.dump(key) for key in keys}
    assert run(client, keys, [op(half, n)], half, n - 1)[0] == 1  # redelivered: skipped
    assert {key: client.dump(key) for key in keys} == before


def test_authors_and_examples_ops_keep_their_bounds(isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    k = KeyScheme(isolated.redis_prefix)
    authors, examples = k.authors("acme", "h", 0), k.examples("acme", "neg", 0)
    names = [f"user{i}" for i in range(1200)]  # more than one unpack() chunk
    members = [orjson.dumps({"id": f"p{i}", "text": f"t{i}"}).decode() for i in range(700)]
    ops: list[list[Any]] = [["a", "2", "3600", [], *names], ["l", "3", "3600", "64", *members]]
    assert run(client, [authors, examples], ops, 0, 9)[0] == 0
    assert abs(client.pfcount(authors) - 1200) <= 1200 * 0.02
    got = [orjson.loads(m) for m in client.lrange(examples, 0, -1)]
    assert [g["id"] for g in got] == [f"p{i}" for i in range(699, 635, -1)]  # newest first
    assert 0 < client.ttl(authors) <= 3600 and 0 < client.ttl(examples) <= 3600
    before = client.dump(authors), client.dump(examples)
    assert run(client, [authors, examples], ops, 0, 9)[0] == 1
    assert (client.dump(authors), client.dump(examples)) == before

