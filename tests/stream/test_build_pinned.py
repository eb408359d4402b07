"""What the worker stores for a fixed batch is pinned: the parse verdicts, the brands, the Redis
script calls and the scored-topic records, as a digest of their exact bytes.

The hot path's Python (``stream.worker.posts``, ``brands``, ``aggregates``, ``driver_deltas``,
``sink.CallBuilder``, ``pipeline._scored_records``) is rewritten for speed from time to time
(issue 14); a rewrite must not change one byte of what Redis and the scored topic get. Should a
change of the output be intended, print the new parts with ``_parts`` and update the digests,
saying why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import random
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson

from sentistream.settings import Settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.driver_deltas import BatchDrivers
from stream.worker.pipeline import BatchProcessor, validate
from stream.worker.posts import RecordBatch
from stream.worker.sink import CallBuilder

T0 = 1_760_000_000.0  # fixed event times: nothing depends on the clock
WORDS = ("great", "awful", "love", "hate", "the", "new", "phone", "battery", "store", "today",
         "iphone", "pixel phone", "xbox", "#tesla", "@nike", "air max", "model 3", "café",
         "naïve", "日本", "😀", "price", "update", "RT", "again", "ok")
LANGS = ("en", "es", "de", "xx")


def _record(rng: random.Random, i: int) -> bytes:
    """A post of the fixed batch: brands named, matched or none; authors, retweets, copies."""
    kind = i % 17
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))
    if kind == 3:
        text = "RT @someone: " + text  # a retweet
    if kind in (5, 6):
        text = "the same text copied by many accounts"  # repost fingerprints
    doc: dict[str, Any] = {"id": f"p{i}", "text": text}
    when = T0 + rng.choice((0, 1, 59, 61, 3599, 3601, 86399, 86401)) + rng.random()
    doc["created_at"] = [when, f"{when:.3f}", int(when * 1000), None][i % 4]
    if i % 3 == 0:
        doc["author"] = f"user{rng.randint(0, 40)}"
    if i % 7 == 0:
        doc["brand"] = rng.choice(("Apple", "acme", " Tesla ", "#nike"))
    if i % 11 == 0:
        doc["brands"] = rng.sample(["google", "Acme", "zeta co", "apple"], rng.randint(0, 3))
    if i % 13 == 0:
        doc["lang"] = rng.choice(LANGS)
    if i % 19 == 0:
        doc["extra"] = {"kept": [1, 2.5, "x"]}
    return orjson.dumps(doc)


BAD = [None, b"", b"\xff\xfe", b"[1, 2]", b'{"text": "no id"}', b'{"id": "x"}',
       b'{"id": "x", "text": "   "}', b'{"id": 5, "text": "a"}', b'{"id": "x", "text": 5}',
       b'{"id": "x", "text": "a", "author": 3}', b'{"id": "x", "text": "a", "lang": 3}',
       b'{"id": "x", "text": "a", "created_at": "yesterday"}',
       b'{"id": "x", "text": "a", "created_at": 9e12}',
       b'{"id": "x", "text": "a", "created_at": true}',
       b'{"id": "x", "text": "a", "brand": 7}', b'{"id": "x", "text": "a", "brands": "b"}',
       b'{"id": "x", "text": "a", "brands": ["a","b","c","d","e","f","g","h","i","j","k"]}',
       b'{"id": "x", "text": "a", "created_at": NaN}', b'{"id": "x", "text": "\\ud800"}',
       b'{"id": "' + b"i" * 300 + b'", "text": "a"}', b'{"id": "x", "text": "a", "author": "'
       + b"a" * 300 + b'"}', b'{"id": "x", "text": "' + b"t" * 3000 + b'"}',
       b"[" * 300 + b"]" * 300, b'{"id": "x", "text": "a", "created_at": 1e20}',
       b'{"id": "x", "text": "a", "brand": "' + b"b" * 150 + b'"}',
       b'{"id": "x", "text": "a", "created_at": 1760000000, "id": "dup"}',
       b'{"id": "x", "text": "far future", "created_at": 1960000000}']


def fixed_batch() -> RecordBatch:
    rng = random.Random(14)
    values: list[bytes | None] = [_record(rng, i) for i in range(600)]
    for j, bad in enumerate(BAD):
        values.insert(7 + 21 * j, bad)
    partitions = [i % 3 for i in range(len(values))]
    offsets = [100 + i for i in range(len(values))]
    return RecordBatch("posts", values, partitions, offsets, [T0 + 86400.0] * len(values))


def _parts() -> dict[str, Any]:
    settings = Settings.from_env({})
    matcher = BrandsFile(None).current()
    posts, brands, rejected = validate(fixed_batch(), settings, matcher)
    n = len(posts)
    labels = np.asarray([(i * 7) % 4 for i in range(n)], np.int64)  # 3: unsupported language
    intensity = np.asarray([((i * 37) % 200 - 100) / 99.0 for i in range(n)], np.float32)
    intensity[labels == 3] = np.nan
    probs = np.asarray([[0.2, 0.3, 0.5]] * n, np.float32)
    probs[labels == 3] = np.nan
    posts.languages = [LANGS[i % 3] if labels[i] != 3 else "xx" for i in range(n)]
    deltas = batch_deltas(posts, brands, labels, intensity, settings.top_posts)
    BatchDrivers(settings).attach(deltas, posts, brands, labels, intensity, object(), matcher)
    builder = CallBuilder(settings)
    calls = [[c.keys, c.args] for c in (builder.group_call(posts.topic, d) for d in deltas)]
    # The worker's own path: terms from the scorer's token rows, then a partial resend (the
    # records after a stored offset of each group, recomputed from the batch's features).
    rows_deltas = batch_deltas(posts, brands, labels, intensity, settings.top_posts)
    drivers = BatchDrivers(settings)
    features = drivers.attach(rows_deltas, posts, brands, labels, intensity, _Rows(posts.texts),
                              matcher)
    calls_rows = [[c.keys, c.args] for c in
                  (builder.group_call(posts.topic, d) for d in rows_deltas)]
    mask = (posts.offsets % 5 != 0) & (posts.offsets > 300)
    partial = batch_deltas(posts.select(mask), [b for b, m in zip(brands, mask.tolist(),
                                                                   strict=True) if m],
                           labels[mask], intensity[mask], settings.top_posts)
    drivers.attach_partial(partial, posts, brands, labels, intensity, features, mask)
    calls_partial = [[c.keys, c.args] for c in
                     (builder.group_call(posts.topic, d) for d in partial)]
    fake = SimpleNamespace(scorer=SimpleNamespace(version="pinned-1"))
    scored = BatchProcessor._scored_records(fake, posts, brands, labels,  # type: ignore[arg-type]
                                            probs, intensity)
    return {
        "posts": [posts.ids, posts.texts, posts.created_s.tolist(), posts.record_s.tolist(),
                  posts.partitions.tolist(), posts.offsets.tolist(), posts.explicit_brands,
                  [bytes(r).decode("latin-1") for r in posts.raw], posts.docs],
        "brands": brands,
        "rejected": [[r.reason, r.detail, r.record.offset, r.dead_letter().decode("utf-8")]
                     for r in rejected],
        "calls": calls,
        "calls_rows": calls_rows,
        "calls_partial": calls_partial,
        "scored": [[k.decode("utf-8") if k else None, v.decode("utf-8"), p] for k, v, p in scored],
    }


class _Rows:
    """The scorer's token rows of the batch, as the worker hands them to the drivers
    (``stream.worker.scoring.TokenRowsOf``), from the shipped model's tokenizer."""

    def __init__(self, texts: list[str]) -> None:
        from model.scorer import SHIPPED_DIR
        from model.tokenizer import Tokenizer

        self.tokenizer = Tokenizer.load(SHIPPED_DIR)
        self._texts = texts
        self._rows = self.tokenizer.encode_rows(texts)[1]

    def token_rows(self, texts: list[str]) -> Any:
        return self._rows if texts is self._texts else None


