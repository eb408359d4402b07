"""Validation: every kind of bad input is rejected with its reason; good posts keep their fields."""

from __future__ import annotations

import base64
import json

import pytest

from stream import posts as p
from stream.posts import RawRecord, parse_batch

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
