"""Driver terms: words, hashtags and bigrams per post; stopwords and the brand's own names out."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.tokenizer import Tokenizer, raw_tokens
from stream.drivers import terms as terms_module
from stream.drivers.terms import MAX_TERM_CHARS, BatchTerms, TermExtractor, own_names
from stream.worker.brands import Brand

BRANDS = [Brand("apple", aliases=("iphone", "apple watch"), hashtags=("shotoniphone",),
                handles=("applesupport",)),
          Brand("google", aliases=("google pixel",), hashtags=("teampixel",))]


@pytest.fixture
def extractor() -> TermExtractor:
    return TermExtractor(BRANDS)


def test_words_hashtags_and_bigrams_of_a_post(extractor: TermExtractor) -> None:
    batch = extractor.extract(["The battery life is TERRIBLE!!! #Fail @bob http://t.co/x 42",
                               "Sooooo happy with the new camera"])
    assert batch.of_post(0) == ["#fail", "battery", "battery life", "life", "terrible"]
    assert batch.of_post(1) == ["camera", "happy", "new", "new camera", "soo", "soo happy"]


def test_stopwords_of_the_six_languages_go_but_english_content_words_stay(
        extractor: TermExtractor) -> None:
    batch = extractor.extract(["der Akku ist leer", "les batteries sont mortes",
                               "la batería della cámara não", "war and die"])
    assert batch.of_post(0) == ["akku", "leer"]
    assert batch.of_post(1) == ["batteries", "mortes"]
    assert batch.of_post(2) == ["batería", "cámara"]
    assert batch.of_post(3) == ["die", "war"]


def test_a_term_counts_once_per_post_and_no_bigram_crosses_posts_or_punctuation(
        extractor: TermExtractor) -> None:
    batch = extractor.extract(["fail fail fail", "screen. cracked", "screen", "cracked"])
    assert batch.counts([0, 1, 2, 3]) == {"fail": 1, "fail fail": 1, "screen": 2, "cracked": 2}


def test_a_brand_loses_its_own_names_and_only_its_own(extractor: TermExtractor) -> None:
    text = ("Apple's new Apple Watch vs Google Pixel: iphone battery #iPhone #shotoniphone "
            "#applewatch @AppleSupport")
    batch = extractor.extract([text])
    for_apple = batch.counts([0], "apple")
    for_google = batch.counts([0], "google")
    assert for_apple == {"new": 1, "watch": 1, "google": 1, "pixel": 1, "google pixel": 1,
                         "battery": 1, "vs": 1, "watch vs": 1, "vs google": 1}
    assert "apple" in for_google and "iphone" in for_google and "#iphone" in for_google
    assert "google" not in for_google and "google pixel" not in for_google
    assert batch.counts([0]) == {**for_apple, **for_google, **batch.counts([0], "nobody")}


def test_a_brand_outside_the_brands_file_loses_its_own_names_too(
        extractor: TermExtractor) -> None:
    # A post's own ``brand`` field may name a brand the file does not define; the worker counts
    # its terms under that name, which must not be its own driver (README, the fuzz's find).
    batch = extractor.extract(["Zorblax phone battery died #Zorblax @zorblax, new zorblax",
                               "Quux Labs support #QuuxLabs quuxlabs rocks"])
    assert batch.counts([0], "zorblax") == {"phone": 1, "battery": 1, "died": 1, "new": 1,
                                            "phone battery": 1, "battery died": 1}
    assert batch.counts([1], "quux labs") == {"quux": 1, "labs": 1, "support": 1,
                                              "labs support": 1, "rocks": 1}
    # Only its own: another brand's counts keep them.
    assert {"zorblax", "#zorblax", "zorblax phone", "new zorblax"} <= set(
        batch.counts([0], "google"))
    assert {"quux labs", "#quuxlabs", "quuxlabs", "quuxlabs rocks"} <= set(
        batch.counts([1], "apple"))


def test_long_tokens_numbers_urls_and_users_are_not_terms(extractor: TermExtractor) -> None:
    long_word = "abcdefghij" * (MAX_TERM_CHARS // 10) + "k"
    batch = extractor.extract([f"{long_word} 2024 4g www.x.com @someone ok"])
    assert batch.of_post(0) == ["ok"]


def _reference(batch: BatchTerms, pair_post: list[int], pair_group: list[int],
               group_brand: list[str | None]) -> list[Counter[str]]:
    """Per group: each member post once, its distinct terms, minus the brand's own names."""
    out: list[Counter[str]] = [Counter() for _ in group_brand]
    members = {(p, g) for p, g in zip(pair_post, pair_group, strict=True)}
    for post, group in members:
        brand = group_brand[group]
        own = {batch.terms[i] for i in batch.excluded.get(brand, ())} if brand else set()
        if brand:  # a brand outside the brands file too: its name, #name, its word's bigrams
            names, word = own_names(brand)
            own |= {t for t in batch.of_post(post)
                    if t in names or (" " in t and word in t.split())}
        out[group].update(set(batch.of_post(post)) - own)
    return out


