"""Raw Kafka records -> a columnar batch of valid posts plus a list of rejected records.

Bad input is data, not an exception: ``parse_batch`` never raises for anything a producer can
send; each rejected record carries its reason, its original bytes and where it came from, and
becomes a dead letter.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from sentistream.times import BadTimestamp, parse_timestamp

# Reasons of a rejected record (the ``reason`` field of a dead letter).
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_ID = "missing_id"
MISSING_TEXT = "missing_text"
EMPTY_TEXT = "empty_text"
WRONG_TYPE = "wrong_type"
TEXT_TOO_LONG = "text_too_long"
ID_TOO_LONG = "id_too_long"  # an id over MAX_ID_CHARS
AUTHOR_TOO_LONG = "author_too_long"  # an author over MAX_AUTHOR_CHARS
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"  # created_at later than the record time + the allowance
TOO_MANY_BRANDS = "too_many_brands"  # more distinct explicit brands than the per-post limit
POST_TOO_LARGE = "post_too_large"  # a record value over the size limit
MODEL_ERROR = "model_error"  # valid, but the model raised on it (see BatchProcessor._score)
INVALID_RECORD = "invalid_record"  # anything else that raised on this record alone
REASONS: tuple[str, ...] = (INVALID_UTF8, INVALID_JSON, NOT_AN_OBJECT, MISSING_ID, MISSING_TEXT,
                            EMPTY_TEXT, WRONG_TYPE, TEXT_TOO_LONG, ID_TOO_LONG, AUTHOR_TOO_LONG,
                            BAD_TIMESTAMP, FUTURE_TIMESTAMP, TOO_MANY_BRANDS, POST_TOO_LARGE,
                            MODEL_ERROR, INVALID_RECORD)

# Defaults of the limits (the worker passes its settings; see sentistream/settings.py).
DEFAULT_MAX_BRANDS = 10
DEFAULT_FUTURE_ALLOWANCE_S = 3600.0
DEFAULT_MAX_POST_BYTES = 256 * 1024
# A dead letter quotes at most this much of the record (base64 grows it by 4/3): it must fit in
# a Kafka record of the broker's default 1 MiB limit, or its produce would fail for ever.
DEAD_LETTER_VALUE_BYTES = 256 * 1024
_DETAIL_CHARS = 300

# Accepted event times: 1970 .. 2100; anything else is a producer bug, not a post.
_MIN_S, _MAX_S = 0.0, 4102444800.0
_MAX_BRAND_CHARS = 100
# An author is kept as is (the unique-authors HyperLogLogs hash it), but the worker handles a
# batch's authors as one fixed-width array: one 100,000-character author among 512 posts took
# ~600 MB. Real handles and ids are far shorter.
MAX_AUTHOR_CHARS = 256
# An id is stored with its post's text in the top-post sets and the driver example lists of
# every brand of the post, for their retention: a 100,000-character id took 100 KB of Redis
# per brand. Tweet ids have 19 digits; Mastodon status URLs and Bluesky at:// URIs ~100 chars.
MAX_ID_CHARS = 256
_MAX_DEPTH = 200  # JSON nesting; a post is an object of scalars and short lists
# Strings (skipped whole, so brackets inside them do not count) or single brackets.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as the worker received it."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_s: float  # the record (send) time


@dataclass
class RecordBatch:
    """Records of one topic, column by column: what one Kafka fetch hands the worker.

    Columns instead of a ``RawRecord`` per record: at 10k+ records/s, building an object per
    record is a measurable share of the worker's one core."""

    topic: str
    values: list[bytes | None]
    partitions: list[int]
    offsets: list[int]
    timestamps_s: list[float]  # the record (send) times

    def __len__(self) -> int:
        return len(self.values)

    def record(self, i: int) -> RawRecord:
        return RawRecord(self.values[i], self.topic, self.partitions[i], self.offsets[i],
                         self.timestamps_s[i])

    def slice(self, start: int, stop: int) -> RecordBatch:
        """Records ``start`` to ``stop`` (each partition's records stay in offset order)."""
        return RecordBatch(self.topic, self.values[start:stop], self.partitions[start:stop],
                           self.offsets[start:stop], self.timestamps_s[start:stop])

    def last_offsets(self) -> dict[int, int]:
        """partition -> highest offset in the batch."""
        last: dict[int, int] = {}
        for partition, offset in zip(self.partitions, self.offsets, strict=True):
            if offset > last.get(partition, -1):
                last[partition] = offset
        return last

    @classmethod
    def of(cls, records: Sequence[RawRecord] | RecordBatch) -> RecordBatch:
        """A batch of ``records`` (which may all come from one topic only)."""
        if isinstance(records, RecordBatch):
            return records
        topics = {r.topic for r in records}
        if len(topics) > 1:
            raise ValueError(f"a batch holds one topic's records, got {sorted(topics)}")
        return cls(topics.pop() if topics else "", [r.value for r in records],
                   [r.partition for r in records], [r.offset for r in records],
                   [r.timestamp_s for r in records])


