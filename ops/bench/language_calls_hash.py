"""One hash of everything the worker writes for a fixed set of posts, to prove that an
optimisation of language ID changes no result: every Redis script call (keys and arguments),
every scored record, and each post's language and label.

Usage: .venv/bin/python ops/bench/language_calls_hash.py [--posts 4096] [--no-prescreen]
       [--prescreen-languages en,de,...] [--dump FILE.jsonl]
Run it from two trees (``PYTHONPATH=<tree>``) and compare the printed hashes; ``--dump`` writes
each post's text, language and label (one JSON line each) to diff what changed.
``--prescreen-languages en`` lets the pre-screen name English only (the pre-screen before the
other languages were added to it).

Posts: ``--posts`` UMSAB test tweets (8 languages, no ``lang``) and as many TweetEval test
tweets; one in 7 of these carries ``lang`` (a valid, an unknown or a hostile tag), and one in 5
is repeated later as a repost ("RT @user: <text>", or the text again), so that batches hold
duplicate texts. Fixed timestamps, 20 brands, 4 partitions, batches of 1,024, language ID on,
drivers on. No Kafka or Redis is needed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from types import SimpleNamespace
from typing import Any, cast

from model.data import UMSAB, shared_data_dir, tweeteval
from model.scorer import SentimentScorer
from sentistream.settings import get_settings
from stream.worker.aggregates import batch_deltas
from stream.worker.brands import BrandsFile
from stream.worker.driver_deltas import BatchDrivers
from stream.worker.pipeline import BatchProcessor, validate
from stream.worker.posts import RawRecord
from stream.worker.scoring import TokenRowsOf, score_here
from stream.worker.sink import CallBuilder

NOW = 1_790_000_000.0
TAGS = ["en", "pt-BR", "de", "xx-hostile", "", "zxx", "ja"]


def texts(n: int) -> list[str]:
    out: list[str] = []
    for path in [shared_data_dir() / "umsab-multilingual" / name / "test.csv"
                 for name in UMSAB.values()]:
        with path.open(encoding="utf-8", newline="") as handle:
            out += [row["text"] for row in csv.DictReader(handle)]
    umsab = out[:: max(1, len(out) // n)][:n]
    with tweeteval("test").open(encoding="utf-8", newline="") as handle:
        english = [row["text"] for row in csv.DictReader(handle)][:n]
    mixed = [t for pair in zip(umsab, english, strict=False) for t in pair]
    reposts = [f"RT @fan_{i}: {t}" if i % 2 else t for i, t in enumerate(mixed[::5])]
    return [t for i, t in enumerate(mixed) for t in
            ([t, reposts[i // 5]] if i % 5 == 4 and i // 5 < len(reposts) else [t])]


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--posts", type=int, default=4096)
    p.add_argument("--no-prescreen", action="store_true",
                   help="every post to CLD2 (no English pre-screen): the detection before it")
    p.add_argument("--prescreen-languages", default=None,
                   help="comma-separated: the only languages the pre-screen may name")
    p.add_argument("--dump", default=None, help="write text, language, label per post here")
    args = p.parse_args()
    settings = get_settings().replace(redis_prefix="hash")
    matcher = BrandsFile().current()
    scorer = SentimentScorer(num_threads=1)
    detector = scorer.router.detector
    detector.prescreen = not args.no_prescreen
    if args.prescreen_languages is not None:
        detector._plain = frozenset(args.prescreen_languages.split(","))
    dump: list[tuple[str, str, int]] = []
    builder, drivers = CallBuilder(settings), BatchDrivers(settings)
    me = cast(Any, SimpleNamespace(scorer=scorer))
    values = []
    for i, text in enumerate(texts(args.posts)):
        doc: dict[str, Any] = {"id": f"h{i}", "text": text, "brand": f"brand{i % 20:02d}",
                               "created_at": NOW - (i * 7) % 5400, "author": f"a{i % 97}"}
        if i % 7 == 3:
            doc["lang"] = TAGS[i % len(TAGS)]
        values.append(json.dumps(doc, ensure_ascii=False).encode())
    digest, parts = hashlib.sha256(), hashlib.sha256()
    calls = 0
    for start in range(0, len(values), 1024):
        records = [RawRecord(v, "posts", i % 4, i // 4, NOW)
                   for i, v in enumerate(values[start:start + 1024], start)]
        posts, brands, _ = validate(records, settings, matcher)
        scores = score_here(scorer, posts, True)
        r = scores.routed
        parts.update(json.dumps([posts.languages, r.labels.tolist()]).encode())
        dump += zip(posts.texts, posts.languages, r.labels.tolist(), strict=True)
        deltas = batch_deltas(posts, brands, r.labels, r.intensity, settings.top_posts)
        drivers.attach(deltas, posts, brands, r.labels, r.intensity,
                       TokenRowsOf(posts.texts, scores) if scores.rows is not None else scorer,
                       matcher)
        for delta in deltas:
            call = builder.group_call(posts.topic, delta)
            digest.update(json.dumps([call.keys, call.args]).encode())
            calls += 1
        for key, value, partition in BatchProcessor._scored_records(
                me, posts, brands, r.labels, r.probs, r.intensity):
            digest.update(repr((key, value, partition)).encode())
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in dump)
    print(json.dumps({"posts": len(values), "calls": calls, "languages_labels":
                      parts.hexdigest(), "calls_and_records": digest.hexdigest()}))


if __name__ == "__main__":
    main()
