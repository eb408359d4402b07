"""The driver increments of a batch, built in-process (no Redis): authors as written."""

from __future__ import annotations

import json

import numpy as np

from sentistream.settings import get_settings
from stream.drivers.terms import TermExtractor
from stream.worker.aggregates import batch_deltas, intensity_e6
from stream.worker.brands import Brand, BrandMatcher
from stream.worker.driver_deltas import FeatureExtractor, attach
from stream.worker.pipeline import validate
from stream.worker.posts import RawRecord

NOW = 1_764_000_000.0


def _authors_of(posted: list[tuple[str, float]]) -> list[dict[tuple[str, int], list[str]]]:
    """Each group's author lists of a batch of "acme" posts, one per (author, created_at)."""
    records = [RawRecord(json.dumps({"id": f"p{i}", "text": "acme battery", "author": a,
                                     "brand": "acme", "created_at": t}).encode(),
                         "t", 0, i, NOW) for i, (a, t) in enumerate(posted)]
    matcher = BrandMatcher([Brand("acme")])
    posts, brands, rejected = validate(records, get_settings(), matcher)
    assert not rejected
    labels = np.zeros(len(posts), np.int64)
    intensity = np.full(len(posts), 0.5, np.float32)
    deltas = batch_deltas(posts, brands, labels, intensity, 8)
    features = FeatureExtractor(TermExtractor(matcher.definitions)).features(posts, None)
    attach(deltas, posts, brands, labels, intensity_e6(intensity), features, None, 8)
    assert deltas and all(d.drivers is not None for d in deltas)
    return [d.drivers.authors for d in deltas if d.drivers is not None]


def test_authors_are_written_as_they_are_even_with_trailing_nul() -> None:
    # numpy's fixed-width unicode arrays drop trailing NULs: "bob\x00" was written as "bob"
    # and "\x00" as no author at all. Each distinct author is its own member now.
    authors = ["bob", "bob\x00", "\x00", "", "ann", "bob"]
    minute = int(NOW) // 60 * 60
    for got in _authors_of([(a, NOW) for a in authors]):
        # First seen first, each once: PFADD's result depends on neither order nor repeats,
        # so the names are not sorted (that sort was ~0.1 us a post of the worker, issue 15).
        assert got[("m", minute)] == ["bob", "bob\x00", "\x00", "ann"]


def test_an_hour_lists_the_authors_of_its_minutes_once_first_seen_first() -> None:
    when = (NOW + 60, NOW, NOW + 60, NOW + 120, NOW)  # offsets 0-4, minutes out of order
    authors = ("cat", "bob", "ann", "bob", "cat")
    m = int(NOW) // 60 * 60
    for got in _authors_of(list(zip(authors, when, strict=True))):
        assert got[("m", m)] == ["bob", "cat"]
        assert got[("m", m + 60)] == ["cat", "ann"]
        assert got[("m", m + 120)] == ["bob"]
        assert got[("h", int(NOW) // 3600 * 3600)] == ["bob", "cat", "ann"]


def test_the_partitions_of_a_brand_share_its_examples_in_a_batch() -> None:
    # Redis keeps the newest SENTISTREAM_DRIVER_EXAMPLES pushed to a brand's list: when every
    # partition's group sent that many, the last group applied overwrote the others'. Each
    # sends its newest ceil(keep / groups) now; a brand alone in its partitions keeps all.
    records = [RawRecord(json.dumps({"id": f"{brand}{i}", "text": f"{brand} battery died",
                                     "brand": brand, "created_at": NOW}).encode(),
                         "t", i % parts, i, NOW)
               for brand, parts in (("acme", 4), ("globex", 1)) for i in range(40)]
    matcher = BrandMatcher([Brand("acme"), Brand("globex")])
    posts, brands, rejected = validate(records, get_settings(), matcher)
    assert not rejected
    labels = np.zeros(len(posts), np.int64)  # every post negative
    intensity = np.full(len(posts), -0.5, np.float32)
    deltas = batch_deltas(posts, brands, labels, intensity, 8)
    features = FeatureExtractor(TermExtractor(matcher.definitions)).features(posts, None)
    attach(deltas, posts, brands, labels, intensity_e6(intensity), features, None, 8)
    hour = int(NOW) // 3600 * 3600
    sent = {}
    for delta in deltas:
        assert delta.drivers is not None
        found = delta.drivers.examples.get(("neg", hour), [])
        sent[(delta.brand, delta.partition)] = [json.loads(m)["id"] for m in found]
    # acme: 10 posts in each of 4 partitions, 8 to share: each group its newest 2, oldest first.
    for p in range(4):
        assert sent[("acme", p)] == [f"acme{i}" for i in range(40) if i % 4 == p][-2:]
    assert sent[("globex", 0)] == [f"globex{i}" for i in range(32, 40)]
