"""Reposts: retweets, and stable fingerprints of a text's tokens (case, links and the retweet
prefix aside), from the texts and from the model tokenizer's rows alike."""

from __future__ import annotations

import numpy as np
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from model.scorer import SHIPPED_DIR
from model.tokenizer import Tokenizer
from stream.drivers.reposts import (
    NO_FINGERPRINT,
    RowFingerprints,
    fingerprint,
    fingerprints,
    is_retweet,
    mark_reposts,
    member,
    normal_tokens,
    retweets_and_fingerprints,
)

MASK = 2**64 - 1


def reference(tokens: list[str]) -> int:
    """The fingerprint's formula in Python integers: mix(sum of xxh3(token) * P**j, plus the
    token count * G, modulo 2**64), then SplitMix64's finaliser; 0 for no token."""
    if not tokens:
        return NO_FINGERPRINT
    total = sum((xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass")) or 1)
                * pow(0x9E3779B97F4A7C15, j, 2**64) for j, t in enumerate(tokens))
    z = (total + len(tokens) * 0xC2B2AE3D27D4EB4F) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return (z ^ (z >> 31)) or 1


def test_retweets_start_with_rt_and_a_handle() -> None:
    # Read from the tokens: "RT@bob" is the tokens "RT" and "@bob", so it counts (the regex per
    # text before 2026-12-03 wanted a space between them).
    texts = ["RT @bob: battery died", "  rt @bob battery", "RT battery", "ART @bob: x",
             "great RT @bob", "RT@bob: x", "RT @", "#RT @bob x"]
    assert is_retweet(texts).tolist() == [True, True, False, False, False, True, False, False]


def test_copies_share_a_fingerprint_whatever_their_case_spacing_links_and_rt_prefix() -> None:
    copies = ["Battery died AGAIN https://t.co/abc", "battery died again http://t.co/xyz",
              "RT @bob: Battery  died\tagain", "RT @ann: RT @bob: battery died again www.x.io/1",
              "  battery died again  ", "battery-died again", "\"Battery died again\""]
    assert len({fingerprint(t) for t in copies}) == 1
    assert normal_tokens(copies[3]) == ["battery", "died", "again"]
    assert fingerprint("battery died again!") != fingerprint("battery died again")
    assert fingerprint("https://t.co/only-a-link") == fingerprint("  ") == NO_FINGERPRINT


def test_the_fingerprint_is_stable_across_processes_and_versions() -> None:
    # Pinned so that a change to the tokens or the formula is noticed (it would make every
    # stored fingerprint set miss for an hour).
    expected = reference(["battery", "died", "again"])
    assert fingerprint("RT @x: Battery DIED again") == expected == 0x3EEC272467080B8D
    assert member(expected) == "3eec272467080b8d"
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
    retweet, got = retweets_and_fingerprints(texts)
    assert got.dtype == np.uint64 and len(got) == len(texts)
    assert got.tolist() == [fingerprint(t) for t in texts]
    assert got.tolist() == [reference(normal_tokens(t)) for t in texts]
    # The worker's way: the rows the scorer's tokenizer made, with its table, the same values.
    tokenizer = Tokenizer.load(SHIPPED_DIR)
    _, rows = tokenizer.encode_rows(texts)
    from_rows = RowFingerprints().of_rows(rows, tokenizer.table, len(texts))
    assert from_rows[0].tolist() == retweet.tolist()
    assert from_rows[1].tolist() == got.tolist()


def test_rows_follow_the_table_as_it_grows_and_resets() -> None:
    tokenizer = Tokenizer.load(SHIPPED_DIR)
    reader = RowFingerprints()
    first, second = ["battery died", "RT @a: new phone"], ["screen cracked", "new phone"]
    for texts in (first, second):
        _, rows = tokenizer.encode_rows(texts)
        assert reader.of_rows(rows, tokenizer.table, 2)[1].tolist() == fingerprints(texts).tolist()
    tokenizer.table.reset()  # what encode does past MAX_ROWS: every row means something else
    tokenizer.table.flush()
    _, rows = tokenizer.encode_rows(second[::-1])
    reversed_ = fingerprints(second)[::-1].tolist()
    assert reader.of_rows(rows, tokenizer.table, 2)[1].tolist() == reversed_


def test_a_text_gives_one_fingerprint_alone_and_in_a_batch() -> None:
    # A NUL or a newline (the tokenizer's separator) inside a text must not shift the posts.
    for text in ["a\nRT @x: foo", "RT @x:\nfoo", "\n\nfoo\n",
                 "\x00RT @x: foo", " \x00 RT @x: foo", "RT @x\x00: foo", "\x00rt @y bar"]:
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


def test_a_hostile_post_at_the_size_cap_leaves_its_neighbours_alone_and_memory_bounded() -> None:
    # The longest post the worker admits (SENTISTREAM_MAX_TEXT_CHARS, 2,000) at one token per
    # two characters, one of links only, one of a single 2,000-character token, beside a good one.
    from stream.drivers import reposts

    good = "battery died again"
    hostile = ["a " * 1000, "https://t.co/x " * 133, "z" * 2000, "RT @a: " * 285, ""]
    retweet, fps = retweets_and_fingerprints([*hostile, good])
    assert fps[-1] == fingerprint(good) and not retweet[-1]
    assert fps[1] == fps[3] == fps[4] == NO_FINGERPRINT  # links only; prefixes only; empty
    assert retweet.tolist() == [False, False, False, True, False, False]
    assert fps[0] != fps[2] and NO_FINGERPRINT not in (fps[0], fps[2])
    # The powers table grows to the longest post's tokens (a power of two), no further.
    assert len(reposts._powers(1000)) == 1024
    tokenizer = Tokenizer.load(SHIPPED_DIR)
    _, rows = tokenizer.encode_rows([*hostile, good])
    reader = RowFingerprints()
    assert reader.of_rows(rows, tokenizer.table, 6)[1].tolist() == fps.tolist()
