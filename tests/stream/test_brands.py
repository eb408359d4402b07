"""Brand matching: aliases, hashtags, handles, word boundaries, explicit brands, reloading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stream.errors import BrandsFileError
from stream.worker.brands import Brand, BrandMatcher, BrandsFile, load_brands

BRANDS = [Brand("apple", ("iphone", "apple watch"), ("shotoniphone",), ("applesupport",)),
          Brand("at&t", (), (), ("att",)),
          Brand("tesla", ("model 3",), (), ())]


@pytest.mark.parametrize(("text", "expected"), [
    ("I love my IPHONE!", ("apple",)),
    ("pineapple juice", ()),                         # word boundaries
    ("apples are fruit", ()),
    ("#ShotOnIphone at the beach", ("apple",)),
    ("thanks @AppleSupport", ("apple",)),
    ("thanks @AppleSupport2", ()),
    ("my apple  watch and my model\n3", ("apple", "tesla")),
    ("AT&T dropped my call", ("at&t",)),
    ("cat&tiger", ()),
    ("", ()),
])
def test_text_matching(text: str, expected: tuple[str, ...]) -> None:
    assert BrandMatcher(BRANDS).match_texts([text]) == [expected]


def test_batch_matching_keeps_posts_apart() -> None:
    texts = ["model", "3 iphone", "tesla", "x" * 50 + " apple"]
    assert BrandMatcher(BRANDS).match_texts(texts) == [(), ("apple",), ("tesla",), ("apple",)]


def test_explicit_brand_wins_and_is_canonical() -> None:
    m = BrandMatcher(BRANDS)
    out = m.brands_of(["about tesla", "about tesla", "about tesla"],
                      [("iPhone",), None, ("Unknown Co", "_all")])
    assert out == [("apple",), ("tesla",), ("unknown co",)]


def write(path: Path, body: str, mtime: int) -> None:
    path.write_text(body)
    os.utime(path, ns=(mtime, mtime))


def test_reload_on_change_and_keep_old_on_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "brands.yaml"
    write(path, "brands:\n  acme: {aliases: [roadrunner]}\n", 1_000_000_000)
    brands = BrandsFile(path)
    assert brands.current().match_texts(["roadrunner"]) == [("acme",)]
    write(path, '{"brands": {"globex": {"hashtags": ["globex"]}}}', 2_000_000_000)  # JSON too
    assert brands.current().match_texts(["#globex roadrunner"]) == [("globex",)]
    write(path, "brands: [oops", 3_000_000_000)
    assert brands.current().match_texts(["#globex"]) == [("globex",)]


@pytest.mark.parametrize("body", ["[]", "brands: 3", "brands:\n  _all: {}\n",
                                  "brands:\n  x: {aliases: apple}\n"])
def test_malformed_files_say_what_is_wrong(tmp_path: Path, body: str) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(body)
    with pytest.raises(BrandsFileError, match=str(path)):
        load_brands(path)


def test_packaged_demo_brands_load() -> None:
    matcher = BrandsFile().current()
    assert set(matcher.brands) >= {"apple", "google", "microsoft", "nike", "tesla"}
