"""Inputs to posts without a server: formats, presets, column mapping, ids, times, bad rows."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson
import pytest

from producers.errors import MappingError
from producers.mapping import PRESETS, ColumnMap
from producers.records import encode_keys
from producers.timefmt import iso_utc, iso_utc_many
from sentistream.times import parse_timestamp
from tests.producers.files import load

FIXTURES = Path(__file__).parent / "fixtures"



def test_sentiment140_preset_reads_headerless_latin1() -> None:
    got = load(FIXTURES / "sentiment140.csv", PRESETS["sentiment140"])
    assert [p["id"] for p in got.posts] == ["1467810369", "1467822272", "1467822273"]
    assert got.posts[1]["text"] == "I love my kindle2, café reading all day"
    assert got.posts[1]["author"] == "cafélover"
    assert got.posts[1]["brand"] == "kindle2"
    assert got.posts[1]["polarity"] == "4"  # unmapped columns travel along
    # PDT is UTC-7
    assert iso_utc(got.times[0] or 0) == "2009-04-07T05:19:45Z"
    assert not got.bad


def test_sentiment140_preset_skips_a_header_line_some_copies_have(tmp_path: Path) -> None:
    body = (FIXTURES / "sentiment140.csv").read_bytes()
    path = tmp_path / "with-header.csv"
    path.write_bytes(b'"polarity","tweet_id","tweet_date","query","user","text"\n' + body)
    got = load(path, PRESETS["sentiment140"])
    assert len(got.posts) == 3 and not got.bad
    assert got.lines == [2, 3, 4]


def test_tweeteval_preset() -> None:
    got = load(FIXTURES / "tweeteval.csv", PRESETS["tweeteval"])
    assert [p["id"] for p in got.posts] == [
        "178425868341870592", "677683211653222402", "521033092132503552"]
    assert "brand" not in got.posts[0]  # empty topic: no brand
    assert got.posts[2]["brand"] == "@microsoft"
    assert got.posts[0]["text"].startswith('"QT @user')
    assert got.posts[2]["label"] == "negative"
    assert iso_utc(got.times[1] or 0) == "2015-12-18T02:54:03Z"


def test_bad_rows_have_their_line_numbers_and_good_rows_survive() -> None:
    got = load(FIXTURES / "mixed_bad.csv")
    assert [p["id"] for p in got.posts] == ["1", "5"]
    assert got.lines == [2, 6]
    reasons = {line: reason for line, reason, _ in got.bad}
    assert set(reasons) == {3, 4, 5}
    assert "missing text" in reasons[3]
    assert "timestamp" in reasons[4]
    assert "fields" in reasons[5]


def test_jsonl_rows_bad_lines_and_derived_ids() -> None:
    got = load(FIXTURES / "posts.jsonl")
    assert [p["text"] for p in got.posts] == ["json one", "json no id", "json three"]
    assert sorted(line for line, _, _ in got.bad) == [3, 4]
    assert got.times[:2] == [1704067200.0, 1704067201.0]  # seconds and milliseconds
    derived = got.posts[1]["id"]
    assert derived.startswith("h") and len(derived) == 17
    assert load(FIXTURES / "posts.jsonl").posts[1]["id"] == derived  # stable across runs
    assert encode_keys(got.posts, "brand") == [b"acme", derived.encode(), b"globex"]


def test_ids_differ_when_content_differs(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("text,date\nsame text,2024-01-01\nsame text,2024-01-02\nsame text,2024-01-01\n")
    ids = [p["id"] for p in load(path).posts]
    assert ids[0] != ids[1] and ids[0] == ids[2]


def test_gzip_json_array_and_sniffing_without_a_suffix(tmp_path: Path) -> None:
    rows = [{"id": i, "text": f"post {i}", "date": "2024-05-01T10:00:00+02:00"} for i in range(3)]
    path = tmp_path / "dump"  # no suffix: format sniffed from the first byte, after gunzip
    path.write_bytes(gzip.compress(orjson.dumps([*rows, "junk"])))
    got = load(path)
    assert [p["id"] for p in got.posts] == ["0", "1", "2"]
    assert got.bad[0][0] == 4  # the 4th item
    assert iso_utc(got.times[0] or 0) == "2024-05-01T08:00:00Z"


def test_stdin_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'{"text": "from a pipe", "id": "p1"}\n'
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    assert load("-").posts == [{"id": "p1", "text": "from a pipe"}]


def test_column_mapping_overrides_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("body,when,who,company\nhello,1700000000,ann,acme\n")
    cols = ColumnMap().with_overrides(text="body", time="when", author="who", brand="company")
    got = load(path, cols)
    assert got.posts == [{"id": got.posts[0]["id"], "text": "hello", "brand": "acme",
                          "author": "ann"}]
    with pytest.raises(MappingError, match="no text column"):
        load(path)
    with pytest.raises(MappingError, match="'nope'"):
        load(path, ColumnMap(text="body", brand="nope"))


def test_invalid_utf8_costs_one_row(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"text\nfine\nbad \xe9 byte\nalso fine\n")
    got = load(path)
    assert [p["text"] for p in got.posts] == ["fine", "also fine"]
    assert got.bad[0][0] == 3 and "latin-1" in got.bad[0][1]


@pytest.mark.parametrize("value,expected", [
    ("2009-05-11T03:17:40Z", "2009-05-11T03:17:40Z"),
    ("Mon May 11 03:17:40 UTC 2009", "2009-05-11T03:17:40Z"),
    ("Wed Oct 10 20:19:24 +0000 2018", "2018-10-10T20:19:24Z"),
    (1242011860, "2009-05-11T03:17:40Z"),
    (1242011860500, "2009-05-11T03:17:40.500Z"),
    ("2009-05-11 03:17:40", "2009-05-11T03:17:40Z"),
])
def test_timestamps(value: object, expected: str) -> None:
    assert iso_utc(parse_timestamp(value)) == expected
    assert iso_utc_many([parse_timestamp(value)]) == [expected]


@pytest.mark.parametrize("value", ["yesterday", "", "Mon Foo 11 03:17:40 UTC 2009", float("nan")])
def test_bad_timestamps(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_partitions_match_kafka_python_and_survive_cache_eviction() -> None:
    import random

    from kafka.partitioner.default import murmur2

    from producers.partitioning import Partitioner, murmur2_many

    rng = random.Random(5)
    keys = [rng.randbytes(rng.randrange(0, 40)) for _ in range(5000)]
    assert murmur2_many(keys).tolist() == [murmur2(k) for k in keys]
    part = Partitioner([0, 1, 2, 3, 4])
    part.CACHE_LIMIT = 100
    for first in range(0, 5000, 64):  # evictions mid-way: every key must still get its partition
        chunk = keys[first:first + 64] + keys[:3]
        assert part(chunk) == [(murmur2(k) & 0x7FFFFFFF) % 5 for k in chunk]
