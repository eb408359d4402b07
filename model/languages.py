"""Each post's language, and whether the model scores it: detection per batch, routing rules.

Rules, in order:
  1. an explicit language on the post (e.g. the platform's ``lang`` field) wins. Tags are
     reduced to their primary ISO 639 subtag ("pt-BR" -> "pt") and the platforms' legacy codes
     are mapped ("iw" -> "he", "in" -> "id"); ``None``, "", "und", "zxx" and anything that is
     not a language tag mean "not given";
  2. otherwise a post whose language is plain (``plain_language``: two function words of one
     language and none of another, or the Arabic alphabet alone) has it, without CLD2;
     otherwise CLD2 (pycld2, C) guesses on the text without @mentions, URLs, escapes and ``#``;
  3. when CLD2's guess is not one of the ``focus`` languages (those the model knows), or it
     cannot tell, py3langid (a naive Bayes over byte n-grams, 97 languages) decides. Measured
     on UMSAB test (ops/bench/langid.py): CLD2 alone is fast but takes short German, French
     and Portuguese tweets for other languages; the second opinion on those few posts only
     lifts accuracy from 94.0% to 95.2%, and 0.6% of English posts need it;
  4. a post whose language neither knows is "und" (undetermined): never forced into a
     supported language, so it is never scored;
  5. a post without letters (emoji, emoticons, numbers, mentions, URLs only) is "zxx" (no
     linguistic content): its emoji read the same in every language, so it is scored.
A post is *supported* when its language is one of the languages to score (``enabled``) or
"zxx".

Both detectors ship their models inside their wheels (no download at run time). Neither raises
for any input: text that they reject (invalid UTF-8, lone surrogates) comes out "und". Only the
first ``MAX_DETECT_CHARS`` characters of a post are looked at, so time per post is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np
import numpy.typing as npt
import pycld2
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from model.errors import LanguageSettingError
from model.langid_batch import BatchClassifier

UNDETERMINED = "und"
ENGLISH = "en"
NO_WORDS = "zxx"  # ISO 639-2 "no linguistic content": emoji, emoticons, numbers, mentions only
MAX_DETECT_CHARS = 600
# Twitter's lang field uses legacy ISO 639 codes for a few languages; py3langid names some
# Arabic dialects, which the model reads as Arabic.
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "": UNDETERMINED,
            **dict.fromkeys(("arz", "ary", "arb", "apc", "ajp", "acm", "aeb", "ars"), "ar")}
# Twitter's and CLD2's codes for "no language" or "not a language".
_NO_LANGUAGE = frozenset(("un", "xx", "xxx", "qme", "qht", "qam", "qct", "art"))
# The lookahead on the first character lets the engine skip most positions at once: 3x faster
# on a batch of tweets than the bare alternation (1.3 vs 3.8 us per post), same matches.
_NOISE = re.compile(r"(?=[@hw\\&#_R])(?:@\w+|(?:https?://|www\.)\S+|\bhttps?\b|\\u[0-9a-fA-F]{4}"
                    r"|&\w+;|[#_]|\bRT\b)")
_LETTER = re.compile(r"[^\W\d_]")
_SEP = "\x1e"  # ASCII record separator: joins a batch for one regex pass
_ASK = "?"  # marks a CLD2 code that py3langid must confirm (never a language code)
# pycld2.detect's arguments after the text, by position: isPlainText=True, no hints, no vectors,
# no debugging, bestEffort=True. The same call as the keywords, ~0.5 us cheaper per post (its
# C wrapper parses 14 keyword arguments by name; ~8% of CLD2's time on a tweet).
_CLD2_ARGS = (True, None, None, None, None, False, False, False, False, False, False, False, True)
_cld2 = pycld2.detect


# -- the English pre-screen (``plainly_english``) --
# English function words that are not words of the other model languages (their stopword lists:
# "a", "me", "in", "so", "he", "has" are), counted as whole lower-case words.
_ENGLISH_WORDS = """
about above after again against all also and any are aren't at be because been before being
below between both but by can can't cannot could couldn't did didn't does doesn't doing don't
down during each few for from further get gets got had hadn't have haven't having here here's
hers herself him himself his how how's i'd i'll i'm i've if into is isn't it it's its itself
just let let's more most my myself not of off only other our ours ourselves out over own same
she she'd she'll she's should shouldn't some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through to
too under until up us very was wasn't we we'd we'll we're we've were weren't what what's when
where where's which while who who's whom why will with won't would wouldn't you you'd you'll
you're you've your yours yourself yourselves
"""
_ENGLISH_MARKERS = frozenset(_ENGLISH_WORDS.split())
# Words that say "maybe not English": function words of the other model languages (German,
# Spanish, French, Italian, Portuguese, romanized Hindi) and of languages the model does not
# score whose tweets are often plain ASCII (Indonesian/Malay, Tagalog, Dutch, Afrikaans, the
# Scandinavian languages, Polish, Romanian, Swahili, Turkish, Catalan, Latin). One of them
# sends the post to CLD2, so a code-mixed post is detected as before.
_OTHER_WORDS = """
aber ad al algo alla alle als anche ao aos au auch auf aus aux avec bei bis bist c'est ce ces
che chi ci com como con cosa da dal dann dans das dass de dei del della dem den der des di dich
diese dieser dir doch dos du e ein eine einem einen einer el ela ele eles ella elle ellos em en
es essa esse est esta este esto fue gegen gli ha haben hatte hay ho ich ihm ihn ihr il ils io
isso ist j'ai ja je jetzt kann kein keine la las le lei les leur lo loro los lui ma mais mas
mein meine mes meu mi mia mich minha mio mir mit moi mon muito muy na nach nada nas ne nel nella
ni nicht noch noi non nos nous nur o oder ont os ou par para pas pela pelo per pero por porque
qu quando que questa questo qui se sehr sein sem ser ses seu si sich sie sind sobre sono sont su
sua suis suo sur sus ta te tem tes ti tiene todo toi ton tout tra tu um uma un una und une uno
uns unser voce voi von vor vos votre vous weil wenn werden wie wir wird wo y ya yo zu zum zur
hai hain ka ki ke ko se nahi nhi kya aur bhi yeh ye woh wo tha thi kar karo mein mai hum tum aap
ap bhai ji na hoga raha rahe rahi kuch sab apna apne yang dan di ini itu tidak saya aku kamu
dari untuk dengan ada juga sudah akan bisa apa gak ga nya lagi sama banget aja udah ang ng sa
mga mo ako ikaw siya hindi talaga lang po ba naman yung kasi ko het een van ik niet dat wat zijn
maar op voor met ook nog wel heb hij zij je jij die nie ek jy og er det jeg ikke att och som pa
har til av jag inte med nie jest sie jak tak ze po mnie ale czy si la cu nu pe ca mai ya wa kwa
ni bir ve bu ne icin amb els per est sunt
"""
_NOT_ENGLISH = frozenset(_OTHER_WORDS.split())
# a letter outside ASCII (one character class: ~2x faster than a lookahead per character)
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f\W\d_]")


def plainly_english(text: str) -> bool:
    """True when a post's text is English beyond doubt, so CLD2 need not be asked: no letter
    outside ASCII, at least two distinct English function words (``_ENGLISH_MARKERS``) and none
    of another language's (``_NOT_ENGLISH``), as whitespace-separated lower-case words (a word
    with punctuation attached does not count: conservative; @mentions, URLs and hashtags are
    words of neither list, so the text needs no ``strip_noise`` first). ~1.6 us a post against
    ~8 us for the noise regex and CLD2; what it changes: ``ops/bench/language_prescreen.py``."""
    if not text.isascii() and _NON_ASCII_LETTER.search(text):
        return False
    words = text.lower().split()
    return _NOT_ENGLISH.isdisjoint(words) and len(_ENGLISH_MARKERS.intersection(words)) >= 2


# -- the other model languages' pre-screen (``plain_language``) --
# Function words of each Latin-script model language, as typed in tweets (with and without
# accents). Only a language's *own* words decide (``_LATIN_MARKERS``: a word two of these lists
# share, e.g. "que", "de", "la", "non", "per", decides nothing); a word of another list, of
# English (``_ENGLISH_MARKERS``) or of a near language the model does not score
# (``_NEAR_WORDS``) sends the post to CLD2.
_LATIN_WORDS = {
    "de": """
