"""Language routing: explicit languages win, unknown languages are never forced into a supported
one, hostile text never raises, and the scorer labels only the posts it supports."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pycld2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import LanguageSettingError, ModelFileError
from model.languages import (
    _CLD2_ARGS,
    KNOWN_LANGUAGES,
    NO_WORDS,
    UNDETERMINED,
    LanguageDetector,
    LanguageRouter,
    _cld2,
    normalize,
    parse_languages,
)
from model.scorer import SHIPPED_DIR, PostScores, ScoreBatch, SentimentScorer, _Model
from model.tokenizer import raw_tokens

MODEL_LANGUAGES = ("ar", "de", "en", "es", "fr", "hi", "it", "pt")
OTHER = Path(__file__).parent / "fixtures" / "other_languages.csv"
SAMPLES = {
    "en": "I really love this phone, the camera is amazing",
    "de": "ich liebe dieses Handy, die Kamera ist großartig",
    "es": "odio este producto, es una basura",
    "fr": "je déteste ce téléphone, la batterie ne tient pas",
    "it": "adoro questo telefono, la fotocamera è fantastica",
    "pt": "eu amo este celular, a câmera é incrível",
    "ar": "أحب هذا الهاتف كثيرا الكاميرا رائعة",
    "hi": "मुझे यह फ़ोन बहुत पसंद है",
}


@pytest.fixture(scope="module")
def router() -> LanguageRouter:
    return LanguageRouter(MODEL_LANGUAGES)


def test_each_model_language_is_detected(router: LanguageRouter) -> None:
    batch = router.route(list(SAMPLES.values()))
    assert batch.codes == list(SAMPLES)
    assert batch.supported.all() and not batch.explicit.any()


def test_other_languages_are_never_forced_into_a_supported_one(router: LanguageRouter) -> None:
    with OTHER.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    batch = router.route([row["text"] for row in rows])
    leaked = [(row["text"], code) for row, code in zip(rows, batch.codes, strict=True)
              if code in MODEL_LANGUAGES]
    assert leaked == []
    assert not batch.supported.any()
    assert batch.codes[[row["lang"] for row in rows].index("ja")] == "ja"


def test_an_explicit_language_wins_and_is_normalised(router: LanguageRouter) -> None:
    texts = ["I love it"] * 9
    batch = router.route(texts, ["pt-BR", "iw", "und", None, "", "DE", "zxx", "no such!", "qqq"])
    assert batch.codes == ["pt", "he", "en", "en", "en", "de", "en", "en", "en"]
    assert batch.explicit.tolist() == [True, True, False, False, False, True, False, False,
                                       False]
    assert batch.supported.tolist() == [True, False, True, True, True, True, True, True, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=8),
       st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=8, max_size=8))
def test_the_codes_a_batch_can_hold_are_bounded(router: LanguageRouter, texts: list[str],
                                                 tags: list[str | None]) -> None:
    # Per-language counts and keys take these codes: hostile tags must not mint new ones.
    batch = router.route(texts, tags[: len(texts)])
    assert set(batch.codes) <= router.detector.codes
    assert len(router.detector.codes) < 250
    assert all(code in KNOWN_LANGUAGES for code, given in zip(batch.codes, batch.explicit,
                                                              strict=True) if given)


def test_explicit_languages_must_match_the_texts(router: LanguageRouter) -> None:
    with pytest.raises(ValueError, match="2 explicit languages for 1 texts"):
        router.route(["hello"], ["en", "de"])


def test_posts_without_words_have_no_language_and_are_scored(router: LanguageRouter) -> None:
    batch = router.route(["😍😍😍", ":) 100", "@user http://t.co/x", ""])
    assert batch.codes == [NO_WORDS] * 4
    assert batch.supported.all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=8))
def test_hostile_text_never_raises(router: LanguageRouter, texts: list[str]) -> None:
    batch = router.route(texts)
    assert len(batch) == len(texts)
    assert all(code.isalpha() for code in batch.codes)


def test_lone_surrogates_control_characters_and_huge_posts(router: LanguageRouter) -> None:
    texts = ["\ud800 bad", "\x00\x01\x7f abc", "ich liebe dieses Handy " * 5000, "\ufeff",
             "odio este producto\x1e es una basura"]  # \x1e: the batch's internal separator
    batch = router.route(texts)
    assert batch.codes[2] == "de" and batch.codes[4] == "es" and len(batch) == 5


def test_a_batch_without_explicit_languages_routes_as_one_with_unusable_tags(
        router: LanguageRouter) -> None:
    """No ``lang`` at all (None or "") takes a shorter path than tags that name no language;
    both detect every post and must agree."""
    texts = ["ich liebe dieses Handy", "この製品は最悪です", "great phone!!", "😀😀", "", "ok"]
    general = router.route(texts, ["not-a-language"] * len(texts))
    for explicit in (None, [None] * len(texts), [""] * len(texts)):
        batch = router.route(texts, explicit)
        assert batch.codes == general.codes
        assert batch.supported.tolist() == general.supported.tolist()
        assert not batch.explicit.any() and not general.explicit.any()


def cld2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts CLD2 is asked about from now on (it still answers)."""
    import model.languages as languages

    seen: list[str] = []

    def counting(text: str, *args: object) -> object:
        seen.append(text)
        return _cld2(text, *args)

    monkeypatch.setattr(languages, "_cld2", counting)
    return seen


