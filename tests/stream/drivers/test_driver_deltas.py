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


def test_authors_are_written_as_they_are_even_with_trailing_nul() -> None:
    # numpy's fixed-width unicode arrays drop trailing NULs: "bob\x00" was written as "bob"
    # and "\x00" as no author at all. Each distinct author is its own member now.
    authors = ["bob", "bob\x00", "\x00", "", "ann", "bob"]
    records = [RawRecord(json.dumps({"id": f"p{i}", "text": "acme battery", "author": a,
                                     "brand": "acme", "created_at": NOW}).encode(),
                         "t", 0, i, NOW) for i, a in enumerate(authors)]
    matcher = BrandMatcher([Brand("acme")])
    posts, brands, rejected = validate(records, get_settings(), matcher)
    assert not rejected
    labels = np.zeros(len(posts), np.int64)
    intensity = np.full(len(posts), 0.5, np.float32)
    deltas = batch_deltas(posts, brands, labels, intensity, 8)
    features = FeatureExtractor(TermExtractor(matcher.definitions)).features(posts, None)
    attach(deltas, posts, brands, labels, intensity_e6(intensity), features, None, 8)
    minute = int(NOW) // 60 * 60
    for delta in deltas:
        assert delta.drivers is not None
        assert delta.drivers.authors[("m", minute)] == ["\x00", "ann", "bob", "bob\x00"]
