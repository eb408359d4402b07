"""Unit fuzz (no server): the worker's validation never raises on the fuzz payloads, and what it
accepts can be written to Redis (ids, texts and brands encode as UTF-8)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from ops.faults.fuzz import payload
from sentistream.settings import Settings
from stream.worker.brands import BrandsFile
from stream.worker.pipeline import validate
from stream.worker.posts import REASONS, RawRecord, parse_batch

MATCHER = BrandsFile().current()
SETTINGS = Settings()
RECORD_S = 1.7e9


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload)
def test_every_payload_is_a_post_or_a_dead_letter_with_a_reason(value: bytes) -> None:
    posts, brands, rejected = validate([RawRecord(value, "t", 0, 7, RECORD_S)], SETTINGS,
                                       MATCHER)
    assert len(posts) + len(rejected) == 1
    for r in rejected:
        assert r.reason in REASONS and r.detail
        # The dead letter is encodable and fits in a Kafka record (1 MiB by default).
        assert len(r.dead_letter()) < 900_000
    if len(posts):
        for text in [*posts.ids, *posts.texts, *brands[0]]:
            text.encode("utf-8")
        assert len(brands[0]) <= SETTINGS.max_brands_per_post
        assert 0 <= posts.created_s[0] <= RECORD_S + SETTINGS.future_allowance_s


def test_known_crashers_are_dead_letters() -> None:
    cases = {b"[" * 100_000 + b"]" * 100_000: "invalid_json",
             b'{"id": "a", "text": "hi \\ud800"}': "invalid_utf8",
             b'{"id": "\\udfff", "text": "hi"}': "invalid_utf8",
             b'{"id": "a", "text": "hi", "brand": "\\ud83d"}': "invalid_utf8",
             # issue 12: float() of a 400-digit integer raised OverflowError out of parse_batch
             b'{"id":"a","text":"hi","created_at":1' + b"0" * 400 + b"}": "bad_timestamp",
             b'{"id":"a","text":"hi","created_at":"2099-01-01T00:00:00Z"}': "future_timestamp",
             b'{"id":"a","text":"hi","brands":[' + b",".join(
                 b'"b%d"' % i for i in range(5000)) + b"]}": "too_many_brands"}
    for value, reason in cases.items():
        _posts, rejected = parse_batch([RawRecord(value, "t", 0, 0, 1.7e9)], 2000)
        assert [r.reason for r in rejected] == [reason], value[:40]


def test_a_nul_in_a_text_does_not_shift_brands_to_other_posts() -> None:
    # Found by ops/faults/fuzz.py: the matcher joins a batch's texts with NUL.
    texts = ["hello\x00world", "my new iphone", "\x00\x00", "nothing here"]
    assert MATCHER.match_texts(texts) == [(), ("apple",), (), ()]


def test_nesting_limit_is_the_same_at_any_stack_depth() -> None:
    # json.loads' own limit depends on the caller's stack: the worker (deep in Faust) and the
    # offline truth disagreed on records nested ~950 deep. A fixed limit decides first.
    def reasons(value: bytes) -> list[str]:
        return [r.reason for r in parse_batch([RawRecord(value, "t", 0, 0, 1.7e9)], 2000)[1]]

    assert reasons(b'{"id": "a", "text": "hi", "x": ' + b"[" * 199 + b"]" * 199 + b"}") == []
    assert reasons(b"[" * 201 + b"]" * 201) == ["invalid_json"]
    assert reasons(b'{"id": "a", "text": "' + b"[" * 500 + b'"}') == []