def _digest(part: Any) -> str:
    return hashlib.sha256(json.dumps(part, ensure_ascii=True, sort_keys=False,
                                     default=repr).encode()).hexdigest()[:16]


PINNED = {
    "posts": "675853b8291c9224",
    "brands": "e375760624ac7ef6",
    "rejected": "d061b779fc5f2345",
    "calls": "90b3f1eb0b97900d",
    "calls_rows": "90b3f1eb0b97900d",  # the same calls: terms from rows or from texts
    "calls_partial": "4951241b2f124955",
    "scored": "f30d3cb0fd3d67c7",
}


def test_the_batch_exercises_every_path() -> None:
    parts = _parts()
    reasons = {r[0] for r in parts["rejected"]}
    assert len(reasons) >= 12 and len(parts["posts"][0]) > 500
    ops = {op[0] for _, args in parts["calls"] for op in json.loads(args[3])}
    assert ops == {"h", "i", "t", "z", "a", "s", "l", "r"}
    assert any(b == () for b in parts["brands"]) and any(len(b) > 1 for b in parts["brands"])


def test_stored_output_of_a_fixed_batch_is_unchanged() -> None:
    digests = {name: _digest(part) for name, part in _parts().items()}
    assert digests == PINNED


def test_scored_records_of_posts_orjson_refuses() -> None:
    """A kept field orjson cannot write (a lone surrogate; an int beyond 64 bits, which only the
    careful parser, taken for the surrogate, keeps as an int) makes the batch's records go
    through json, each record the same as written alone."""
    values = [b'{"id": "a", "text": "fine"}',
              b'{"id": "b", "text": "big", "n": 123456789012345678901234567890, "x": "\\udc00"}',
              b'{"id": "c", "text": "odd", "note": "\\ud800"}']
    batch = RecordBatch("posts", list(values), [0, 0, 0], [1, 2, 3], [T0] * 3)
    settings = Settings.from_env({})
    posts, brands, rejected = validate(batch, settings, BrandsFile(None).current())
    assert not rejected and len(posts) == 3
    fake = SimpleNamespace(scorer=SimpleNamespace(version="v"))
    labels, probs = np.asarray([0, 1, 2]), np.full((3, 3), 1 / 3, np.float32)
    intensity = np.asarray([-0.5, 0.0, 0.25], np.float32)
    records = BatchProcessor._scored_records(fake, posts, brands, labels,  # type: ignore[arg-type]
                                             probs, intensity)
    out = [json.loads(v) for _, v, _ in records]
    assert out[1]["n"] == 123456789012345678901234567890 and out[2]["note"] == "\ud800"
    assert [o["label"] for o in out] == ["negative", "neutral", "positive"]
    first = posts.select(np.asarray([True, False, False]))
    alone = BatchProcessor._scored_records(fake, first,  # type: ignore[arg-type]
                                           brands[:1], labels[:1], probs[:1], intensity[:1])
    assert alone[0] == records[0]