def test_reposts_are_detected_once_per_distinct_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's copies of a text (the text again; "RT @user: <text>" from any user, which are
    one text once the noise is stripped) are detected once: CLD2 and py3langid look at each
    distinct stripped text once, and every copy gets the code it gets alone."""

    spanish = "odio este producto, es una basura"  # not plain: CLD2 is asked (the pre-screen)
    texts = [spanish, f"RT @fan: {spanish}", spanish, f"RT @other: {spanish}", "この製品は最悪です",
             "RT @a_b: この製品は最悪です", "この製品は最悪です", "great phone!!", "great phone!!",
             "😀😀", "😀😀"]
    alone = [LanguageRouter(MODEL_LANGUAGES).route([t]).codes[0] for t in texts]
    seen = cld2_calls(monkeypatch)
    router = LanguageRouter(MODEL_LANGUAGES)
    asked: list[list[str]] = []
    classify = router.detector._second_batch.classify

    def counting_second(batch: Sequence[str]) -> list[str]:
        asked.append(list(batch))
        return classify(batch)

    monkeypatch.setattr(router.detector._second_batch, "classify", counting_second)
    assert router.route(texts).codes == alone
    assert len(seen) == len(set(seen)) == 6
    assert [len(batch) for batch in asked] == [2]  # the Japanese text and its repost


def test_plainly_english_posts_skip_cld2_and_come_out_english(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An ASCII post with two English function words and none of another language's is English
    without asking CLD2 (~6 us a post saved on ~73% of an English stream); anything less plain
    (one marker, a foreign function word, a non-ASCII letter, another language) still is, and
    comes out as before; without the pre-screen every post goes to CLD2."""
    import model.languages as languages

    plain = ["I really love this phone, the camera is amazing", "what is this even",
             "@user it's not working again 😡 http://t.co/x"]
    doubtful = ["great phone!!", "I love my Handy, ich liebe es", "the café is nice and warm",
                "odio este producto, es una basura", "this is the Hindi movie hai kya",
                "Mahal kita, this is the one talaga", "この製品は最悪です"]
    seen = cld2_calls(monkeypatch)
    router = LanguageRouter(MODEL_LANGUAGES)
    codes = router.route(plain + doubtful).codes
    assert codes[:3] == ["en"] * 3
    assert len(seen) == len(doubtful)  # CLD2 saw only the doubtful ones
    assert codes[6] == "es" and codes[9] == "ja"
    assert all(map(languages.plainly_english, plain))
    assert not any(map(languages.plainly_english, doubtful))
    seen.clear()
    without = LanguageDetector(MODEL_LANGUAGES, prescreen=False)
    assert without.detect(plain + doubtful) == codes
    assert len(seen) == len(plain + doubtful)
    seen.clear()
    english_off = LanguageDetector(("de", "es"))  # English not a focus language: CLD2 decides
    english_off.detect(plain)
    assert len(seen) == len(plain)