aber alle also auch auf aus bei beim bin bist bitte dann dass daß dem den der dich die diese
diesem diesen dieser dieses dir doch durch ein eine einem einen einer eines einfach er etwas
euch für gegen gibt gut hab habe haben hast hatte heute ich ihm ihn ihr im immer ist jetzt kann
kein keine keinen meine meinem meinen meiner mich mir mit muss musst nach nicht nichts noch nun
nur oder schon sehr sich sie sind uns unser unsere viel vom von warum was weil wenn werden
wieder will wir wird wirklich wurde zu zum zur zwischen über
""",
    "es": """
ahora ahí al alguien algún aqui aquí aunque año bueno cuando cuándo cómo dan del día dónde ella
ellos entonces eres esa esas ese eso esos estaba estamos estar esto estoy está están estás fue
gracias hace hacer hasta hay hoy las los mañana mejor mucha mucho muchos muy más nosotros nuevo
pero porqué pq puedo pues quiero qué siempre soy sus también tb tener tengo tiene tienen todavía
tú usted ustedes van ve voy y yo
""",
    "fr": """
au aussi aux avec avoir beaucoup c'est ce cela cette ceux d'un d'une dans des dit déjà elle
elles encore est est-ce fait il je les leur leurs merci met moi même n'est nous oui par parce
pas plus pour pourquoi qu'il qu'on quand quelle qui quoi rien sa sont suis sur toi toujours tous
tout trop très une uns vous ça été être
""",
    "it": """
