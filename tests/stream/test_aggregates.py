"""Batch increments equal a naive post-by-post computation with the pure bucket class."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS, RESOLUTIONS, bucket_start
from stream.worker.aggregates import batch_deltas, intensity_e6
from stream.worker.posts import RawRecord, parse_batch


def test_bucket_aggregate_add_merge_result() -> None:
    a = BucketCounts.initialize().add(2, 500_000).add(0, -250_000)
    b = BucketCounts.initialize().add(1, 0)
    merged = a.merge(b)
    assert merged.fields() == {"n": 3, "neg": 1, "neu": 1, "pos": 1, "isum_e6": 250_000}
    assert merged.result()["nss"] == 0.0
    assert abs((merged.mean_intensity or 0.0) - 0.25 / 3) < 1e-12
    assert BucketCounts.from_fields({b"n": b"3", b"neg": b"1", b"neu": b"1", b"pos": b"1",
                                        b"isum_e6": b"250000"}) == merged
    # No posts, no sentiment: what the API and the CLI answer (null), not "exactly neutral".
    assert BucketCounts().result()["nss"] is None and BucketCounts().mean_intensity is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 5 * 86400),
                          st.integers(0, 2), st.sampled_from([(), ("a",), ("a", "b"), ("c",)])),
                min_size=1, max_size=60))
def test_batch_deltas_equal_naive(rows: list[tuple[int, int, int, int, tuple[str, ...]]]) -> None:
    records = [RawRecord(json.dumps({"id": str(i), "text": f"post {i}",
                                     "created_at": 1.6e9 + t}).encode(), "t", part, i, 1.7e9)
               for i, (part, _, t, _, _) in enumerate(rows)]
    posts, rejected = parse_batch(records, 100)
    assert not rejected
    labels = np.array([r[1] for r in rows], np.int64)
    intensity = (np.array([r[3] for r in rows], np.float32) - 1) * np.float32(0.3333)
    brands = [r[4] for r in rows]
    deltas = batch_deltas(posts, brands, labels, intensity, top_k=2)

    expected: dict[tuple[str, int, str, int], BucketCounts] = {}
    ie6 = intensity_e6(intensity)
    for i, (part, label, t, _, bs) in enumerate(rows):
        for brand in (*bs, ALL_BRANDS):
            for res in RESOLUTIONS:
                key = (brand, part, res, bucket_start(1.6e9 + t, res))
                expected.setdefault(key, BucketCounts()).add(label, int(ie6[i]))
    got = {(d.brand, d.partition, res, start): agg
           for d in deltas for (res, start), agg in d.buckets.items()}
    assert got == expected
    # The ranking the _all group carries: per partition and bucket, each brand's posts.
    ranks = {(d.partition, res, start, brand): n for d in deltas if d.brand == ALL_BRANDS
             for (res, start), volumes in d.ranks.items() for brand, n in volumes.items()}
    assert ranks == {(part, res, start, brand): agg.n
                     for (brand, part, res, start), agg in expected.items() if brand != ALL_BRANDS}
    assert all(not d.ranks for d in deltas if d.brand != ALL_BRANDS)
    for d in deltas:
        mine = [i for i, r in enumerate(rows) if r[0] == d.partition and
                (d.brand == ALL_BRANDS or d.brand in r[4])]
        assert (d.min_offset, d.max_offset) == (min(mine), max(mine))
        assert d.total.n == len(mine)
        # Top candidates: every post of the right label that is among the 2 best of its
        # (hour, polarity) in this group is a candidate.
        for polarity, label, sign in (("pos", 2, 1), ("neg", 0, -1)):
            by_hour: dict[int, list[float]] = {}
            for i in mine:
                if rows[i][1] == label:
                    by_hour.setdefault(bucket_start(1.6e9 + rows[i][2], "h"), []).append(
                        float(intensity[i]))
            for hour, scores in by_hour.items():
                cands = sorted((c.score for c in d.top
                                if c.polarity == polarity and c.hour == hour),
                               key=lambda s: -sign * s)
                assert cands[:2] == sorted(scores, key=lambda s: -sign * s)[:2]


def test_top_member_is_json_dumps_of_the_post() -> None:
    """The top-set member is built without json.dumps, but must be its exact bytes: Redis keeps
    members from before a change, and a member written differently would be a second entry."""
    import json

    from stream.worker.aggregates import top_member

    texts = ['say "hi"\\n', "line\nbreak\ttab\x00nul\x1f", "café 日本 😀 \u2028\u2029", "</script>",
             "a" * 500]
    values = [json.dumps({"id": f"i{i}\"'\\", "text": t, "created_at": 1.7e9 + i / 7})
              .encode() for i, t in enumerate(texts)]
    records = [RawRecord(v, "t", 0, i, 1.7e9 + 9) for i, v in enumerate(values)]
    posts, rejected = parse_batch(records, 1000)
    assert not rejected
    for i in range(len(texts)):
        for label, score in ((2, 0.1), (0, -1.0), (2, 1 / 3), (0, -5e-324), (2, 0.0)):
            assert top_member(posts, i, label, score) == json.dumps(
                {"id": posts.ids[i], "text": posts.texts[i], "intensity": score,
                 "label": ("negative", "neutral", "positive")[label],
                 "created_at": float(posts.created_s[i])}, ensure_ascii=False)
