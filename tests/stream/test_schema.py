"""The contract between the worker and the readers: a bucket's counts and the live announcement."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from stream.schema.counts import BucketCounts
from stream.schema.keys import ALL_BRANDS
from stream.schema.live import Announcement, BrandChange, Unlisted

APP_JS = Path(__file__).resolve().parents[2] / "stream/readers/dashboard/app.js"


def sample() -> Announcement:
    return Announcement(
        at=1_700_000_000.5,
        brands={ALL_BRANDS: BrandChange(BucketCounts(3, 1, 0, 2, 150_000), [1_699_999_980]),
                "acme": BrandChange(BucketCounts(1, 0, 0, 1, 900_000), [1_699_999_980])},
        more=Unlisted(brands=2, n=2))


def test_the_announcement_json_is_the_documented_shape() -> None:
    assert sample().to_json() == {
        "at": 1_700_000_000.5,
        "brands": {"_all": {"n": 3, "neg": 1, "neu": 0, "pos": 2, "isum_e6": 150_000,
                            "minutes": [1_699_999_980]},
                   "acme": {"n": 1, "neg": 0, "neu": 0, "pos": 1, "isum_e6": 900_000,
                            "minutes": [1_699_999_980]}},
        "more": {"brands": 2, "n": 2}}
    alert = {"id": "acme:volume_spike:60", "brand": "acme", "kind": "volume_spike"}
    assert Announcement(at=2.0, alerts=[alert]).to_json() == {"at": 2.0, "brands": {},
                                                               "alerts": [alert]}


def test_an_announcement_reads_back_as_written() -> None:
    announced = sample()
    assert Announcement.from_json(announced.to_bytes()) == announced
    assert announced.posts() == 3 and announced.posts("acme") == 1 and announced.posts("x") == 0
    assert announced.mentions("acme") and not announced.mentions("globex")


@pytest.mark.parametrize("raw", [b"", b"nul", b"[]", b'"text"', b"\xff\xfe", None, 42])
def test_what_is_not_an_announcement_parses_to_none(raw: object) -> None:
    assert Announcement.from_json(raw) is None


def test_hostile_fields_are_dropped_not_raised() -> None:
    raw = orjson.dumps({"at": "soon", "brands": {"a": [1], "b": {"n": "many", "minutes": "x"},
                                                   "c": {"n": 2, "minutes": [60, "y", True]}},
                        "more": {"brands": None}, "alerts": [1, {"brand": "c"}]})
    announced = Announcement.from_json(raw)
    assert announced == Announcement(
        at=0.0, brands={"b": BrandChange(), "c": BrandChange(BucketCounts(n=2), [60])},
        more=Unlisted(0, 0), alerts=[{"brand": "c"}])


def test_the_dashboard_reads_only_fields_of_the_announcement() -> None:
    js = APP_JS.read_text()
    assert "stream/schema/live.py" in js  # where its shape is documented
    handler = js[js.index('addEventListener("update"'):]
    handler = handler[:handler.index("});")]
    read = set(re.findall(r"\bdata\.(\w+)", handler))
    assert read and read <= set(sample().to_json()) | {"truncated"}
    per_brand = set(re.findall(r"\b(?:all|c)\.(\w+)", handler))
    assert per_brand and per_brand <= set(sample().to_json()["brands"]["acme"])


def test_counts_sum_and_derive() -> None:
    parts = [BucketCounts.from_values(["2", "1", None, "1", "500000"]), BucketCounts(1, 0, 1, 0)]
    total = BucketCounts.total(parts)
    assert total == BucketCounts(3, 1, 1, 1, 500_000)
    assert total.nss == 0.0 and total.mean_intensity == pytest.approx(0.5 / 3)
    assert total.to_json() == {"n": 3, "negative": 1, "neutral": 1, "positive": 1,
                               "unsupported_language": 0, "nss": 0.0,
                               "mean_intensity": 0.166667, "reposts": 0}
    assert BucketCounts().nss is None and BucketCounts().to_json()["nss"] is None