abbiamo adesso al alla alle allo anche ancora avere ce che chi ci cioè come degli dei del della
delle di dopo ecco essere fatto gli grazie hai hanno ho il io molto nel nella nelle niente oggi
perché però più poi proprio quella quelle quello questa queste questi questo qui quindi sa
sempre senza sia siamo sono sta stato sul sulla troppo tutti tutto vai voce è é
""",
    "pt": """
agora ainda aqui assim até bem bom coisa com come depois do ela ele essa esse estar estou está
estão foi hj hoje isso já melhor minha muita muito nao não pq pra quem quero sempre sono são só
também tb tem to tudo tá tão tô uma uns vai vc voce você vou é
""",
    # romanized Hindi (Hinglish), as UMSAB's Hindi is typed: CLD2 and py3langid know only the
    # Devanagari script and take these posts for Shona, Swahili, Estonian..., unsupported.
    "hi": """
aap abhi acha accha achha apna apne aur bahut bhai bhi bohot gaya gayi hai hain hoga humko
isko ka kab kahan kaisa kaise karna karo ke ki ko koi kuch kya kyo kyon kyu kyun mera meri
mujhe nahi nahin nhi raha rahe rahi sab sirf tera teri tha thi toh tujhe tumko uska uski usko
wala wali yaar ye yeh
""",
}
# Function words of languages near the ones above that the model does not score, often typed
# in Latin script: Catalan, Galician, Occitan, Dutch/Afrikaans, the Scandinavian languages,
# Romanian, Polish, Indonesian/Malay, Tagalog, Swahili, Turkish; and romanized Hindi's "ho",
# which Italian writes too (I have), so that it decides nothing.
_NEAR_WORDS = """
això aixo amb aquest aquesta dels els ets fins gràcies hi jo molt molts nosaltres perquè pels
sóc són també teu tinc vull vosaltres és
cando coa cunha dun dunha grazas hoxe iso isto moi moito nunha polo pola tamén unha xa aínda
aquò dins ongan qu'es
aan bij deze een geen hem het hoe ik jij maar mijn naar niet nog ook op toch uit voor waar wat
wel zij zijn ek jy hulle
af det ej eller hun ikke jeg med mig og på som til
acest aceasta foarte sunt unde și care nu pe cu
jest się tak ale czy jak już
yang ini itu tidak saya aku kamu dari untuk dengan ada juga sudah akan bisa gak nya lagi
ang ng mga ako ikaw siya hindi talaga lang po naman yung kasi
kwa bir bu için çok
ho
"""


def _latin_markers() -> dict[str, str]:
    raw = {lang: frozenset(words.split()) for lang, words in _LATIN_WORDS.items()}
    near = frozenset(_NEAR_WORDS.split()) | _ENGLISH_MARKERS
    found: dict[str, str] = {}
    for lang, words in raw.items():
        others = near.union(*(w for other, w in raw.items() if other != lang))
        found.update(dict.fromkeys(words - others, lang))
    # a near language's or English word that no list above holds rules every language out
    found.update(dict.fromkeys(near.difference(*raw.values()), ""))
    return found


_LATIN_MARKERS = _latin_markers()
_LATIN_WORDS_ANY = frozenset(_LATIN_MARKERS)
# Every word either pre-screen looks at: one pass over a post's words finds them all.
_SCREEN_WORDS = _LATIN_WORDS_ANY | _ENGLISH_MARKERS | _NOT_ENGLISH
# A letter outside Latin-1 (one character class: ~3x faster than a lookahead per character).
_NON_LATIN1_LETTER = re.compile(r"[^\x00-\xff\W\d_]")
# Arabic script: the letters of the Arabic alphabet itself (and the tatweel). Persian, Urdu,
# Pashto, Kurdish, Sindhi and Uyghur add letters of their own (پ چ ژ گ ک ی ٹ ڈ ڑ ں ے ہ ە...):
# one of them, or any letter of another script but ASCII, sends the post to CLD2.
_NOT_ARABIC_LETTER = re.compile(r"[^\x00-\x7f\u0621-\u063a\u0640-\u064a\W\d_]")
# The Arabic alphabet's letters are single bytes in Windows-1256: a post's letters are counted
# in C (encode, then delete every other byte), not one by one in Python or a regex.
_ARABIC_BYTES = "".join(map(chr, [*range(0x621, 0x63B), *range(0x641, 0x64B)])).encode("cp1256")
_ASCII_LETTER_BYTES = bytes(range(65, 91)) + bytes(range(97, 123))
_BUT_ARABIC = bytes(sorted(set(range(256)) - set(_ARABIC_BYTES)))
_BUT_ASCII_LETTERS = bytes(sorted(set(range(256)) - set(_ASCII_LETTER_BYTES)))
_MIN_ARABIC_LETTERS = 8
# Persian words written with Arabic letters only (a short Persian post may hold no letter of
# its own: "من امروز به خانه رفتم"): one of them sends the post to CLD2.
_PERSIAN_WORDS = frozenset(["است", "از", "را", "شد", "بود", "هست", "خود", "رفت", "رفتم", "شده",
                            "بودم", "خواهد", "اند"])
# every language ``plain_language`` may name
PLAIN_LANGUAGES = frozenset({ENGLISH, "ar", *_LATIN_WORDS})


def plain_language(text: str) -> str | None:
    """The language of a post whose text leaves no doubt, so CLD2 need not be asked, or None:
    English (as ``plainly_english``); German, Spanish, French, Italian or Portuguese when its
    letters are Latin-1 and its words hold two distinct function words of that language and
    none of another (``_LATIN_MARKERS``); Arabic when its letters are the Arabic alphabet's (no
    Persian, Urdu... letter nor Persian word), at least ``_MIN_ARABIC_LETTERS`` of them, and its
    ASCII letters (mentions, URLs, a word) fewer than a quarter of them. The caller bounds the text
    (``MAX_DETECT_CHARS``); what it changes: ``ops/bench/language_prescreen.py``."""
    if text.isascii() or not _NON_ASCII_LETTER.search(text):
        found = _SCREEN_WORDS.intersection(text.lower().split())
        if _NOT_ENGLISH.isdisjoint(found) and len(_ENGLISH_MARKERS.intersection(found)) >= 2:
            return ENGLISH
        return _latin_language(found)
    if not _NON_LATIN1_LETTER.search(text):
        return _latin_language(_SCREEN_WORDS.intersection(text.lower().split()))
    if not _NOT_ARABIC_LETTER.search(text):
        coded = text.encode("cp1256", "ignore")
        arabic = len(coded.translate(None, _BUT_ARABIC))
        latin = len(coded.translate(None, _BUT_ASCII_LETTERS))
        if (arabic >= _MIN_ARABIC_LETTERS and 4 * latin < arabic
                and _PERSIAN_WORDS.isdisjoint(text.split())):
            return "ar"
    return None


def _latin_language(found: frozenset[str]) -> str | None:
    """The Latin-script model language whose own function words (two distinct ones at least)
    are the only ones of ``_LATIN_MARKERS`` among a post's words ``found``, or None."""
    hits = _LATIN_WORDS_ANY.intersection(found)
    if len(hits) < 2:
        return None
    langs = set(map(_LATIN_MARKERS.__getitem__, hits))
    return langs.pop() or None if len(langs) == 1 else None