def test_cld2_gets_the_same_arguments_by_position_as_by_name() -> None:
    """The detector passes pycld2.detect's flags by position (cheaper): plain text and best
    effort, as by name (several texts below come out otherwise when a flag is wrong)."""
    texts = ["ciao", "bonjour", '<span lang="de">ok ok</span>', "&eacute;t&eacute; ici",
             "ich liebe dieses Handy", "odio este producto, es una basura", ""]
    flags_matter = [t for t in texts if pycld2.detect(t) != pycld2.detect(
        t, isPlainText=True, bestEffort=True)]
    assert len(flags_matter) >= 3
    for text in texts:
        assert _cld2(text, *_CLD2_ARGS) == pycld2.detect(text, isPlainText=True, bestEffort=True)


def test_languages_to_score_are_a_subset_of_the_models() -> None:
    router = LanguageRouter(MODEL_LANGUAGES, ["de", "en"])
    batch = router.route([SAMPLES["de"], SAMPLES["es"], SAMPLES["en"]])
    assert batch.supported.tolist() == [True, False, True]
    with pytest.raises(LanguageSettingError, match="cannot score ja"):
        LanguageRouter(MODEL_LANGUAGES, ["ja", "en"])


def test_normalize_and_parse() -> None:
    assert [normalize(t) for t in ("pt_BR", " EN ", None, "un", "zh-Hant", "12", "english",
                                   "ру", "arz")] == [
        "pt", "en", UNDETERMINED, UNDETERMINED, "zh", UNDETERMINED, UNDETERMINED, UNDETERMINED,
        "ar"]
    assert parse_languages(" de, en,,DE ") == ("de", "en")
    assert parse_languages("") == ()


def test_the_scorer_labels_supported_posts_only() -> None:
    scorer = SentimentScorer()
    texts = [SAMPLES["en"], "この製品は最悪です", "😍😍", "я очень люблю этот телефон"]
    result = scorer.score_posts(texts)
    assert result.languages[1:4:2] == ["ja", "ru"]
    assert result.supported.tolist() == [True, False, True, False]
    assert result.label_names()[1] == result.label_names()[3] == "unsupported_language"
    assert (result.labels[[1, 3]] == PostScores.UNSUPPORTED).all()
    assert np.isnan(result.probs[[1, 3]]).all() and np.isnan(result.intensity[[1, 3]]).all()
    alone = scorer.score([texts[0], texts[2]])
    np.testing.assert_array_equal(result.labels[[0, 2]], alone.labels)
    np.testing.assert_allclose(result.probs[[0, 2]], alone.probs)


