"""Per-language bucket fields and unsupported posts in the aggregates (no server needed)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, RESOLUTIONS, bucket_start, language_fields
from stream.worker.aggregates import batch_deltas, intensity_e6
from stream.worker.languages import UNSUPPORTED, safe_code
from stream.worker.posts import RawRecord, parse_batch

CODES = ["en", "de", "ja", "und"]


def test_an_unsupported_post_counts_in_volume_only() -> None:
    agg = BucketCounts().add(2, 500_000).add(UNSUPPORTED, 0).add(UNSUPPORTED, 0)
    assert agg.fields() == {"n": 3, "neg": 0, "neu": 0, "pos": 1, "isum_e6": 500_000}
    assert agg.result()["nss"] == 1.0 and agg.result()["mean_intensity"] == 0.5
    counts = BucketCounts(*agg.fields().values())
    assert counts.nss == 1.0 and counts.mean_intensity == 0.5 and counts.scored == 1
    assert counts.to_json()["unsupported_language"] == 2
    assert BucketCounts(n=4).nss is None and BucketCounts(n=4).mean_intensity is None
    assert intensity_e6(np.array([np.nan, 0.5], np.float32)).tolist() == [0, 500_000]


def test_codes_are_safe_field_names() -> None:
    assert [safe_code(c) for c in ("en", "fil", "EN", "e", "en:x", "*", "", "xxxx")] == [
        "en", "fil", "und", "und", "und", "und", "und", "und"]
    assert language_fields("de") == ("lang:de", "lang:de:neg", "lang:de:neu", "lang:de:pos",
                                     "lang:de:isum_e6")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(0, 3 * 86400),
                          st.integers(0, 2), st.sampled_from([(), ("a",), ("a", "b")]),
                          st.sampled_from(CODES)),
                min_size=1, max_size=60))
def test_language_fields_equal_naive(
        rows: list[tuple[int, int, int, int, tuple[str, ...], str]]) -> None:
    records = [RawRecord(json.dumps({"id": str(i), "text": f"post {i}",
                                     "created_at": 1.6e9 + t}).encode(), "t", part, i, 1.7e9)
               for i, (part, _, t, _, _, _) in enumerate(rows)]
    posts, _ = parse_batch(records, 100)
    posts.languages = [r[5] for r in rows]
    labels = np.array([r[1] for r in rows], np.int64)  # 3 = unsupported_language
    intensity = (np.array([r[3] for r in rows], np.float32) - 1) * np.float32(0.3333)
    intensity[labels == UNSUPPORTED] = np.nan
    deltas = batch_deltas(posts, [r[4] for r in rows], labels, intensity, top_k=2)

    ie6 = intensity_e6(intensity)
    expected: dict[tuple[str, int, str, int], dict[str, int]] = {}
    plain: dict[tuple[str, int, str, int], BucketCounts] = {}
    for i, (part, label, t, _, bs, code) in enumerate(rows):
        for brand in (*bs, ALL_BRANDS):
            for res in RESOLUTIONS:
                key = (brand, part, res, bucket_start(1.6e9 + t, res))
                plain.setdefault(key, BucketCounts()).add(label, int(ie6[i]))
                fields = expected.setdefault(key, {})
                n, neg, neu, pos, isum = language_fields(code)
                fields[n] = fields.get(n, 0) + 1
                if label != UNSUPPORTED:
                    name = (neg, neu, pos)[label]
                    fields[name] = fields.get(name, 0) + 1
                    fields[isum] = fields.get(isum, 0) + int(ie6[i])
    expected = {k: {f: v for f, v in fields.items() if v} for k, fields in expected.items()}
    got = {(d.brand, d.partition, res, start): {f: int(v) for f, v in zip(flat[::2], flat[1::2],
                                                                            strict=True)}
           for d in deltas for (res, start), flat in d.languages.items()}
    assert all(len(flat) == 2 * len(got[d.brand, d.partition, res, start])  # each field once
               for d in deltas for (res, start), flat in d.languages.items())
    assert got == expected
    assert {(d.brand, d.partition, res, start): agg for d in deltas
            for (res, start), agg in d.buckets.items()} == plain
    # Unsupported posts are never top-post candidates.
    assert all(json.loads(c.member)["label"] != "unsupported_language"
               for d in deltas for c in d.top)


def test_without_languages_no_fields_are_added() -> None:
    records = [RawRecord(json.dumps({"id": "1", "text": "x", "created_at": 1.6e9}).encode(),
                         "t", 0, 0, 1.7e9)]
    posts, _ = parse_batch(records, 100)
    deltas = batch_deltas(posts, [()], np.zeros(1, np.int64), np.zeros(1, np.float32), 0)
    assert all(not d.languages for d in deltas)