words = st.sampled_from(["apple", "iphone", "battery", "life", "the", "screen", "#fail",
                         "google", "pixel", "!", "@bob", "cracked", "\n", "\x00", "é", "ok"])
texts = st.lists(st.lists(words, max_size=12).map(" ".join), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(texts, st.data())
def test_group_counts_equal_a_per_post_reference(batch_texts: list[str],
                                                 data: st.DataObject) -> None:
    batch = TermExtractor(BRANDS).extract(batch_texts)
    n = len(batch_texts)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 4)),
                               max_size=3 * n))
    pair_post = [p for p, _ in pairs]
    pair_group = [g for _, g in pairs]
    # "pixel" is no brand of the file (a post's own brand field): its name goes by own_names.
    group_brand: list[str | None] = ["apple", "google", None, "apple", "pixel"]
    got = batch.group_counts(np.array(pair_post, np.int64), np.array(pair_group, np.int64),
                             group_brand)
    assert [Counter(g) for g in got] == _reference(batch, pair_post, pair_group, group_brand)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=15))
def test_any_text_gives_the_same_terms_alone_in_a_batch_or_from_shared_tokens(
        batch_texts: list[str]) -> None:
    extractor = TermExtractor(BRANDS)
    batch = extractor.extract(batch_texts)
    assert batch.n_posts == len(batch_texts)
    shared = extractor.extract_tokens(raw_tokens(batch_texts), len(batch_texts))
    alone = TermExtractor(BRANDS)
    for i, text in enumerate(batch_texts):
        assert batch.of_post(i) == alone.extract([text]).of_post(0) == shared.of_post(i)


def test_the_tables_start_afresh_past_their_bound_and_old_batches_stay_valid(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terms_module, "MAX_TABLE", 50)
    extractor = TermExtractor(BRANDS)
    first = extractor.extract(["battery life terrible"])
    for i in range(20):  # 20 batches of new words push the tables past 50 entries
        extractor.extract([" ".join(f"w{i}x{j}" for j in range(10))])
        assert len(extractor._raw) <= 50 + 11 and len(extractor._index) <= 50 + 20
    assert first.of_post(0) == ["battery", "battery life", "life", "life terrible", "terrible"]
    assert extractor.extract(["battery life"]).of_post(0) == ["battery", "battery life", "life"]


def test_an_empty_batch_has_no_terms(extractor: TermExtractor) -> None:
    batch = extractor.extract([])
    assert batch.n_posts == 0 and batch.group_counts(
        np.zeros(0, np.int64), np.zeros(0, np.int64), ["apple"]) == [{}]


def _tokenizer() -> Tokenizer:
    from model.scorer import SHIPPED_DIR

    return Tokenizer.load(SHIPPED_DIR)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(max_size=60), min_size=1, max_size=8), min_size=1,
                max_size=4))