def test_the_scorer_loads_its_detectors_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_detectors`` loads py3langid (the second opinion) up front, as a stream's worker
    wants at start; a scorer built without it loads nothing until a post needs it."""
    import py3langid.langid

    loaded: list[object] = []
    real = py3langid.langid.LanguageIdentifier.from_modelpath

    def counting(*args: object, **kwargs: object) -> object:
        loaded.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(py3langid.langid.LanguageIdentifier, "from_modelpath", counting)
    scorer = SentimentScorer()
    assert loaded == []
    scorer.load_detectors()
    assert len(loaded) == 1
    scores = scorer.score_posts(["この製品は最悪です", "I love it"])  # Japanese: a second opinion
    assert scores.languages == ["ja", "en"] and len(loaded) == 1
    scorer.load_detectors()  # once only
    assert len(loaded) == 1


def test_the_scorer_takes_explicit_languages_and_a_language_setting() -> None:
    scorer = SentimentScorer(languages=["en"])
    assert scorer.router.enabled == ("en",)
    result = scorer.score_posts(["I love it", "I love it"], ["en", "ja"])
    assert result.label_names()[1] == "unsupported_language"
    assert result.label_names()[0] in ("negative", "neutral", "positive")
    only_unsupported = scorer.score_posts(["この製品は最悪です"])
    assert only_unsupported.label_names() == ["unsupported_language"]


def _package(tmp_path: Path, companion_languages: list[str]) -> Path:
    """A copy of the shipped main model with a companion (the same files) for some languages."""
    main = tmp_path / "main"
    main.mkdir()
    for name in ("sentiment.tflite", "tokenizer.json"):
        shutil.copy(SHIPPED_DIR / name, main / name)
    shutil.copytree(main, main / "comp")
    meta = json.loads((SHIPPED_DIR / "model.json").read_text(encoding="utf-8"))
    meta.pop("companions", None)
    (main / "comp" / "model.json").write_text(json.dumps(
        {**meta, "version": "comp", "languages": companion_languages}), encoding="utf-8")
    (main / "model.json").write_text(json.dumps(
        {**meta, "languages": ["en"], "companions": ["comp"]}), encoding="utf-8")
    return main / "sentiment.tflite"


def _recording(model: _Model, calls: list[tuple[str, list[str]]]
               ) -> Callable[[Sequence[str]], ScoreBatch]:
    """``model.score`` that also notes which texts reached which model."""
    original = model.score

    def score(texts: Sequence[str]) -> ScoreBatch:
        calls.append((model.version, list(texts)))
        return original(texts)

    return score


def test_companion_models_score_the_languages_they_list(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = SentimentScorer(_package(tmp_path, ["de", "en"]))
    assert scorer.model_languages == ("de", "en")  # en stays with the main model
    assert scorer.version.endswith("+comp:int8-full")
    calls: list[tuple[str, list[str]]] = []
    for m in scorer._models:
        monkeypatch.setattr(m, "score", _recording(m, calls))
    result = scorer.score_posts([SAMPLES["de"], SAMPLES["en"], "😍", SAMPLES["es"]])
    assert result.supported.tolist() == [True, True, True, False]
    assert sorted(calls) == sorted([(scorer._models[0].version, [SAMPLES["en"], "😍"]),
                                    ("comp:int8-full", [SAMPLES["de"]])])


def test_a_companion_that_is_not_a_sub_directory_is_refused(tmp_path: Path) -> None:
    path = _package(tmp_path, ["de"])
    meta = json.loads((path.parent / "model.json").read_text(encoding="utf-8"))
    (path.parent / "model.json").write_text(json.dumps({**meta, "companions": ["../x"]}),
                                            encoding="utf-8")
    with pytest.raises(ModelFileError, match="sub-directory"):
        SentimentScorer(path)


def _main_rows(scorer: SentimentScorer, texts: list[str]) -> list[list[str]]:
    """Each text's raw tokens as the main tokenizer's table rows name them, post by post."""
    rows = scorer.token_rows(texts)
    assert rows is not None
    raws = scorer.tokenizer.table.raws
    posts: list[list[str]] = [[]]
    for row in rows.tolist():
        if row == 0:
            posts.append([])
        else:
            posts[-1].append(raws[row])
    assert posts.pop() == []  # a separator ends every post
    return posts


def test_token_rows_cover_a_batch_routed_to_several_models() -> None:
    """The drivers read the scorer's token rows instead of tokenizing again: a batch split
    between the English model, the companion and unsupported posts must still have them, in
    the main table, post by post (None made the worker tokenize every batch twice)."""
    scorer = SentimentScorer()
    texts = [SAMPLES["de"], SAMPLES["en"], "wo shi zhongguo ren ni hao ma xiexie", SAMPLES["es"],
             "", "@someone 🎉🎉", SAMPLES["ar"], SAMPLES["en"] + " #great"]
    scored = scorer.score_posts(texts)
    assert set(scored.labels.tolist()) >= {PostScores.UNSUPPORTED}  # three routes at least
    assert len(set(scorer._model_of[c] for c in scored.languages if c in scorer._model_of)) == 2
    expected = [raw_tokens([text])[:-1] for text in texts]
    assert _main_rows(scorer, texts) == expected
    assert scorer.token_rows(list(texts)) is None  # rows of another list are not handed out


def test_token_rows_stay_right_after_the_tables_are_reset() -> None:
    """The companion -> main row map is per generation of both tables (each resets at its
    size bound): after a reset the rows must name the same tokens, not stale rows."""
    scorer = SentimentScorer()
    first = [SAMPLES["de"], SAMPLES["fr"], SAMPLES["en"]]
    scorer.score_posts(first)
    assert _main_rows(scorer, first) == [raw_tokens([t])[:-1] for t in first]
    for model in scorer._models:
        model.tokenizer.table.reset()
    second = [SAMPLES["it"] + " nuovo", SAMPLES["es"] + " nuevo"]  # no English post
    scorer.score_posts(second)
    assert _main_rows(scorer, second) == [raw_tokens([t])[:-1] for t in second]


def test_the_english_prescreen_takes_hostile_texts_without_harm_to_their_neighbours() -> None:
    """Huge, NUL-filled, surrogate-bearing, empty and whitespace-only texts go through the
    pre-screen beside ordinary posts: one code each, the neighbours' codes as when alone, and
    the pre-screen reads a bounded prefix (a 1.6 MB text costs what its first 600 chars do)."""
    import time

    from model.languages import MAX_DETECT_CHARS, plainly_english

    hostile = ["the and this is " * 100_000 + "das ist nicht gut", "\x00\x00 the and \x00",
               "\ud800 this is the one", "", " " * 10_000, "the", "🙂" * 50_000]
    good = ["I love this phone and the camera is great", "ich liebe dieses Handy, es ist toll",
            "odio este producto, es una basura"]
    alone = [LanguageRouter(MODEL_LANGUAGES).route([t]).codes[0] for t in good]
    texts = [t for pair in zip(hostile, good * 3, strict=False) for t in pair] + hostile[3:]
    router = LanguageRouter(MODEL_LANGUAGES)
    t0 = time.perf_counter()
    codes = router.route(texts).codes
    assert time.perf_counter() - t0 < 5.0
    assert len(codes) == len(texts)
    assert alone == ["en", "de", "es"]
    assert codes[1:14:2] == (alone * 3)[:7]  # every good post beside a hostile one
    assert codes[0] == "en"  # its first MAX_DETECT_CHARS chars are plainly English
    assert plainly_english(hostile[0][:MAX_DETECT_CHARS])


PLAIN = {  # posts the pre-screen names without CLD2: two own function words, none of another
    "de": ["ich weiß nicht, ob das heute noch klappt", "@user das ist wirklich nicht gut"],
    "es": ["no sé por qué los precios están tan altos hoy", "yo también quiero uno, muy bueno"],
    "fr": ["je ne sais pas pourquoi elle est partie", "c'est vraiment très bien, merci"],
    "it": ["non so perché questo telefono è così lento", "grazie mille, sono molto contento"],
    "pt": ["não sei por que isso está tão caro hoje", "você também quer uma? tá muito bom"],
    "ar": ["أحب هذا الهاتف كثيرا الكاميرا رائعة", "RT @user: الخدمة سيئة جدا ولم يرد علي احد"],
    # romanized Hindi: CLD2 and py3langid take these for Shona, Swahili, Estonian...
    "hi": ["yaar ye phone bahut accha hai aur camera bhi", "mujhe nahi pata kya hua tha",
           "@user bhai kuch toh karo yaar 😡"],
}
DOUBTFUL = [  # the pre-screen names none of these: CLD2 (and py3langid) decide
    "avui fa molt bon temps i anem a la platja amb els amics",  # Catalan
    "hoxe vou á praia cos amigos porque fai moi bo tempo",  # Galician
    "ik weet niet of dat vandaag nog lukt",  # Dutch
    "azi este foarte frumos si mergem la mare",  # Romanian
    "yaar this phone is bahut accha hai",  # romanized Hindi with English function words
    "ho hai",  # Hindi or Italian: words both use decide nothing
    "ich liebe es, c'est vraiment très bien",  # German and French
    "das Handy",  # one German word only
    "این گوشی واقعا عالی است و دوربینش خیلی خوب است",  # Persian (its own letters)
    "من امروز به خانه رفتم و خوب بود",  # Persian in Arabic letters only (its words)
    "یہ فون بہت اچھا ہے اور کیمرہ بھی",  # Urdu
    "حلو",  # Arabic, too short to be sure
    "@someone @another_one @third_person #hashtag https://t.co/abc جميل جدا",  # mostly ASCII
    "мы не знаем почему это так",  # Cyrillic
]


def test_plain_posts_of_the_other_model_languages_skip_cld2(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside plainly English posts, a Latin-1 post with two function words of exactly one of
    German, Spanish, French, Italian, Portuguese or romanized Hindi (and none of another
    language, English or a near one: Catalan, Galician, Dutch, Romanian...) and an Arabic-alphabet
    post (no Persian or Urdu letter or word, few ASCII letters) have their language without
    CLD2 (~7 us a post saved, ~45% of a UMSAB mix); the doubtful ones still go to CLD2 and
    come out as without the pre-screen."""
    import model.languages as languages

    plain = [t for texts in PLAIN.values() for t in texts]
    want = [code for code, texts in PLAIN.items() for _ in texts]
    assert [languages.plain_language(t) for t in plain] == want
    assert [languages.plain_language(t) for t in DOUBTFUL] == [None] * len(DOUBTFUL)
    seen = cld2_calls(monkeypatch)
    router = LanguageRouter(MODEL_LANGUAGES)
    codes = router.route(plain + DOUBTFUL).codes
    assert codes[:len(plain)] == want
    assert len(seen) == len(DOUBTFUL)  # CLD2 saw only the doubtful ones
    without = LanguageDetector(MODEL_LANGUAGES, prescreen=False)
    latin = [i for i, code in enumerate(want) if code != "hi"]
    assert [without.detect(plain)[i] for i in latin] == [want[i] for i in latin]  # as CLD2
    assert "hi" not in without.detect(PLAIN["hi"])  # the one change: unsupported before
    assert without.detect(DOUBTFUL) == codes[len(plain):]
    # a language the detector does not focus on is never named by the pre-screen
    seen.clear()
    no_german = LanguageDetector(("en", "es"))
    assert no_german.detect(PLAIN["de"] + PLAIN["es"])[2:] == ["es", "es"]
    assert len(seen) == 2
    assert not LanguageDetector(("ja", "ko")).prescreen


