"""Unit fuzz (no server): the worker's validation never raises on the fuzz payloads, and what it
accepts can be written to Redis (ids, texts and brands encode as UTF-8)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from ops.faults.fuzz import payload
from stream.brands import BrandsFile
from stream.posts import REASONS, RawRecord, parse_batch

MATCHER = BrandsFile().current()


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload)
def test_every_payload_is_a_post_or_a_dead_letter_with_a_reason(value: bytes) -> None:
    posts, rejected = parse_batch([RawRecord(value, "t", 0, 7, 1.7e9)], 2000)
    assert len(posts) + len(rejected) == 1
    for r in rejected:
        assert r.reason in REASONS and r.detail
        r.dead_letter()  # the dead letter itself must be encodable
    if len(posts):
        brands = MATCHER.brands_of(posts.texts, posts.explicit_brands)
        for text in [*posts.ids, *posts.texts, *brands[0]]:
            text.encode("utf-8")


def test_known_crashers_are_dead_letters() -> None:
    cases = {b"[" * 100_000 + b"]" * 100_000: "invalid_json",
             b'{"id": "a", "text": "hi \\ud800"}': "invalid_utf8",
             b'{"id": "\\udfff", "text": "hi"}': "invalid_utf8",
             b'{"id": "a", "text": "hi", "brand": "\\ud83d"}': "invalid_utf8"}
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