def test_the_model_tokenizers_rows_give_the_same_terms(batches: list[list[str]]) -> None:
    tokenizer = _tokenizer()
    shared, alone = TermExtractor(BRANDS), TermExtractor(BRANDS)
    for batch_texts in batches:
        features, rows = tokenizer.encode_rows(batch_texts)
        assert (features == tokenizer.encode(batch_texts)).all()
        from_rows = shared.extract_rows(rows, tokenizer.table, len(batch_texts))
        own = alone.extract(batch_texts)
        assert [from_rows.of_post(i) for i in range(len(batch_texts))] == \
            [own.of_post(i) for i in range(len(batch_texts))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=60), st.booleans()), min_size=1, max_size=8))
def test_terms_of_marked_posts_only_equal_the_full_extraction_of_those_posts(
        posts: list[tuple[str, bool]]) -> None:
    # The worker extracts the terms of its negative and positive posts only (neutral posts'
    # terms are never counted): the marked posts keep exactly their terms, by rows and by text,
    # and the others have none.
    tokenizer = _tokenizer()
    texts = [t for t, _ in posts]
    only = np.array([m for _, m in posts], bool)
    _, rows = tokenizer.encode_rows(texts)
    full = TermExtractor(BRANDS).extract(texts)
    for got in (TermExtractor(BRANDS).extract_rows(rows, tokenizer.table, len(texts), only),
                TermExtractor(BRANDS).extract(texts, only)):
        assert got.n_posts == len(texts)
        assert (np.diff(got.post) >= 0).all()
        assert [got.of_post(i) for i in range(len(texts))] == \
            [full.of_post(i) if m else [] for i, m in enumerate(only.tolist())]


def test_rows_follow_a_reset_of_the_model_table_and_of_our_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tokenizer = _tokenizer()
    extractor = TermExtractor(BRANDS)
    texts = ["battery life terrible", "screen cracked again"]
    _, rows = tokenizer.encode_rows(texts)
    before = extractor.extract_rows(rows, tokenizer.table, 2)
    generation = tokenizer.table.generation
    tokenizer.table.reset()  # what encode does past MAX_ROWS: every row means something else
    tokenizer.table.flush()
    assert tokenizer.table.generation == generation + 1 and tokenizer.table.raws == ["\n"]
    _, rows = tokenizer.encode_rows(texts[::-1])
    after = extractor.extract_rows(rows, tokenizer.table, 2)
    assert after.of_post(0) == before.of_post(1) and after.of_post(1) == before.of_post(0)
    monkeypatch.setattr(terms_module, "MAX_TABLE", 5)  # now our own tables start afresh
    _, rows = tokenizer.encode_rows(texts)
    again = extractor.extract_rows(rows, tokenizer.table, 2)
    assert [again.of_post(i) for i in range(2)] == [before.of_post(i) for i in range(2)]


ranked_words = st.sampled_from(["zebra", "éclair", "eclair", "ab", "ábc", "#ab", "battery",
                                "life", "apple", "the", "straße", "strasse", "ok", "!", "\n"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(ranked_words, max_size=10).map(" ".join), min_size=1, max_size=25),
       st.data())
def test_group_ranked_is_group_counts_largest_first_ties_by_term(batch_texts: list[str],
                                                                 data: st.DataObject) -> None:
    # The order the worker's Space-Saving op is sent (merge_top_k's): count descending, then
    # the term in str (code point) order.
    batch = TermExtractor(BRANDS).extract(batch_texts)
    n = len(batch_texts)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 3)),
                               max_size=3 * n))
    pair_post = np.array([p for p, _ in pairs], np.int64)
    pair_group = np.array([g for _, g in pairs], np.int64)
    group_brand: list[str | None] = ["apple", "google", None, "apple"]
    counts = batch.group_counts(pair_post, pair_group, group_brand)
    ranked = batch.group_ranked(pair_post, pair_group, group_brand)
    expected = [[x for item in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) for x in item]
                for c in counts]
    assert ranked == expected
