"""Reposts: retweets, and stable fingerprints of case/whitespace/URL-normalised texts."""

from __future__ import annotations

import numpy as np
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.drivers.reposts import (
    NO_FINGERPRINT,
    fingerprint,
    fingerprints,
    is_retweet,
    mark_reposts,
    member,
    normalize,
)


def test_retweets_start_with_rt_and_a_handle() -> None:
    texts = ["RT @bob: battery died", "  rt @bob battery", "RT battery", "ART @bob: x",
             "great RT @bob", "RT@bob: x"]
    assert is_retweet(texts).tolist() == [True, True, False, False, False, False]


def test_copies_share_a_fingerprint_whatever_their_case_spacing_links_and_rt_prefix() -> None:
    copies = ["Battery died AGAIN https://t.co/abc", "battery died again http://t.co/xyz",
              "RT @bob: Battery  died\tagain", "RT @ann: RT @bob: battery died again www.x.io/1",
              "  battery died again  "]
    assert len({fingerprint(t) for t in copies}) == 1
    assert normalize(copies[3]) == "battery died again"
    assert fingerprint("battery died again!") != fingerprint("battery died again")
    assert fingerprint("https://t.co/only-a-link") == fingerprint("  ") == NO_FINGERPRINT


def test_the_fingerprint_is_stable_across_processes_and_versions() -> None:
    # XXH3-64 (seed 0) of the normalised UTF-8 text; pinned so a change to either is noticed
    # (it would make every stored fingerprint set miss for an hour).
    expected = xxhash.xxh3_64_intdigest(b"battery died again")
    assert fingerprint("RT @x: Battery DIED again") == expected == 0x85F109C103454906
    assert member(expected) == "85f109c103454906"
    assert member(1) == "0000000000000001"


hostile = st.lists(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["RT @a: x", "rt @b hi\x00there", "http://x\x00y", "A\u00a0 B", "\x00",
                     "www.x.com/a?b", "ß STRASSE", "RT @a: RT @b:", "\ud800 x",
                     # whitespace of every kind at a post's ends, next to NUL and in runs
                     " \x1c a\u3000\u3000b\x85 ", " \t\n", "", " ", "a\x00 ", " \x00b",
                     "x https://t.co/a y", "https://t.co/a",
                     # each kind of str.split whitespace, and look-alike bytes (E2 80 99)
                     "a\u1680b", "a\u2028\u2029b", "a\u202fb\u205f", "\x0bx\x0c", "a\x1d\x1eb",
                     "it\u2019s  ok", "\u200b \ufeff", "x ", " x", "a  b", "a b c"])),
                 max_size=20)


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_a_batch_gives_each_text_its_own_fingerprint(texts: list[str]) -> None:
    got = fingerprints(texts)
    assert got.dtype == np.uint64 and len(got) == len(texts)
    assert got.tolist() == [fingerprint(t) for t in texts]
    assert fingerprints(texts, is_retweet(texts)).tolist() == got.tolist()


def test_a_nul_before_a_retweet_prefix_gives_one_fingerprint_either_way() -> None:
    # The per-text fingerprint replaced NUL before stripping "RT @user:", the batch after:
    # "\x00RT @x: foo" came out as "foo" one way and "rt @x: foo" the other.
    for text in ["\x00RT @x: foo", " \x00 RT @x: foo", "RT @x\x00: foo", "\x00rt @y bar"]:
        assert fingerprint(text) == fingerprints([text])[0] == fingerprints([text, "a"])[0]


def test_reposts_are_retweets_and_later_copies_and_the_set_is_capped() -> None:
    texts = ["battery died", "Battery died!", "RT @a: something new", "battery  DIED",
             "screen cracked", "something new", "screen cracked", "another"]
    rt, fps = is_retweet(texts), fingerprints(texts)
    seen: set[int] = set()
    assert mark_reposts(rt, fps, seen).tolist() == [False, False, True, True, False, True,
                                                    True, False]
    assert len(seen) == 5
    # A second batch of the same hour: a text seen in the first is a copy now.
    assert mark_reposts(is_retweet(["another"]), fingerprints(["another"]), seen).tolist() == \
        [True]
    # With room for 2 fingerprints only, later texts are not remembered: their copies count
    # as originals (an undercount, never a double count).
    small: set[int] = set()
    assert mark_reposts(rt, fps, small, cap=2).tolist() == [False, False, True, True, False,
                                                            False, False, False]
    assert len(small) == 2


def test_every_kind_of_whitespace_is_evened_out_in_a_batch() -> None:
    # The batch finds the posts to even out by their bytes: every character str.split takes for
    # whitespace must be found, between words, at the ends and in runs.
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    assert len(spaces) == 29
    texts = [t for c in spaces for t in (f"a{c}b", f"{c}a", f"a{c}", f"a {c}b", f"a{c}{c}b")]
    assert fingerprints(texts).tolist() == [fingerprint(t) for t in texts]
    assert len({fingerprint(f"a{c}b") for c in spaces}) == 1
