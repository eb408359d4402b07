"""Parsing of windows, resolutions, times and ranges, and the terminal tables (no server)."""

from __future__ import annotations

import pytest

from stream.readers.query.errors import (
    BadParameterError,
    BadResolutionError,
    BadTimeRangeError,
    BadWindowError,
)
from stream.readers.query.params import (
    MAX_BUCKETS,
    parse_brand,
    parse_lang,
    parse_limit,
    parse_range,
    parse_resolution,
    parse_time,
    parse_window,
)
from stream.readers.query.render import BRAND_COLUMNS, table

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(("text", "seconds", "res"), [
    ("15m", 900, "m"), ("1h", 3600, "m"), ("6h", 21600, "m"), ("24h", 86400, "h"),
    ("7d", 604800, "h"), ("2w", 1209600, "h"), ("90d", 90 * 86400, "d")])
def test_windows_pick_the_coarsest_fitting_buckets(text: str, seconds: int, res: str) -> None:
    window = parse_window(text)
    assert (window.seconds, window.resolution) == (seconds, res)


@pytest.mark.parametrize("text", ["", "15", "m15", "15x", "0m", "-1h", "1.5h", "400d", "15 min"])
def test_bad_windows_say_what_to_use(text: str) -> None:
    with pytest.raises(BadWindowError, match=r"15m, 1h, 24h, 7d|between 1m and 366d"):
        parse_window(text)


def test_resolutions() -> None:
    assert [parse_resolution(r) for r in ("1m", "1h", "1d", "1H")] == ["m", "h", "d", "h"]
    with pytest.raises(BadResolutionError, match="use 1m, 1h or 1d"):
        parse_resolution("5m")


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW), ("-2h", NOW - 7200), ("now-15m", NOW - 900), ("1700000000", NOW),
    ("1700000000000", NOW), ("2023-11-14T22:13:20Z", NOW), ("2023-11-14T22:13:20", NOW),
    ("2023-11-14T23:13:20+01:00", NOW)])
def test_times(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


def test_unparseable_time_is_a_time_range_error() -> None:
    with pytest.raises(BadTimeRangeError, match="ISO-8601"):
        parse_time("yesterday-ish", NOW)


def test_range_covers_from_to_with_to_exclusive() -> None:
    r = parse_range("1m", "2023-11-14T22:00:30Z", "2023-11-14T22:05:00Z", NOW)
    assert r.starts() == [1699999200 + 60 * i for i in range(5)]
    assert parse_range("1h", None, None, NOW).resolution == "h"


def test_reversed_empty_and_oversized_ranges_are_rejected() -> None:
    with pytest.raises(BadTimeRangeError, match="must be before"):
        parse_range("1m", "-1h", "-2h", NOW)
    with pytest.raises(BadTimeRangeError, match="must be before"):
        parse_range("1m", "now", "now", NOW)
    with pytest.raises(BadTimeRangeError, match=f"at most {MAX_BUCKETS}"):
        parse_range("1m", "-30d", "now", NOW)


def test_table_aligns_numbers_right_and_text_left() -> None:
    rows = [{"brand": "acme", "n": 1234, "nss": 0.5, "share_of_voice": 0.25},
            {"brand": "a-much-longer-brand", "n": 5, "nss": None, "share_of_voice": None}]
    lines = table(rows, BRAND_COLUMNS).splitlines()
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule have the same width
    assert lines[2].startswith("acme ") and "1,234" in lines[2] and "+0.500" in lines[2]
    assert lines[3].split()[1] == "5" and lines[3].split()[2] == "-"
    posts_col = lines[0].index("posts") + len("posts")
    assert lines[2][posts_col - 1] == "4" and lines[3][posts_col - 1] == "5"


@pytest.mark.parametrize("text", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e300",
                                  "-1e300", "0001-01-01", "1969-12-31T23:59:59Z", "-1",
                                  "9999-12-31", "1" * 400, "1e20", "-99999999w"])
def test_times_outside_1970_to_9000_are_refused(text: str) -> None:
    with pytest.raises(BadTimeRangeError, match="bad time"):
        parse_time(text, NOW)


@pytest.mark.parametrize(("raw", "expected"), [(None, 5), ("1", 1), ("100", 100), ("007", 7)])
def test_limits(raw: str | None, expected: int) -> None:
    assert parse_limit(raw, 5, 100) == expected


@pytest.mark.parametrize("raw", ["\u00b2", "\u0663", "0", "101", "-1", "+5", " 5", "5 ", "1e3",
                                 "", "9" * 40, "0x10", "٣"])
def test_bad_limits_name_the_range(raw: str) -> None:
    with pytest.raises(BadParameterError, match=r"bad limit .*1 to 100"):
        parse_limit(raw, 5, 100)


@pytest.mark.parametrize("text", ["15\u0663m", "\u0661m", "1\u00b2h"])
def test_windows_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(BadWindowError):
        parse_window(text)


@pytest.mark.parametrize("brand", ["", "  ", "a\udc80b", "x" * 1001, "a\x00b"])
def test_bad_brands_are_refused(brand: str) -> None:
    with pytest.raises(BadParameterError, match="brand"):
        parse_brand(brand)


def test_a_brand_of_any_printable_characters_is_fine() -> None:
    assert parse_brand("at&t {x}:* ü 😀") == "at&t {x}:* ü 😀"


def test_lang_filters_are_iso_codes() -> None:
    assert [parse_lang(x) for x in (None, "", " ", "en", " DE ", "und", "fil")] == [
        None, None, None, "en", "de", "und", "fil"]
    for bad in ("english", "e", "pt-BR", "en:neg", "*", "é", "e\n"):
        with pytest.raises(BadParameterError, match="bad lang"):
            parse_lang(bad)
