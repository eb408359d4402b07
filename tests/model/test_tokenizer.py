"""Tokenizer properties: shapes, id ranges, batch independence, normalisation rules, round trip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import ModelFileError
from model.tokenizer import Tokenizer, TokenizerConfig, tokenize

CORPUS = [
    "I love this phone so much :)", "worst. service. ever. @support #fail",
    "not good at all, never again", "the meeting is at 10:30 tomorrow", "Soooo happy 😍😍",
    "http://example.com/x is down again", "I don't like it", "GREAT news!!!", "meh",
]
SMALL = TokenizerConfig(word_buckets=64, negated_buckets=64, bigram_buckets=256,
                        char_buckets=256, max_features=48, min_count=1)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.fit(CORPUS, SMALL)


posts = st.lists(st.text(max_size=200), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(posts)
def test_encode_shape_dtype_and_id_range(tok: Tokenizer, texts: list[str]) -> None:
    ids = tok.encode(texts)
    assert ids.shape == (len(texts), SMALL.max_features)
    assert ids.dtype == np.int32
    assert ids.min() >= 0 and ids.max() < tok.num_features


@settings(max_examples=100, deadline=None)
@given(posts)
def test_a_post_encodes_the_same_alone_or_in_a_batch(tok: Tokenizer, texts: list[str]) -> None:
    together = tok.encode(texts)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(tok.encode([text])[0], together[i])


def test_a_fresh_tokenizer_gives_the_same_ids(tok: Tokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path)
    again = Tokenizer.load(tmp_path)
    np.testing.assert_array_equal(again.encode(CORPUS), tok.encode(CORPUS))
    assert again.vocab == tok.vocab


def test_empty_and_symbol_only_posts_are_all_padding(tok: Tokenizer) -> None:
    ids = tok.encode(["", "   ", "—…", "ok"])
    assert not ids[:3].any() and ids[3].any()


def test_newlines_inside_a_post_do_not_split_it(tok: Tokenizer) -> None:
    ids = tok.encode(["good\nday", "next"])
    np.testing.assert_array_equal(ids[1], tok.encode(["next"])[0])
    np.testing.assert_array_equal(ids[0], tok.encode(["good day"])[0])


@pytest.mark.parametrize(("text", "expected"), [
    ("Visit https://t.co/abc NOW", ["visit", "<url>", "now"]),
    ("@Apple thanks", ["<user>", "thanks"]),
    ("#Happy day", ["happy", "day"]),
    ("sooooo goooood", ["soo", "good"]),
    ("At 10:30pm, 5th time", ["at", "<num>", ",", "<num>", "time"]),
    (r"Don\u2019t stop", ["don't", "stop"]),
    ("fish &amp; chips", ["fish", "chips"]),
    ("ok :) :-( <3 :D", ["ok", ":)", ":-(", "<3", ":d"]),
    ("wow 😍!!!!!", ["wow", "😍", "!!!"]),
])
def test_normalisation(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_negation_scope_changes_the_features(tok: Tokenizer) -> None:
    good, not_good = tok.encode(["good", "not good"])
    assert good[0] not in set(not_good.tolist())  # "good" after "not" is another feature
    # punctuation ends the scope: "good" after the comma is the plain word again
    assert good[0] in set(tok.encode(["not bad, good"])[0].tolist())


def test_markers_for_caps_elongation_and_hashtags(tok: Tokenizer) -> None:
    plain, caps, long, tag = tok.encode(["good", "GOOD", "goooood", "#good"])
    for marked in (caps, long, tag):
        assert set(plain[plain > 0].tolist()) < set(marked[marked > 0].tolist())


def test_long_posts_are_truncated_to_the_width(tok: Tokenizer) -> None:
    ids = tok.encode([" ".join(["word"] * 500)])
    assert ids.shape == (1, SMALL.max_features) and ids.all()


def test_missing_or_corrupt_tokenizer_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=re.escape("tokenizer.json")):
        Tokenizer.load(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match=re.escape(str(tmp_path / "tokenizer.json"))):
        Tokenizer.load(tmp_path)


def test_the_token_cache_resets_without_changing_ids(tok: Tokenizer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import model.tokenizer

    before = tok.encode(CORPUS)
    monkeypatch.setattr(model.tokenizer, "MAX_ROWS", 5)
    for i in range(3):  # every call now starts from an empty cache
        np.testing.assert_array_equal(tok.encode([*CORPUS, f"new word {i}"])[:-1], before)
    assert len(tok._table) < 80


@pytest.mark.parametrize("texts", [
    ["", "", "\\u"],                         # found by hypothesis: empty posts before an escape
    ["good \\u000a day", "bad"],              # a decoded newline inside a post
    ["a &#10; b", "", "great"],               # an entity that decodes to a newline
])
def test_decoding_never_moves_post_boundaries(tok: Tokenizer, texts: list[str]) -> None:
    together = tok.encode(texts)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(tok.encode([text])[0], together[i])


@pytest.mark.parametrize(("text", "tokens"), [
    # Devanagari vowel signs and viramas are combining marks, not \w: they split words before.
    ("हिन्दी बहुत अच्छी है। ठीक", ["हिन्दी", "बहुत", "अच्छी", "है", "।", "ठीक"]),
    # Arabic: optional harakat and tatweel dropped, hamza alefs unified, Arabic question mark.
    ("مُمْتَاز جداً هههههههه؟", ["ممتاز", "جدا", "هه", "؟"]),
    ("جمـــيل أحمد", ["جميل", "احمد"]),
    ("ich liebe dieses Handy", ["ich", "liebe", "dieses", "handy"]),
    ("não gostei 😡 #péssimo", ["não", "gostei", "😡", "péssimo"]),
])
def test_non_latin_scripts_keep_whole_words(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_negation_scope_covers_the_other_languages(tok: Tokenizer) -> None:
    plain, negated = tok.encode(["das ist gut", "das ist nicht gut"])
    assert tok.word_id("gut") in plain and tok.word_id("gut") not in negated
