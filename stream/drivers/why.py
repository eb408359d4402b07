"""Why did a brand's sentiment move: its driver terms over a window, read from Redis.

For a brand, a window and its end time, one pipelined round trip reads (all keys carry the
brand's hash tag, so this works on a cluster too):

* the window's hour term sets of each class, summed by Redis (``ZUNION ... WITHSCORES``);
* the baseline, summed the same way: the hour term sets of the ``baseline_days`` whole UTC days
  before the window's first day and of that first day's hours before the window, so the
  baseline ends where the window starts and a burst never dilutes itself. There are no day term
  sets: a day's terms are the sum of its 24 hour sets (keeping a day set per brand and class
  cost the worker's script one more Space-Saving update per term and group; README "Why
  sentiment moved", "Measured cost"), which also keeps the window and its baseline counted
  alike (top K per hour on both sides);
* the window's example-post lists (newest hour first).

The terms are scored with ``fightin_words.top_drivers`` (log-odds with an informative Dirichlet
prior, the prior being the brand's negative and positive vocabulary, baseline and window). The
reference of a class is the same class over the baseline, so a driver is *newly* frequent.
A brand without that history (a baseline class with fewer term-posts than the prior's strength
``a0`` = 1000, e.g. a brand first seen this hour) would be scored against little more than the
prior, i.e. against the window itself, and nothing would stand out. Its drivers are then what
its newest posts of the class (the newest ``RECENT_POSTS`` of the example lists) say more often
than the rest of the window's posts, of both classes: what changed *just now*, which is what an
alert asks. (The window's other class alone named the standing complaint words, "never",
"buying", that never appear in praise; the rest of the class alone let a topic misread as
positive by the model become a positive driver.) Each driver gets up to
``EXAMPLES_PER_TERM`` example posts: the newest posts of its class whose text holds the term
as a whole word (``_with_examples``).

Used by the readers (`sentistream why`, ``GET /api/why``) and by the worker's alert hook,
which imports only this module, never the query package's reader.

Cost, bounded by the window: a window is at most ``MAX_WINDOW_S`` (7 days = 168 hour sets per
class), the baseline spans at most 60 days plus 23 hours of hour sets (1,463 per class; 191 with
the default 7 days; the settings refuse an hour retention that would expire part of it:
``sentistream.settings_check.WHY_RULES``) and reads at most ``MAX_BASELINE_SETS`` (192) of them
per class, an evenly spread sample of a longer one; each set holds at most K terms (the
writer's top-K), each example list at most 64 posts. See ops/bench/why_bench.py for the time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from stream.drivers.fightin_words import DEFAULT_A0, Driver, top_drivers
from stream.drivers.terms import TermExtractor
from stream.errors import StreamError
from stream.schema.keys import (
    MAX_WHY_WINDOW_S,
    RESOLUTIONS,
    KeyScheme,
    bucket_start,
    window_buckets,
)

CLASSES = {"negative": "neg", "positive": "pos"}
EXAMPLES_PER_TERM = 2
RECENT_POSTS = 64  # newest posts a brand without history is explained by (one hour's list)
MAX_WINDOW_S = MAX_WHY_WINDOW_S
MAX_BASELINE_DAYS = 60
MAX_TERMS = 50
# Hour sets per class one answer sums for its baseline at most: what the default 7-day baseline
# reads at most (7 days + 23 hours). A longer baseline is read as every stride-th hour, each counted
# stride times (``WhyPlan``; 60 days: 1 in 8). Redis' ZUNION costs per member summed: a 60-day
# baseline read whole (1,463 sets per class, 128 terms each) took p50 83 ms, p95 121 ms for a 24 h
# window, past the 100 ms target, and ~2.5x the Redis CPU of a 1-in-5 read (README "Why sentiment
# moved", ops/bench/results/why_bench-60d-s7r.md).
MAX_BASELINE_SETS = 8 * 24
HOUR, DAY = RESOLUTIONS["h"], RESOLUTIONS["d"]


class WhyConfigError(StreamError):
    """SENTISTREAM_WHY_BASELINE_DAYS or SENTISTREAM_WHY_TERMS is out of range; fix it. (The
    settings' start-up check refuses both first; this guards direct callers.)"""

    exit_code = 2
    http_status = 500  # the server's configuration, not the request, is wrong


def check_limits(baseline_days: int, terms: int) -> None:
    if not 1 <= baseline_days <= MAX_BASELINE_DAYS:
        raise WhyConfigError(f"SENTISTREAM_WHY_BASELINE_DAYS={baseline_days}: use 1 to "
                             f"{MAX_BASELINE_DAYS}")
    if not 1 <= terms <= MAX_TERMS:
        raise WhyConfigError(f"SENTISTREAM_WHY_TERMS={terms}: use 1 to {MAX_TERMS}")


@dataclass(frozen=True)
class WhyPlan:
    """The hour buckets one answer reads: the window's and its baseline's.

    ``base_hours`` is every hour the baseline spans; ``base_read`` the ones read, each weighted
    ``stride``: all of them up to MAX_BASELINE_SETS, else one hour in ``stride`` (``_sample``),
    shifted from day to day so that every hour of the day is read equally often (the daily cycle
    is sampled evenly), and anchored on the epoch, not the window, so answers an hour apart read
    the same hours. Against a long baseline the strong drivers' z-scores hardly move (the
    window's variance is the large term); terms rare in the baseline, whose sampled count varies
    most, move more (tests/stream/drivers/test_why.py, 60 days: the burst's terms within 5%,
    chance words' ranks shuffled)."""

    hours: list[int]
    base_hours: list[int]
    stride: int = 1

    @classmethod
    def of(cls, end: float, window_s: int, baseline_days: int) -> WhyPlan:
        hours = window_buckets(end, window_s, "h")
        first_day = bucket_start(hours[0], "d")
        base = list(range(first_day - baseline_days * DAY, hours[0], HOUR))
        return cls(hours, base, _stride(base))

    @property
    def base_read(self) -> list[int]:
        return _sample(self.base_hours, self.stride)


def _stride(hours: list[int]) -> int:
    stride = max(1, -(-len(hours) // MAX_BASELINE_SETS))
    while len(_sample(hours, stride)) > MAX_BASELINE_SETS:
        stride += 1
    return stride


def _sample(hours: list[int], stride: int) -> list[int]:
    """One hour in ``stride``: hour number + turn x day number a multiple of the stride. With
    24 + turn coprime with the stride, each day's picks shift by a different residue, so over
    ``stride`` days every hour of the day is picked exactly once."""
    if stride == 1:
        return hours
    turn = next(r for r in range(stride) if math.gcd(24 + r, stride) == 1)
    return [h for h in hours if (h // HOUR + turn * (h // DAY)) % stride == 0]


@dataclass(frozen=True)
class Example:
    id: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text}


@dataclass(frozen=True)
class Explained:
    """A driver term with its example posts."""

    driver: Driver
    examples: list[Example]

    def to_json(self) -> dict[str, Any]:
        return {**self.driver.to_json(), "examples": [e.to_json() for e in self.examples]}


@dataclass(frozen=True)
class WhyResult:
    negative: list[Explained]
    positive: list[Explained]

    def side(self, name: str) -> list[Explained]:
        return self.negative if name == "negative" else self.positive

    def to_json(self, brand: str, window: str) -> dict[str, Any]:
        return {"brand": brand, "window": window,
                "negative": [d.to_json() for d in self.negative],
                "positive": [d.to_json() for d in self.positive]}


async def explain(client: Any, keys: KeyScheme, brand: str, end: float, window_s: int,
                  baseline_days: int, k: int) -> WhyResult:
    """The ``k`` top negative and positive drivers of ``brand`` over (end - window_s, end],
    rounded out to whole hours, with their examples (one round trip)."""
    check_limits(baseline_days, k)
    plan = WhyPlan.of(end, window_s, baseline_days)
    pipe = client.pipeline(transaction=False)
    for cls in CLASSES.values():
        _zunion(pipe, [keys.terms(brand, cls, "h", s) for s in plan.hours])
        _zunion(pipe, [keys.terms(brand, cls, "h", s) for s in plan.base_read], plan.stride)
        for hour in reversed(plan.hours):  # newest first
            pipe.lrange(keys.examples(brand, cls, hour), 0, -1)
    replies = await pipe.execute()
    n = 2 + len(plan.hours)
    parsed = {name: (_counts(replies[i * n]), _counts(replies[i * n + 1]),
                     _members(replies[i * n + 2:(i + 1) * n]))
              for i, name in enumerate(CLASSES)}
    (w_neg, b_neg, ex_neg), (w_pos, b_pos, ex_pos) = parsed["negative"], parsed["positive"]
    prior = {t: float(c) for t, c in _add(_add(b_neg, b_pos), _add(w_neg, w_pos)).items()}
    if not prior:
        return WhyResult([], [])
    # A term stands out on one side only. Twice k each, so k remain.
    negative = _drivers(w_neg, b_neg, ex_neg, w_pos, prior, 2 * k)
    positive = _drivers(w_pos, b_pos, ex_pos, w_neg, prior, 2 * k)
    if _has_history(b_neg) or _has_history(b_pos):
        # Against a baseline: the side where it is more newly frequent (higher z).
        lean_neg = {d.term: d.z for d in negative}
        lean_pos = {d.term: d.z for d in positive}
    else:
        # A brand without history: both sides are the newest posts against the rest of the
        # window, so a burst the model partly misread is "newest" on both, with z-scores a
        # few hundredths apart whichever way (a third of a battery burst read as positive
        # put battery on the positive side); it belongs to the class that holds most of its
        # posts, the model's majority reading.
        lean_neg = {d.term: w_neg.get(d.term, 0) for d in negative}
        lean_pos = {d.term: w_pos.get(d.term, 0) for d in positive}
    negative = [d for d in negative if lean_neg[d.term] >= lean_pos.get(d.term, 0)][:k]
    positive = [d for d in positive if lean_pos[d.term] > lean_neg.get(d.term, 0)][:k]
    return WhyResult(_with_examples(negative, ex_neg), _with_examples(positive, ex_pos))


def _drivers(window: dict[str, int], baseline: dict[str, int], members: list[str],
             other: dict[str, int], prior: dict[str, float], k: int) -> list[Driver]:
    """The class's drivers against its baseline or, for a brand with too little history for
    one, its newest posts against the rest of the window, both classes (module docstring)."""
    if _has_history(baseline):
        return top_drivers(window, baseline, prior, k)
    recent = _recent_counts(members, window)
    rest = _add({t: max(c - recent.get(t, 0), 0) for t, c in window.items()}, other)
    return [Driver(d.term, d.z, window[d.term]) for d in top_drivers(recent, rest, prior, k)]


def _has_history(baseline: Mapping[str, int]) -> bool:
    """Enough baseline term-posts to score a class against (module docstring)."""
    return sum(baseline.values()) >= DEFAULT_A0


def _recent_counts(members: list[str], window: Mapping[str, int]) -> dict[str, int]:
    """Posts per term among the newest RECENT_POSTS example posts, counting only the terms the
    worker counted in the window (its extraction left the brand's own names and stopwords out)."""
    global _extractor
    texts = []
    for member in members:
        example = _example(member)
        if example is not None:
            texts.append(example.text)
        if len(texts) >= RECENT_POSTS:
            break
    if not texts:
        return {}
    if _extractor is None:
        _extractor = TermExtractor()
    counts = _extractor.extract(texts).counts(range(len(texts)))
    return {t: c for t, c in counts.items() if t in window}


_extractor: TermExtractor | None = None  # its tables bound themselves (terms.MAX_TABLE)


def _zunion(pipe: Any, keys: list[str], weight: int = 1) -> None:
    # A raw command: its reply is a flat [member, score, ...] list with any client, decoded or
    # not, single node or cluster (all keys share the brand's slot).
    weights = ("WEIGHTS", *[weight] * len(keys)) if weight != 1 else ()
    pipe.execute_command("ZUNION", len(keys), *keys, *weights, "WITHSCORES")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _counts(reply: Any) -> dict[str, int]:
    """A ZUNION WITHSCORES reply (flat, or pairs after a client's callback) -> term -> count."""
    items = list(reply or [])
    if items and isinstance(items[0], list | tuple):
        members, scores = [m for m, _ in items], [s for _, s in items]
    else:
        members, scores = items[0::2], items[1::2]
    # C-level maps: a 7-day baseline of hour sets is a few thousand members per class.
    texts = list(map(_text, members)) if members and isinstance(members[0], bytes) else members
    values = list(map(float, scores))
    return {t: int(v) for t, v in zip(texts, values, strict=True) if v > 0}


def _members(replies: Iterable[Any]) -> list[str]:
    """Example-list members as text, newest first (lists are LPUSHed, hours given newest first)."""
    return [_text(m) for reply in replies for m in reply or ()]


def _example(member: str) -> Example | None:
    try:
        post = orjson.loads(member)
        return Example(str(post["id"]), str(post["text"]))
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None


def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for term, count in b.items():
        out[term] = out.get(term, 0) + count
    return out


def _with_examples(drivers: list[Driver], members: list[str]) -> list[Explained]:
    """Up to EXAMPLES_PER_TERM of the newest example posts that use each driver's term.

    A post uses a term when its text holds the term as a whole word, case aside (a bigram: its
    two words in a row, a hashtag with its #). The raw JSON member is searched first (orjson
    leaves text unescaped; a substring test in C before the regex), so only matching members
    are parsed, and the scan stops once every term has its examples. Extracting the terms of
    every example of a 24 h window (3,200 posts) took most of the answer's time."""
    picked: dict[str, list[Example]] = {d.term: [] for d in drivers}
    # (term, its first word, its pattern) of the terms still short of examples: rebuilt only
    # after a pick, not per member (a 24 h window scans up to 3,200 members).
    wanted = [(d.term, d.term.split()[0].lstrip("#"), _pattern(d.term)) for d in drivers]
    for member in members:
        if not wanted:
            break
        raw = member.casefold()
        hits = [(t, p) for t, word, p in wanted if word in raw and p.search(raw)]
        example = _example(member) if hits else None
        if example is None:
            continue
        text = example.text.casefold()
        for term, pattern in hits:
            if pattern.search(text) and example not in picked[term]:
                picked[term].append(example)
        wanted = [w for w in wanted if len(picked[w[0]]) < EXAMPLES_PER_TERM]
    return [Explained(d, picked[d.term]) for d in drivers]


def _pattern(term: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in term.split()]
    # A plain word is not the tail of a hashtag: the worker counts "#refund" apart from "refund".
    start = r"(?<!\w)" if term.startswith("#") else r"(?<![\w#])"
    return re.compile(start + r"\W+".join(words) + r"(?!\w)")


# -- in alerts --

ALERT_TERMS = 3
ALERT_EXAMPLES = 3


def alert_side(kind: str, result: WhyResult) -> str:
    """Which class explains an alert: a drop the negative drivers, a rise the positive ones,
    a volume spike the class whose top driver stands out more."""
    if kind == "sentiment_drop":
        return "negative"
    if kind == "sentiment_rise":
        return "positive"
    top_neg = result.negative[0].driver.z if result.negative else 0.0
    top_pos = result.positive[0].driver.z if result.positive else 0.0
    return "positive" if top_pos > top_neg else "negative"


def for_alert(kind: str, result: WhyResult) -> dict[str, Any]:
    """What an alert carries: ``drivers`` {side, negative, positive} (ALERT_TERMS terms each,
    without examples) and ``examples``: up to ALERT_EXAMPLES distinct posts of the side's top
    drivers, each with the term it illustrates."""
    side = alert_side(kind, result)
    examples: list[dict[str, str]] = []
    seen: set[str] = set()
    for rank in range(EXAMPLES_PER_TERM):  # first the top example of each driver, then more
        for item in result.side(side)[:ALERT_TERMS]:
            if rank < len(item.examples) and item.examples[rank].id not in seen:
                seen.add(item.examples[rank].id)
                examples.append({**item.examples[rank].to_json(), "term": item.driver.term})
    return {"drivers": {"side": side,
                        "negative": [d.driver.to_json() for d in result.negative[:ALERT_TERMS]],
                        "positive": [d.driver.to_json() for d in result.positive[:ALERT_TERMS]]},
            "examples": examples[:ALERT_EXAMPLES]}
