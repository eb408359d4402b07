"""Validation: every kind of bad input is rejected with its reason; good posts keep their fields."""

from __future__ import annotations

import base64
import json

import pytest

from stream.worker import posts as p
from stream.worker.posts import RawRecord, parse_batch

RECORD_TIME = 1_700_000_000.0


def rec(value: bytes | None, offset: int = 0) -> RawRecord:
    return RawRecord(value, "t.posts", 1, offset, RECORD_TIME)


def js(**doc: object) -> bytes:
    return json.dumps(doc).encode()


BAD = [
    (b"\xff\xfe{}", p.INVALID_UTF8),
    (b'{"id": "1", "text": ', p.INVALID_JSON),
    (None, p.INVALID_JSON),
    (b'["id", "text"]', p.NOT_AN_OBJECT),
    (js(text="hi"), p.MISSING_ID),
    (js(id="", text="hi"), p.MISSING_ID),
    (js(id=7, text="hi"), p.WRONG_TYPE),
    (js(id="i" * (p.MAX_ID_CHARS + 1), text="hi"), p.ID_TOO_LONG),
    (js(id="1"), p.MISSING_TEXT),
    (js(id="1", text="   "), p.EMPTY_TEXT),
    (js(id="1", text=["hi"]), p.WRONG_TYPE),
    (js(id="1", text="x" * 11), p.TEXT_TOO_LONG),
    (js(id="1", text="hi", created_at="yesterday"), p.BAD_TIMESTAMP),
    (js(id="1", text="hi", created_at=True), p.BAD_TIMESTAMP),
    (js(id="1", text="hi", created_at={"s": 1}), p.BAD_TIMESTAMP),
    (js(id="1", text="hi", created_at=-5), p.BAD_TIMESTAMP),
    (js(id="1", text="hi", created_at="9999-12-31T23:59:59+00:00"), p.BAD_TIMESTAMP),
    (js(id="1", text="hi", brand=3), p.WRONG_TYPE),
    (js(id="1", text="hi", brands="apple"), p.WRONG_TYPE),
    (js(id="1", text="hi", author=5), p.WRONG_TYPE),
    (js(id="1", text="hi", author="a" * (p.MAX_AUTHOR_CHARS + 1)), p.AUTHOR_TOO_LONG),
]


@pytest.mark.parametrize(("value", "reason"), BAD)
def test_each_bad_input_is_rejected_with_its_reason(value: bytes | None, reason: str) -> None:
    posts, rejected = parse_batch([rec(value, offset=42)], max_text_chars=10)
    assert len(posts) == 0
    assert [r.reason for r in rejected] == [reason]
    letter = json.loads(rejected[0].dead_letter())
    assert letter["reason"] == reason and letter["detail"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("t.posts", 1, 42)
    assert base64.b64decode(letter["value_b64"]) == (value or b"")


def test_good_posts_are_kept_in_order_with_unknown_fields() -> None:
    records = [rec(js(id="a", text="hello", created_at="2009-04-06T22:19:45Z", extra=[1]), 5),
               rec(b"garbage", 6),
               rec(js(id="b", text="hi", created_at=1239056385123, brands=["X", " y "]), 7),
               rec(js(id="c", text="no time", brand="Apple"), 8)]
    posts, rejected = parse_batch(records, max_text_chars=100)
    assert posts.ids == ["a", "b", "c"] and [r.record.offset for r in rejected] == [6]
    assert posts.docs[0]["extra"] == [1]
    assert posts.created_s.tolist() == [1239056385.0, 1239056385.123, RECORD_TIME]
    assert posts.offsets.tolist() == [5, 7, 8] and posts.partitions.tolist() == [1, 1, 1]
    assert posts.explicit_brands == [None, ("X", "y"), ("Apple",)]


@pytest.mark.parametrize(("value", "expected"), [
    ("2009-04-06T22:19:45", 1239056385.0),             # naive = UTC
    ("2009-04-06T22:19:45+02:00", 1239049185.0),
    ("2009-04-06 22:19:45.5Z", 1239056385.5),
    (1239056385, 1239056385.0),                        # epoch seconds
    (1239056385.25, 1239056385.25),
    (1239056385000, 1239056385.0),                     # epoch milliseconds
    ("1239056385", 1239056385.0),                      # digits in a string
])
def test_created_at_formats(value: object, expected: float) -> None:
    assert p.parse_created_at(value, RECORD_TIME) == pytest.approx(expected, abs=1e-6)


def test_select_keeps_columns_aligned() -> None:
    posts, _ = parse_batch([rec(js(id=str(i), text=f"t{i}"), i) for i in range(5)], 100)
    sub = posts.select(posts.offsets > 2)
    assert sub.ids == ["3", "4"] and sub.texts == ["t3", "t4"]
    assert sub.offsets.tolist() == [3, 4] and len(sub.created_s) == 2


POISON = b'{"id":"a","text":"hi","created_at":1' + b"0" * 400 + b"}"


@pytest.mark.parametrize("value", [
    POISON,                                                        # issue 12: OverflowError
    b'{"id":"a","text":"hi","created_at":"1' + b"0" * 400 + b'"}',  # the same, as digits
    b'{"id":"a","text":"hi","created_at":-1' + b"0" * 400 + b"}",
    b'{"id":"a","text":"hi","created_at":1e400}',                  # a float beyond range
    b'{"id":"a","text":"hi","created_at":"1e400"}',
    b'{"id":"a","text":"hi","created_at":1' + b"0" * 4400 + b"}",  # beyond int->str limit
    js(id="a", text="hi", created_at=2 ** 64),
    js(id="a", text="hi", created_at=-(2 ** 70)),
])
def test_numbers_beyond_float_range_are_bad_timestamps(value: bytes) -> None:
    posts, rejected = parse_batch([rec(value)], max_text_chars=100)
    assert len(posts) == 0 and [r.reason for r in rejected] in ([p.BAD_TIMESTAMP],
                                                               [p.INVALID_JSON])
    # The detail quotes a bounded excerpt; the rest is the record's own bytes in base64.
    assert len(rejected[0].dead_letter()) < len(value) * 4 / 3 + 1_000


def test_poison_record_leaves_its_neighbours_alone() -> None:
    records = [rec(js(id=str(i), text="hi"), i) for i in range(5)]
    records.insert(2, rec(POISON, 99))
    posts, rejected = parse_batch(records, max_text_chars=100)
    assert posts.ids == ["0", "1", "2", "3", "4"]
    assert [(r.reason, r.record.offset) for r in rejected] == [(p.BAD_TIMESTAMP, 99)]


def test_any_exception_of_a_record_becomes_invalid_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: object, record_s: float) -> float:
        if value == 13:
            raise ZeroDivisionError("an unforeseen bug")
        return record_s

    monkeypatch.setattr(p, "parse_created_at", broken)
    records = [rec(js(id=str(i), text="hi", created_at=i + 10), i) for i in range(5)]
    posts, rejected = parse_batch(records, max_text_chars=100)
    assert posts.ids == ["0", "1", "2", "4"]
    assert [(r.reason, r.record.offset) for r in rejected] == [(p.INVALID_RECORD, 3)]
    assert "ZeroDivisionError" in rejected[0].detail


