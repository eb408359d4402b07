"""The demo's live table: the last 15 minutes per brand, read from the real Redis."""

from __future__ import annotations

import time

import redis

from sentistream.settings import Settings
from stream.demo import render, window_table
from stream.keys import KeyScheme, bucket_start


def test_window_table_sums_the_last_fifteen_minutes(isolated: Settings) -> None:
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    now = time.time()
    minute = bucket_start(now, "m")
    client.zadd(keys.brands, {"acme": now, "_all": now, "stale": now - 3600})
    client.hset(keys.bucket("acme", "m", minute), mapping={"n": 3, "pos": 2, "neg": 1,
                                                           "isum_e6": 900_000})
    client.hset(keys.bucket("acme", "m", minute - 600), mapping={"n": 1, "neu": 1})
    client.hset(keys.bucket("acme", "m", minute - 1200), mapping={"n": 50, "neg": 50})  # too old
    client.hset(keys.bucket("_all", "m", minute), mapping={"n": 4, "pos": 2, "neg": 1, "neu": 1})
    rows = window_table(client, keys, now)
    assert [brand for brand, _ in rows] == ["_all", "acme"]  # `stale` had no post in the window
    acme = rows[1][1]
    assert (acme.n, acme.pos, acme.neu, acme.neg, acme.isum_e6) == (4, 2, 1, 1, 900_000)
    table = render(rows)
    assert "acme" in table and "+0.25" in table  # NSS = (2 - 1) / 4