def test_the_prescreen_takes_hostile_texts_of_every_script_without_harm() -> None:
    """Huge, NUL-filled, surrogate-bearing texts in Latin and Arabic script go through the
    pre-screen beside good posts: one code each, the neighbours' codes as when alone, a
    bounded prefix read (a multi-megabyte post costs what its first 600 characters do)."""
    import time

    from model.languages import MAX_DETECT_CHARS, plain_language

    hostile = ["ich bin nicht da " * 200_000 + "the and of", "\x00 das ist \x00 nicht \x00",
               "\ud800 das ist nicht \udfff gut", "هذا جميل جدا " * 300_000,
               "\ud800 هذا الهاتف \x00 جميل جدا \udc00", "é" * 1_000_000, "ا" * 7,
               "\x00" * 100_000, "ß\ud83d" * 1000]
    good = [PLAIN["de"][0], PLAIN["ar"][0], PLAIN["es"][0], "I love this phone and its camera"]
    router = LanguageRouter(MODEL_LANGUAGES)
    alone = [router.route([t]).codes[0] for t in good]
    assert alone == ["de", "ar", "es", "en"]
    texts = [t for h in hostile for t in (h, good[hostile.index(h) % 4])]
    t0 = time.perf_counter()
    codes = router.route(texts).codes
    assert time.perf_counter() - t0 < 5.0
    assert len(codes) == len(texts)
    assert codes[1::2] == [good[i % 4] and alone[i % 4] for i in range(len(hostile))]
    assert codes[0] == "de" and codes[2] == "de" and codes[4] == "de" and codes[6] == "ar"
    assert codes[8] == "ar"  # surrogates and NULs are neither letters nor words
    for text in hostile:
        assert plain_language(text[:MAX_DETECT_CHARS]) in (None, "de", "ar", "en")
