"""The key scheme: escaping is reversible and keeps every key of a brand in one cluster slot."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stream.schema.keys import KeyScheme, bucket_start, escape_brand, unescape_brand, window_buckets


@given(st.text(min_size=1, max_size=40))
def test_escape_is_reversible_and_safe(brand: str) -> None:
    escaped = escape_brand(brand)
    assert unescape_brand(escaped) == brand
    assert re.fullmatch(r"[A-Za-z0-9_.%-]+", escaped)


def hash_tag(key: str) -> str:
    start = key.index("{")
    return key[start + 1:key.index("}", start + 1)]


@given(st.text(min_size=1, max_size=20))
def test_all_keys_of_a_brand_share_one_hash_tag(brand: str) -> None:
    k = KeyScheme("ss")
    keys = [k.bucket(brand, "m", 60), k.bucket_index(brand, "h"), k.total(brand),
            k.top(brand, "pos", 3600), k.offsets(brand), k.authors(brand, "m", 60),
            k.terms(brand, "neg", "d", 0), k.examples(brand, "pos", 3600),
            k.fingerprints(brand, 3600)]
    assert {hash_tag(key) for key in keys} == {f"ss:b:{escape_brand(brand)}"}


def test_distinct_brands_never_collide() -> None:
    k = KeyScheme("ss")
    assert k.total("a:b") != k.total("a%3Ab") and k.total("A") != k.total("a")
    assert k.bucket("at&t", "m", 0) == "{ss:b:at%26t}:m:0"


def test_driver_key_names_follow_the_contract() -> None:
    k = KeyScheme("ss")
    assert k.authors("acme", "h", 3600) == "{ss:b:acme}:authors:h:3600"
    assert k.terms("acme", "neg", "d", 86400) == "{ss:b:acme}:terms:neg:d:86400"
    assert k.examples("acme", "pos", 3600) == "{ss:b:acme}:ex:pos:h:3600"
    assert k.fingerprints("acme", 7200) == "{ss:b:acme}:fp:h:7200"


def test_buckets_come_from_event_time() -> None:
    t = 1239056385.5  # 2009-04-06T22:19:45.5Z
    assert bucket_start(t, "m") == 1239056340
    assert bucket_start(t, "h") == 1239055200
    assert bucket_start(t, "d") == 1238976000
    assert bucket_start(-1, "m") == -60


def test_window_buckets_cover_the_window() -> None:
    now = 1_000_000_030.0
    minutes = window_buckets(now, 900, "m")
    assert minutes[-1] == bucket_start(now, "m") and minutes[0] <= now - 900
    assert len(minutes) == 16 and set(np.diff(minutes)) == {60}
    assert window_buckets(now, 86400, "h")[-1] == bucket_start(now, "h")
