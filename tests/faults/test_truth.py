"""The judge of the fault runs can fail: lost, double-counted and altered data are all caught."""

from __future__ import annotations

import copy

from ops.faults.truth import Aggregates, _redis_top, compare


def _sample() -> Aggregates:
    agg = Aggregates()
    for minute, n in ((0, 3), (60, 2)):
        agg.cells[("_all", "m", minute)] = {"n": n, "neg": 1, "neu": 0, "pos": n - 1,
                                           "isum_e6": 10 * n}
    agg.cells[("_all", "total", 0)] = {"n": 5, "neg": 2, "neu": 0, "pos": 3, "isum_e6": 50}
    agg.tops[("acme", "pos", 0)] = [(b'{"id":"a"}', 0.5)]
    agg.dead = {"invalid_json": 2}
    agg.cells[("_all", "m", 0)]["lang:en"] = 3
    agg.authors = {("_all", "m", 0): 2, ("_all", "m", 60): 1}
    return agg


def test_identical_aggregates_are_exact() -> None:
    verdict = compare(_sample(), _sample())
    assert verdict.exact and verdict.posts == 5 and verdict.dead_expected == 2


def test_a_lost_and_a_double_counted_post_do_not_cancel_out() -> None:
    got = copy.deepcopy(_sample())
    got.cells[("_all", "m", 0)]["n"] -= 1
    got.cells[("_all", "m", 60)]["n"] += 1
    verdict = compare(_sample(), got)
    assert (verdict.lost, verdict.double_counted, verdict.exact) == (1, 1, False)


def test_any_other_difference_is_not_exact() -> None:
    for change in ("cell", "lang", "top", "dead", "authors", "lost author"):
        got = copy.deepcopy(_sample())
        if change == "cell":
            got.cells[("acme", "h", 0)] = {"n": 1, "neg": 0, "neu": 1, "pos": 0, "isum_e6": 0}
        elif change == "lang":
            got.cells[("_all", "m", 0)]["lang:en"] += 1
        elif change == "authors":
            got.authors[("_all", "m", 0)] = 3
        elif change == "lost author":
            del got.authors[("_all", "m", 60)]
        elif change == "top":
            got.tops[("acme", "pos", 0)] = [(b'{"id":"b"}', 0.5)]
        else:
            got.dead = {"invalid_json": 1, "invalid_utf8": 1}
        assert not compare(_sample(), got).exact, change


def test_top_sets_keep_what_redis_keeps_ties_by_member_bytes() -> None:
    members = {b"b": 0.9, b"a": 0.9, b"c": 0.1, b"d": -0.8}
    assert _redis_top(members, "pos", 2) == [(b"a", 0.9), (b"b", 0.9)]
    assert _redis_top(members, "neg", 2) == [(b"d", -0.8), (b"c", 0.1)]
