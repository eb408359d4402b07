"""Posts in several languages through the real worker (Kafka, Redis, the shipped models).

Supported languages are scored; the others count in volume and in the per-language fields, carry
``unsupported_language`` on the scored topic and never touch the classes, NSS or intensity.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from sentistream.harness import start_worker, wait_until
from sentistream.settings import Settings
from stream.readers.query.params import parse_window
from stream.readers.query.reader import reader
from stream.schema.keys import KeyScheme, language_fields
from tests.stream.workers import produce, read_topic

pytestmark = pytest.mark.integration

# (text, the post's own lang field or None, the language it must be counted in)
POSTS: list[tuple[str, str | None, str]] = [
    ("I love my new acme phone, the battery is fantastic", None, "en"),
    ("acme support is terrible, the worst experience ever", "en", "en"),
    ("Ich liebe dieses acme Handy, es ist wirklich großartig", None, "de"),
    ("Das acme Produkt ist schrecklich und teuer", "de-DE", "de"),
    ("Odio este producto de acme, es una basura total", None, "es"),
    ("J'adore le nouveau téléphone acme, il est magnifique", "fr", "fr"),
    ("この acme の製品は最悪です。二度と買いません。", None, "ja"),
    ("Мне очень нравится этот телефон acme, отличная покупка", "ru", "ru"),
    # A hostile lang field names no language: ignored, the text is detected.
    ("acme makes the best headphones I have ever owned", "<script>" + "x" * 500, "en"),
    ("Questo telefono acme è fantastico, lo adoro davvero", "it", "it"),
]
UNSUPPORTED = {"ja", "ru"}


def build(now: float) -> list[bytes]:
    values = []
    for i, (text, lang, _) in enumerate(POSTS):
        doc: dict[str, Any] = {"id": f"l{i}", "text": text, "brand": "acme",
                               "created_at": now - 5}
        if lang is not None:
            doc["lang"] = lang
        values.append(json.dumps(doc, ensure_ascii=False).encode())
    return values


def test_languages_are_counted_and_unsupported_posts_never_labelled(
        isolated: Settings, tmp_path: Path) -> None:
    now = time.time()
    values = build(now)
    produce(isolated, values)
    worker = start_worker(isolated, tmp_path)
    client = redis.Redis.from_url(isolated.redis_url, decode_responses=True)
    keys = KeyScheme(isolated.redis_prefix)
    try:
        wait_until(lambda: int(client.hget(keys.total("acme"), "n") or 0) >= len(POSTS), 120,
                   "the posts applied", [worker])
    finally:
        worker.stop()
    want = Counter(code for _, _, code in POSTS)
    raw: dict[Any, Any] = client.hgetall(keys.bucket("acme", "m", int(now - 5) // 60 * 60))
    bucket = {str(k): str(v) for k, v in raw.items()}
    # Volume counts every post; the classes only the scored ones.
    assert int(bucket["n"]) == len(POSTS)
    scored = len(POSTS) - sum(want[c] for c in UNSUPPORTED)
    assert sum(int(bucket.get(f, 0)) for f in ("neg", "neu", "pos")) == scored
    got = {name.split(":")[1]: int(v) for name, v in bucket.items()
           if name.startswith("lang:") and name.count(":") == 1}
    assert got == dict(want)
    for code in want:
        _, *classes, isum = language_fields(code)
        per_class = sum(int(bucket.get(f, 0)) for f in classes)
        assert per_class == (0 if code in UNSUPPORTED else want[code]), code
        if code in UNSUPPORTED:
            assert isum not in bucket
    # The scored topic: unsupported posts carry no sentiment, the others a class.
    records = {r["id"]: r for r in read_topic(isolated, isolated.topic_scored, len(POSTS))}
    assert len(records) == len(POSTS)
    for i, (_, _, code) in enumerate(POSTS):
        r = records[f"l{i}"]
        assert r["language"] == code
        if code in UNSUPPORTED:
            assert r["label"] == "unsupported_language"
            assert r["intensity"] is None and r["probs"] == [None, None, None]
        else:
            assert r["label"] in ("negative", "neutral", "positive")
            assert -1.0 <= r["intensity"] <= 1.0
    # The read side: the language mix, and one language's counts with --lang.
    summary, japanese, english = asyncio.run(_read(isolated, now))
    assert summary["languages"] == dict(sorted(want.items(), key=lambda kv: (-kv[1], kv[0])))
    assert summary["n"] == len(POSTS) and summary["unsupported_language"] == 2
    assert japanese["n"] == 1 and japanese["nss"] is None and japanese["positive"] == 0
    assert english["n"] == 3 and english["unsupported_language"] == 0
    assert english["lang"] == "en" and english["nss"] is not None


async def _read(settings: Settings, now: float) -> tuple[dict[str, Any], ...]:
    window = parse_window("15m")
    async with reader(settings) as r:
        return (await r.summary("acme", window, now + 1),
                await r.summary("acme", window, now + 1, "ja"),
                await r.summary("acme", window, now + 1, "en"))