@dataclass(frozen=True)
class Rejected:
    """A record that is not a valid post, with the reason it was rejected."""

    reason: str
    detail: str
    record: RawRecord

    def dead_letter(self) -> bytes:
        """JSON of the dead letter; bounded whatever the record (value and detail are cut)."""
        r = self.record
        value = r.value or b""
        letter: dict[str, Any] = {
            "reason": self.reason, "detail": self.detail[:_DETAIL_CHARS],
            "topic": r.topic, "partition": r.partition, "offset": r.offset,
            "timestamp": r.timestamp_s,
            "value_b64": base64.b64encode(value[:DEAD_LETTER_VALUE_BYTES]).decode("ascii"),
        }
        if len(value) > DEAD_LETTER_VALUE_BYTES:
            letter.update(truncated=True, value_bytes=len(value))
        return json.dumps(letter).encode("utf-8")


@dataclass
class Posts:
    """Valid posts of one batch, column by column (same order as the records)."""

    docs: list[dict[str, Any]] = field(default_factory=list)  # the parsed JSON, fields kept
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    explicit_brands: list[tuple[str, ...] | None] = field(default_factory=list)
    created_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    record_s: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    partitions: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    offsets: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    topic: str = ""
    raw: list[bytes] = field(default_factory=list)  # the original record values
    # Each post's language code, set by the worker's scoring (stream.worker.languages); empty
    # before.
    languages: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, i: int) -> RawRecord:
        """The record post ``i`` came from (for its dead letter)."""
        return RawRecord(self.raw[i], self.topic, int(self.partitions[i]), int(self.offsets[i]),
                         float(self.record_s[i]))

    def select(self, mask: npt.NDArray[np.bool_]) -> Posts:
        """The posts where ``mask`` is true (used to re-filter a partly applied batch)."""
        keep = np.flatnonzero(mask).tolist()
        return Posts([self.docs[i] for i in keep], [self.ids[i] for i in keep],
                     [self.texts[i] for i in keep], [self.explicit_brands[i] for i in keep],
                     self.created_s[mask], self.record_s[mask], self.partitions[mask],
                     self.offsets[mask], self.topic, [self.raw[i] for i in keep],
                     [self.languages[i] for i in keep] if self.languages else [])