def normalize(tag: str | None) -> str:
    """The primary ISO 639 code of a language tag ("pt-BR" -> "pt"), or "und"."""
    if tag is None:
        return UNDETERMINED
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    code = _ALIASES.get(code, code)
    return UNDETERMINED if (code in _NO_LANGUAGE or not code.isascii() or not code.isalpha()
                            or len(code) > 3) else code


# Every language an explicit tag may name: CLD2's ~180 codes. Other tags are ignored (the text
# is detected instead), so the set of codes a batch can hold stays bounded: these, py3langid's
# 97 and "und"/"zxx" (at most ~210), safe to use in key names and per-language counts.
KNOWN_LANGUAGES = frozenset(normalize(code) for _, code in pycld2.LANGUAGES) - {UNDETERMINED}


def strip_noise(text: str) -> str:
    """The text a detector looks at: no @mentions, URLs, escapes, '#' or 'RT', bounded length."""
    return _NOISE.sub(" ", text[:MAX_DETECT_CHARS])


@dataclass(frozen=True)
class LanguageBatch:
    """The languages of a batch, row i for post i."""

    codes: list[str]  # ISO 639-1 (or 639-3 when there is none) or "und"
    supported: npt.NDArray[np.bool_]  # True: the model scores this post
    explicit: npt.NDArray[np.bool_]  # True: the language came with the post

    def __len__(self) -> int:
        return len(self.codes)


