"""One time parser for producers, worker and query parameters (sentistream/times.py)."""

from __future__ import annotations

import pytest

from sentistream.times import BadTimestamp, parse_timestamp
from stream.readers.query.params import parse_time
from stream.worker.posts import parse_created_at

T = 1242011860.0  # 2009-05-11T03:17:40Z
SAME_MOMENT = ["2009-05-11T03:17:40Z", "2009-05-11T03:17:40z", "2009-05-11 03:17:40",
               "2009-05-11T05:17:40+02:00", "Mon May 11 03:17:40 UTC 2009",
               "Sun May 10 20:17:40 PDT 2009", "Mon May 11 03:17:40 +0000 2009",
               "1242011860", "1242011860000", " 1242011860 "]


@pytest.mark.parametrize("text", SAME_MOMENT)
def test_producers_worker_and_queries_read_each_layout_alike(text: str) -> None:
    assert parse_timestamp(text) == T
    assert parse_created_at(text, 0.0) == T
    assert parse_time(text, now=0.0) == T


@pytest.mark.parametrize("value", [1242011860, 1242011860.0, 1242011860000])
def test_epoch_numbers_in_seconds_or_milliseconds(value: float) -> None:
    assert parse_timestamp(value) == T


@pytest.mark.parametrize("value", ["yesterday", "", "Mon Foo 11 03:17:40 UTC 2009", "nan",
                                   "inf", "1e400", 10 ** 400, float("nan"), True, None, [1],
                                   "١٢٣", "2009-13-01T00:00:00Z"])
def test_anything_else_is_a_bad_timestamp_never_another_error(value: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_timestamp(value)