def test_created_at_later_than_the_record_time_plus_allowance_is_future() -> None:
    records = [rec(js(id="ok", text="hi", created_at=RECORD_TIME + 60), 0),
               rec(js(id="late", text="hi", created_at=RECORD_TIME + 7200), 1),
               rec(js(id="2099", text="hi", created_at="2099-01-01T00:00:00Z"), 2),
               rec(js(id="old", text="hi", created_at="2009-04-06T22:19:45Z"), 3)]
    posts, rejected = parse_batch(records, max_text_chars=100, future_allowance_s=3600)
    assert posts.ids == ["ok", "old"]
    assert [(r.reason, r.record.offset) for r in rejected] == [(p.FUTURE_TIMESTAMP, 1),
                                                               (p.FUTURE_TIMESTAMP, 2)]


def test_more_distinct_explicit_brands_than_the_limit_is_too_many_brands() -> None:
    records = [rec(js(id="ten", text="hi", brands=[f"b{i}" for i in range(10)]), 0),
               rec(js(id="dups", text="hi", brands=["a", "A", " a "] * 100), 1),
               rec(js(id="flood", text="hi", brands=[f"b{i}" for i in range(5000)]), 2),
               rec(js(id="plus1", text="hi", brand="x", brands=[f"b{i}" for i in range(10)]), 3)]
    posts, rejected = parse_batch(records, max_text_chars=100, max_brands=10)
    assert posts.ids == ["ten", "dups"]
    assert [(r.reason, r.record.offset) for r in rejected] == [(p.TOO_MANY_BRANDS, 2),
                                                               (p.TOO_MANY_BRANDS, 3)]


def test_a_giant_brand_name_or_huge_record_is_rejected_and_its_dead_letter_bounded() -> None:
    giant = js(id="g", text="hi", brand="b" * 1_000_000)
    huge = js(id="h", text="hi", padding="x" * 2_000_000)
    posts, rejected = parse_batch([rec(giant, 0), rec(huge, 1)], max_text_chars=100,
                                  max_post_bytes=256 * 1024)
    assert len(posts) == 0
    assert [r.reason for r in rejected] == [p.POST_TOO_LARGE, p.POST_TOO_LARGE]
    for r in rejected:  # a dead letter must fit in a Kafka record (1 MiB by default)
        letter = json.loads(r.dead_letter())
        assert len(r.dead_letter()) < 512 * 1024 and letter["truncated"] is True
        assert letter["value_bytes"] == len(r.record.value or b"")


def test_an_id_at_the_limit_is_kept() -> None:
    posts, rejected = parse_batch([rec(js(id="i" * p.MAX_ID_CHARS, text="hi"), 0)], 10)
    assert rejected == [] and posts.ids == ["i" * p.MAX_ID_CHARS]