class LanguageDetector:
    """Detects the language of each post of a batch (CLD2, then py3langid where needed)."""

    def __init__(self, focus: Iterable[str], prescreen: bool = True) -> None:
        self.focus = frozenset(normalize(code) for code in focus)
        # posts whose language is plain (``plain_language``) skip CLD2, for the focus languages
        self._plain = self.focus & PLAIN_LANGUAGES
        self.prescreen = prescreen and bool(self._plain)
        self._codes: dict[str, str] = {}
        self._ask: dict[str, str] = {}  # "?<code>" (second opinion wanted) -> CLD2's code

    @property
    def codes(self) -> frozenset[str]:
        """Every code ``detect`` can return (bounded: ~210)."""
        second = {normalize(str(code)) for code in self._second.nb_classes}
        return KNOWN_LANGUAGES | second | {UNDETERMINED, NO_WORDS}

    def load(self) -> None:
        """Load py3langid now (~1.5-2 s of CPU, once), not in the first batch that holds a post
        CLD2 does not place: a stream's worker calls it at start, so that no batch stalls on
        it. Callers that detect a few texts need not: it loads when first needed."""
        self._second_batch  # noqa: B018 -- the cached property loads both

    @cached_property
    def _second(self) -> LanguageIdentifier:
        return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE)  # ~1.5 s, once

    @cached_property
    def _second_batch(self) -> BatchClassifier:
        return BatchClassifier(self._second)

    def detect(self, texts: Sequence[str]) -> list[str]:
        """One language code (or "und", "zxx") per text. A text whose language is plain
        (``plain_language``) and a focus language has it; the others: CLD2 on each distinct
        text (after ``strip_noise``), then py3langid on the texts CLD2 does not place, all of
        them in one batched pass; copies of a text (reposts) get the code of the first."""
        if not self.prescreen:
            return self._detect_distinct(texts)
        plain = self._plain
        found = [plain_language(text[:MAX_DETECT_CHARS]) for text in texts]
        rest = [i for i, code in enumerate(found) if code not in plain]
        if len(rest) == len(texts):
            return self._detect_distinct(texts)
        codes = cast("list[str]", found)  # each None is in ``rest``, replaced below
        if rest:  # the noise regex too only on the texts CLD2 must see
            for i, code in zip(rest, self._detect_distinct([texts[i] for i in rest]),
                               strict=True):
                codes[i] = code
        return codes

    def _detect_distinct(self, texts: Sequence[str]) -> list[str]:
        stripped = _strip_batch(texts)
        distinct = list(dict.fromkeys(stripped))  # ~0.1 us a post; a repost costs no detection
        if len(distinct) < len(stripped):
            found = dict(zip(distinct, self._detect(distinct), strict=True))
            return [found[text] for text in stripped]
        return self._detect(stripped)

    def _detect(self, stripped: list[str]) -> list[str]:
        first = self._first
        codes = [first(text) for text in stripped]
        todo = [i for i, code in enumerate(codes) if code in self._ask]
        if todo:
            try:
                second = self._second_batch.classify([stripped[i] for i in todo])
            except (ValueError, UnicodeError):  # never seen; the per-text path decides
                second = [self._one_second(stripped[i], codes[i]) for i in todo]
            for i, code in zip(todo, second, strict=True):
                codes[i] = normalize(code)
        return [self._ask.get(code, code) for code in codes]

    def _first(self, text: str) -> str:
        """CLD2's code when it is a focus language, "zxx" without letters, else the CLD2 code
        marked for a second opinion (a key of ``_ask``)."""
        try:
            guess = _cld2(text, *_CLD2_ARGS)[2][0][1]
        except (pycld2.error, ValueError, UnicodeError):  # e.g. a lone surrogate
            guess = "un"
        code = self._codes.get(guess)
        if code is None:  # CLD2 knows ~160 codes: the memo stays small
            code = self._codes[guess] = normalize(guess)
            self._ask[_ASK + code] = code
        if code in self.focus:  # the common path: one C call and a dict look-up per post
            return code
        if not _LETTER.search(text):  # emoji, numbers, mentions only: no language to tell
            return NO_WORDS
        return _ASK + code

    def _one_second(self, text: str, marked: str) -> str:
        try:
            return str(self._second.classify(text)[0])
        except (ValueError, UnicodeError):
            return self._ask[marked]