class _Invalid(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Limits:
    """What a valid post may hold (the worker's settings of the same names)."""

    max_text_chars: int = 2000
    max_brands: int = DEFAULT_MAX_BRANDS  # distinct names in brand + brands
    future_allowance_s: float = DEFAULT_FUTURE_ALLOWANCE_S  # created_at - record time, at most
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES


def parse_batch(records: Sequence[RawRecord] | RecordBatch, max_text_chars: int, *,
                max_brands: int = DEFAULT_MAX_BRANDS,
                future_allowance_s: float = DEFAULT_FUTURE_ALLOWANCE_S,
                max_post_bytes: int = DEFAULT_MAX_POST_BYTES) -> tuple[Posts, list[Rejected]]:
    """Split records into valid posts (columnar) and rejected ones; never raises on bad input.

    Every failure of one record, foreseen or not, rejects that record alone: the foreseen ones
    with their reason, anything else as ``invalid_record`` with the exception's class."""
    limits = Limits(max_text_chars, max_brands, future_allowance_s, max_post_bytes)
    batch = RecordBatch.of(records)
    docs: list[dict[str, Any]] = []
    brands: list[tuple[str, ...] | None] = []
    created: list[float] = []
    kept: list[int] = []
    rejected: list[Rejected] = []
    for i, (value, sent_s) in enumerate(zip(batch.values, batch.timestamps_s, strict=True)):
        try:
            doc, when, explicit = _parse_one(value, sent_s, limits)
        except _Invalid as bad:
            rejected.append(Rejected(bad.reason, bad.detail, batch.record(i)))
            continue
        except Exception as exc:  # a bug or a case nobody foresaw: still this record's alone
            rejected.append(Rejected(INVALID_RECORD, describe(exc), batch.record(i)))
            continue
        docs.append(doc)
        created.append(when)
        brands.append(explicit)
        kept.append(i)
    record_s = np.asarray(batch.timestamps_s, np.float64)
    partitions = np.asarray(batch.partitions, np.int64)
    offsets = np.asarray(batch.offsets, np.int64)
    values: list[bytes | None] = batch.values
    if rejected:
        record_s, partitions, offsets = record_s[kept], partitions[kept], offsets[kept]
        values = [values[i] for i in kept]
    posts = Posts(
        docs=docs, ids=[d["id"] for d in docs], texts=[d["text"] for d in docs],
        explicit_brands=brands, created_s=np.asarray(created, np.float64), record_s=record_s,
        partitions=partitions, offsets=offsets, topic=batch.topic,
        raw=[v or b"" for v in values],
    )
    return posts, rejected


def describe(exc: BaseException) -> str:
    """``<class>: <message>`` of an unforeseen exception, bounded, for a dead letter's detail."""
    try:
        text = str(exc)
    except Exception:  # str() of an exception can itself raise (e.g. a huge int in its args)
        text = "(message not printable)"
    return f"{type(exc).__name__}: {text[:_DETAIL_CHARS]}"


def _parse_one(value: bytes | None, record_s: float,
               limits: Limits) -> tuple[dict[str, Any], float, tuple[str, ...] | None]:
    """One record's verdict. The checks run in a fixed order, the first that fails names the
    reason. A good post passes each on one inline test of its exact type; only a value that
    fails it goes through the check that names the reason (the same verdicts as calling every
    check, at ~half the cost per post)."""
    if value is None:
        raise _Invalid(INVALID_JSON, "the record has no value (a tombstone)")
    if len(value) > limits.max_post_bytes:
        raise _Invalid(POST_TOO_LARGE, f"the record has {len(value)} bytes, limit "
                                       f"{limits.max_post_bytes}")
    doc, escaped = _fast_loads(value), False
    if doc is None:
        doc, escaped = _careful_loads(value)
    if not isinstance(doc, dict):
        raise _Invalid(NOT_AN_OBJECT, f"expected a JSON object, got {type(doc).__name__}")
    get = doc.get
    post_id, text, author, lang = get("id"), get("text"), get("author"), get("lang")
    if type(post_id) is not str or not 0 < len(post_id) <= MAX_ID_CHARS:
        _check_id(post_id)
    if type(text) is not str or len(text) > limits.max_text_chars or not text.strip():
        _check_text(text, limits.max_text_chars)
    if not (author is None or type(author) is str) or not (lang is None or type(lang) is str):
        for name in ("author", "lang"):
            if doc.get(name) is not None and not isinstance(doc[name], str):
                raise _Invalid(WRONG_TYPE,
                               f"{name!r} must be a string, got {type(doc[name]).__name__}")
    if author is not None and len(author) > MAX_AUTHOR_CHARS:
        raise _Invalid(AUTHOR_TOO_LONG, f"'author' has {len(author)} characters, limit "
                                        f"{MAX_AUTHOR_CHARS}")
    when = parse_created_at(get("created_at"), record_s)
    if when > record_s + limits.future_allowance_s:
        # The record time, not the clock: a redelivery years later decides the same way.
        raise _Invalid(FUTURE_TIMESTAMP, f"'created_at' is {when - record_s:.0f} s after the "
                                         f"record time (allowed: {limits.future_allowance_s:.0f})")
    explicit = (_explicit_brands(doc, limits.max_brands) if "brand" in doc or "brands" in doc
                else None)
    if escaped:
        # Only a \\u escape can put a lone surrogate into a decoded string (orjson refuses
        # them, so only the careful path can see one). Ids, texts and brands go to Redis as
        # UTF-8, where a lone surrogate would stall the partition on every retry.
        _check_unicode([doc["id"], doc["text"], *(explicit or ())])
    return doc, when, explicit


def _fast_loads(value: bytes) -> Any:
    """orjson (~3x json.loads, and no separate UTF-8 decode) for the records it accepts; None
    for the rest, which ``_careful_loads`` then judges. orjson accepts a subset of what json
    accepts (it refuses NaN, infinities, lone surrogates and invalid UTF-8), so every record
    gets the same verdict and reason either way (checked on ops/faults/fuzz.py's 13,000 hostile
    and good records against the json-only parser). One difference remains: orjson reads an
    integer beyond 64 bits as a float, so such a value is echoed as a float in a scored record,
    and a rejection's detail says "float" where it said "int". Too-deep nesting is left to
    ``_careful_loads``, so the depth limit is the same on both paths."""
    if value.count(b"[") + value.count(b"{") > _MAX_DEPTH:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _careful_loads(value: bytes) -> tuple[Any, bool]:
    """The stdlib path, with a reason for every record it refuses; also whether the text has
    \\u escapes, which may hide lone surrogates."""
    try:
        raw = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(INVALID_UTF8, str(exc)) from None
    if _too_deep(raw):
        raise _Invalid(INVALID_JSON, f"JSON nested deeper than {_MAX_DEPTH} levels")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _Invalid(INVALID_JSON, str(exc)) from None
    except RecursionError:  # unreachable after _too_deep; kept so no input can crash a batch
        raise _Invalid(INVALID_JSON, "JSON nested too deeply") from None
    return doc, "\\u" in raw


def _too_deep(raw: str) -> bool:
    """Nesting deeper than _MAX_DEPTH. Found by ops/faults/fuzz.py: json.loads raises
    RecursionError at a depth that depends on the caller's stack, so the same record was
    rejected in the worker and accepted offline; a fixed limit makes the verdict one."""
    if raw.count("[") + raw.count("{") <= _MAX_DEPTH:
        return False  # every real post: two C-level counts
    depth = 0
    for token in _STRUCTURE.findall(raw):
        if token in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _check_unicode(values: list[str]) -> None:
    """Ids, texts and brands go to Redis keys and members as UTF-8: a lone surrogate (a JSON
    escape like \\ud800) cannot be encoded and would stall the partition on every retry."""
    for value in values:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Invalid(INVALID_UTF8, f"{value[:40]!r} is not valid Unicode ({exc.reason})"
                           ) from None


def _check_id(value: Any) -> None:
    if value is None or value == "":
        raise _Invalid(MISSING_ID, "'id' is required")
    if not isinstance(value, str):
        raise _Invalid(WRONG_TYPE, f"'id' must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_CHARS:
        raise _Invalid(ID_TOO_LONG, f"'id' has {len(value)} characters, limit {MAX_ID_CHARS}")


def _check_text(value: Any, max_chars: int) -> None:
    if value is None:
        raise _Invalid(MISSING_TEXT, "'text' is required")
    if not isinstance(value, str):
        raise _Invalid(WRONG_TYPE, f"'text' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _Invalid(EMPTY_TEXT, "'text' is empty")
    if len(value) > max_chars:
        raise _Invalid(TEXT_TOO_LONG, f"'text' has {len(value)} characters, limit {max_chars}")


def parse_created_at(value: Any, record_s: float) -> float:
    """Event time in epoch seconds: what ``sentistream.times`` reads (ISO-8601, epoch s/ms as a
    number or digits, a Twitter date), or the record time when there is none."""
    if type(value) is float and _MIN_S <= value < _MAX_S:
        return value  # the common case first: epoch seconds (below MS_THRESHOLD), in range
    if value is None:
        return record_s
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid(BAD_TIMESTAMP, f"'created_at' has type {type(value).__name__}")
    try:
        seconds = parse_timestamp(value)
    except BadTimestamp as exc:  # also an int of 400 digits (issue 12's poison record)
        raise _Invalid(BAD_TIMESTAMP, f"'created_at' {_excerpt(value)}: {exc}") from None
    if not _MIN_S <= seconds < _MAX_S:
        raise _Invalid(BAD_TIMESTAMP, f"'created_at' {_excerpt(value)} is outside 1970..2100")
    return seconds


def _excerpt(value: Any) -> str:
    """A short repr for a detail: repr() of an int over 4,300 digits raises ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** 60:
        return f"<an integer of about {value.bit_length() * 0.30103:.0f} digits>"
    return repr(value)[:80]


def _explicit_brands(doc: dict[str, Any], max_brands: int) -> tuple[str, ...] | None:
    brand, many = doc.get("brand"), doc.get("brands")
    if many is None and type(brand) is str:  # the common case first: one brand field
        name = brand.strip()
        if name and len(name) <= _MAX_BRAND_CHARS and max_brands:
            return (name,)
    names: list[str] = []
    if brand is not None:
        if not isinstance(brand, str):
            raise _Invalid(WRONG_TYPE, f"'brand' must be a string, got {type(brand).__name__}")
        names.append(brand)
    if many is not None:
        if not isinstance(many, list) or not all(isinstance(b, str) for b in many):
            raise _Invalid(WRONG_TYPE, "'brands' must be a list of strings")
        names.extend(many)
    names = [n.strip() for n in names if n.strip()]
    if any(len(n) > _MAX_BRAND_CHARS for n in names):
        raise _Invalid(WRONG_TYPE, f"a brand name is longer than {_MAX_BRAND_CHARS} characters")
    # Distinct ignoring case (the matcher lower-cases them; aliases may merge them further):
    # one post must not be able to create more than max_brands brands' keys.
    distinct = len({n.lower() for n in names})
    if distinct > max_brands:
        raise _Invalid(TOO_MANY_BRANDS, f"{distinct} distinct brands, limit {max_brands}")
    return tuple(names) if names else None