def _strip_batch(texts: Sequence[str]) -> list[str]:
    """strip_noise on a whole batch with one regex pass (per post when a post holds the
    separator itself)."""
    joined = _SEP.join([text[:MAX_DETECT_CHARS] for text in texts])
    parts = _NOISE.sub(" ", joined).split(_SEP)
    return parts if len(parts) == len(texts) else [strip_noise(text) for text in texts]


class LanguageRouter:
    """Says, for each post of a batch, its language and whether the model scores it.

    ``model_languages``: what the model was trained for (model.json); ``enabled``: the ones to
    score (SENTISTREAM_LANGUAGES), a subset of them; empty or None = all of them.
    """

    def __init__(self, model_languages: Iterable[str],
                 enabled: Iterable[str] | None = None) -> None:
        self.model_languages = tuple(sorted({normalize(c) for c in model_languages}))
        wanted = {normalize(c) for c in enabled or ()} or set(self.model_languages)
        unknown = sorted(wanted - set(self.model_languages))
        if unknown:
            raise LanguageSettingError(
                f"the model cannot score {', '.join(unknown)}: it knows "
                f"{', '.join(self.model_languages)}; set SENTISTREAM_LANGUAGES to some of "
                "them (or leave it empty for all)")
        self.enabled = tuple(sorted(wanted))
        # A post without words has no language; its emoji and emoticons read the same in
        # every language the model knows, so it is scored.
        self._enabled = frozenset(wanted | {NO_WORDS})
        self.detector = LanguageDetector(self.model_languages)
        self._known = KNOWN_LANGUAGES | set(self.model_languages)

    def route(self, texts: Sequence[str],
              explicit: Sequence[str | None] | None = None) -> LanguageBatch:
        """Languages of ``texts``; ``explicit[i]``, when it is a language tag, wins."""
        if explicit is not None and len(explicit) != len(texts):
            raise ValueError(f"{len(explicit)} explicit languages for {len(texts)} texts")
        if explicit is None or not any(explicit):  # None or "" each: every post is detected
            codes = self.detector.detect(texts)  # (skips ~0.3 us a post of list building)
            return LanguageBatch(codes, self._supported(codes), np.zeros(len(codes), dtype=bool))
        codes = [normalize(lang) for lang in explicit]
        given = [code in self._known for code in codes]
        todo = [i for i, has in enumerate(given) if not has]
        found = self.detector.detect(texts if len(todo) == len(texts) else
                                     [texts[i] for i in todo])
        for i, code in zip(todo, found, strict=True):
            codes[i] = code
        return LanguageBatch(codes, self._supported(codes), np.asarray(given, dtype=bool))

    def _supported(self, codes: list[str]) -> npt.NDArray[np.bool_]:
        return np.fromiter((c in self._enabled for c in codes), dtype=bool, count=len(codes))


def parse_languages(value: str) -> tuple[str, ...]:
    """A comma-separated list of language codes (SENTISTREAM_LANGUAGES), normalised."""
    return tuple(sorted({normalize(part) for part in value.split(",") if part.strip()}))
