"""Bad-input fuzzing: hostile payloads (hypothesis strategies) mixed with good posts.

Usage (from the repository root; starts and stops its own Kafka + Redis):
    .venv/bin/python -m ops.faults.fuzz [--payloads 10000] [--good 3000] [--seed 5]

The worker must stay alive throughout (no crash, no restart), every record must end up either
scored or dead-lettered with a reason (records in = `_all` posts + dead-letter counts), every
aggregate must equal the offline truth of the same input, and after the worker's clean stop the
group's committed offsets must be the ends of the partitions. Exit status 1 otherwise.

The payloads (issue 12 added the number, time and brand classes): raw bytes, deep nesting,
truncated JSON, lone surrogates, nearly valid posts with one or two hostile fields of every JSON
type, integers far beyond 64 bits (up to the 4,300 digits Python parses) and beyond float range,
far-future and far-past times (also later than the record time: future_timestamp), brand floods
(up to 5,000 names), giant brand names and lists, and records of up to ~850 KB. The fault/fuzz
re-run on the merged tree (2026-12-02) added texts in many scripts, forged language tags,
authors (up to 200,000 characters) and retweet prefixes, which the truth judges by their
per-language fields and unique-author counts too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from ops.bench import harness as h
from ops.faults.scenarios import Producer, Run, known_input
from ops.faults.truth import Aggregates, Verdict, actual, compare, expected_of, records_in_topic
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.schema.keys import ALL_BRANDS
from stream.worker.posts import RawRecord

MAX_PAYLOAD = 900_000  # under the broker's default message.max.bytes (1 MiB)
STALL_S = 60.0  # no progress for this long after the last send: the worker is stuck

lone_surrogate = st.integers(0xD800, 0xDFFF).map(chr)
odd_char = st.one_of(st.characters(), lone_surrogate,
                     st.sampled_from(["\x00", "\u200b", "\u202e", "\ufeff", "\U0001f600",
                                      "\u0301", "\x1f", "\\", '"', "\n", "\ud83d"]))
odd_text = st.text(odd_char, max_size=200)
good_text = st.sampled_from(["love my new iphone", "worst nike support ever", "tesla ok",
                             "xbox is out today #xbox", "meh @google"])
# Texts in many scripts and languages (issue 16's routing), some naming a brand of the default
# brands file, and forged language tags and authors (the unique-authors and language fields).
script_text = st.sampled_from([
    "iphone 最高です、でもバッテリーがひどい", "나이키 신발 너무 좋아요",
    "tesla это ужасно, верните деньги",
    "nike هذا المنتج سيء جدا", "google यह बहुत अच्छा है", "xbox 太棒了 #xbox", "apple ดีมาก",
    "Ich liebe mein neues iPhone", "microsoft c'est nul", "la tesla es increíble", "😀😀😀 🔥",
    "Z̷͉̈a̸̞͝l̶̢͝g̵̝̈o̷̹͗ apple", "ⓐⓟⓟⓛⓔ ⓢⓤⓒⓚⓢ", "apple\u202egnizama", "𝕒𝕡𝕡𝕝𝕖 𝕚𝕤 𝕘𝕠𝕠𝕕",
    "σ' αγαπώ google", "שלום nike", "1234 5678", "#### @@@@", "...", "ok"])
forged_lang = st.one_of(st.sampled_from([
    "en", "EN", "ja", "ru", "pt-BR", "zh-Hant-TW", "de-CH-1996", "zz", "xx-YY", "und", "zxx",
    "fil", "iw", "", " ", "en\x00", "en-", "-en", "e", "english", "\u202eja", "ar\ufeff"]),
    odd_text, st.integers(4, 300).map(lambda n: "pt-" + "B" * n))
forged_author = st.one_of(st.text("abcxyz0123_@.", min_size=1, max_size=20), odd_text,
                          st.sampled_from(["", " ", "\x00", "a" * 256, "a" * 257, "ü" * 256]),
                          st.integers(257, 200_000).map(lambda n: "u" * n))
# Integers far beyond 64 bits (json.dumps writes up to 4,300 digits; float() overflows at 309).
huge_int = st.one_of(st.integers(2 ** 63, 2 ** 70), st.integers(10 ** 300, 10 ** 320),
                     st.integers(1, 4300).map(lambda n: 10 ** n - 1)).flatmap(
    lambda n: st.sampled_from([n, -n]))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), huge_int,
                        st.floats(allow_nan=True, allow_infinity=True), odd_text)
json_any = st.recursive(json_scalar, lambda c: st.lists(c, max_size=4)
                        | st.dictionaries(odd_text, c, max_size=4), max_leaves=12)
NOW_S = time.time()  # records are sent now: times after it (+ the allowance) are in the future
far_times = st.one_of(
    st.floats(NOW_S + 3_700, 4_102_444_799),                      # later than the record time
    st.floats(0, 4_102_444_799), st.floats(-1e300, 1e300),        # any valid, and far beyond
    st.integers(4_102_444_800, 10 ** 30), st.integers(-(10 ** 30), -1),
    st.integers(0, 4_102_444_799_999),                            # milliseconds, any era
    st.sampled_from(["2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
                     "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999",
                     "1e400", "-1e400", "1" + "0" * 400, "-" + "9" * 400, "1e-400",
                     "4102444800", "4102444799.999", "+1480000000", "0", "-0"]))
timestamps = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), odd_text, json_any, huge_int,
    far_times, far_times.map(str),
    st.sampled_from(["2016-02-30T00:00:00Z", "2016-11-25T17:45:34Z", "9999-12-31T23:59:59",
                     "1e5", "-1", "NaN", "Infinity", "", " ", "0001-01-01T00:00:00-23:59",
                     "2016-11-25T17:45:34+25:00", "1480000000000", "1480000000"]))
# Brand names: a small pool (so valid floods reuse brands), odd text, giant names.
brand_name = st.one_of(st.integers(0, 199).map(lambda i: f"brand{i}"), odd_text,
                       st.integers(90, 100_000).map(lambda n: "b" * n))
brand_lists = st.one_of(
    st.lists(st.one_of(odd_text, st.integers()), max_size=5),
    st.lists(brand_name, min_size=1, max_size=12),                # at and around the limit
    st.integers(11, 5000).map(lambda n: [f"flood{i}" for i in range(n)]),  # a brand flood
    st.integers(11, 3000).map(lambda n: ["x" * 99 + str(i) for i in range(n)]),  # giant list
    json_any)
# Each field is good or hostile (one_of picks a branch evenly), so most payloads are nearly
# valid posts with one or two bad fields: the cases a validator is most likely to miss.
hostile_post = st.fixed_dictionaries({
    "id": st.one_of(st.text("abc123-_", min_size=1, max_size=12), odd_text, st.integers(),
                    st.none(), json_any),
    "text": st.one_of(good_text, script_text, odd_text, st.sampled_from(["", " \t\n"]), json_scalar,
                      json_any, st.integers(1990, 300_000).map(lambda n: "x" * n)),
}, optional={
    "created_at": timestamps,
    "brand": st.one_of(good_text, odd_text, st.integers(), json_any, brand_name, huge_int),
    "brands": st.one_of(brand_lists, odd_text),
    "author": st.one_of(forged_author, st.integers(), json_any, huge_int),
    "lang": st.one_of(forged_lang, st.integers(), json_scalar),
    "extra": json_any,
})


# A valid post with exactly one hostile optional field (timestamps, brands, author, lang).
one_bad_field = st.tuples(
    st.text("abc123-_", min_size=1, max_size=12), good_text,
    st.sampled_from(["created_at", "brand", "brands", "author", "lang"]),
    st.one_of(timestamps, odd_text, json_any, st.integers(), huge_int, brand_lists, brand_name),
).map(lambda t: {"id": t[0], "text": t[1], t[2]: t[3]})

# Valid posts in any script with a forged language tag, author, retweet prefix or time: they
# must be counted, in their language's fields and their authors, or dead-lettered with a reason.
forged_post = st.tuples(
    st.text("abc123-_", min_size=1, max_size=12), st.one_of(script_text, good_text),
    st.fixed_dictionaries({}, optional={"lang": forged_lang, "author": forged_author,
                                        "created_at": timestamps,
                                        "brand": st.sampled_from(["apple", "nike", "Zorblax"])}),
    st.booleans(),
).map(lambda t: {"id": t[0], "text": ("RT @someone: " if t[3] else "") + t[1], **t[2]})

# Valid posts but for their time or brands: what the limits (not the parser) must catch.
limit_breaker = st.tuples(
    st.text("abc123-_", min_size=1, max_size=12), good_text,
    st.one_of(st.fixed_dictionaries({"created_at": far_times}),
              st.fixed_dictionaries({"brands": brand_lists}),
              st.fixed_dictionaries({"brand": brand_name, "brands": brand_lists}),
              st.fixed_dictionaries({"created_at": far_times, "brands": brand_lists})),
).map(lambda t: {"id": t[0], "text": t[1], **t[2]})

# Records whose bytes alone are the problem: issue 12's poison, numbers written out at length,
# and records too large for a post (their dead letter must still fit in a Kafka record).
long_numbers = st.one_of(
    st.integers(300, 5000).map(
        lambda n: b'{"id":"a","text":"hi","created_at":1' + b"0" * n + b"}"),
    st.integers(300, 5000).map(lambda n: b'{"id":"a","text":"hi","brand":1' + b"0" * n + b"}"),
    st.integers(300, 2000).map(lambda n: b'{"id":"a","text":"hi","x":1' + b"0" * n + b".5}"))
big_record = st.integers(300_000, 850_000).map(
    lambda n: b'{"id":"big","text":"hi","pad":"' + b"x" * n + b'"}')
poison = st.one_of(long_numbers, long_numbers, long_numbers, big_record)  # big ones: 1 in 4


def _deep(depth: int, kind: int) -> bytes:
    return (b"[" * depth + b"]" * depth if kind == 0 else
            b'{"a":' * depth + b"1" + b"}" * depth if kind == 1 else
            b'{"id":"deep","text":' + b"[" * depth + b"]" * depth + b"}")


def _encode(doc: Any, ascii_only: bool) -> bytes:
    text = json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


payload = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.integers(2, 50_000), st.integers(0, 2)).map(lambda t: _deep(*t)),
    st.tuples(hostile_post, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(one_bad_field, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(limit_breaker, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(forged_post, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(json_any, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(hostile_post, st.integers(0, 400)).map(lambda t: _encode(t[0], True)[:t[1]]),
    st.sampled_from([b"", b"null", b"{}", b"[]", b'"a string"', b"\xff\xfe", b"{\"id\": }"]),
    poison,
)


def hostile_payloads(n: int, seed_value: int) -> list[bytes]:
    """``n`` payloads drawn from ``payload``, reproducible for one seed."""
    out: list[bytes] = []

    @seed(seed_value)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(payload)
    def collect(value: bytes) -> None:
        if len(out) < n and len(value) <= MAX_PAYLOAD:
            out.append(value)

    while len(out) < n:  # hypothesis may stop a little short of max_examples
        collect()
    return out


def mixed_input(n_hostile: int, n_good: int, seed_value: int) -> list[bytes]:
    values = hostile_payloads(n_hostile, seed_value) + known_input(n_good, seed_value)
    random.Random(seed_value).shuffle(values)
    return values


@dataclass(frozen=True)
class FuzzOutcome:
    records: int
    hostile: int
    scored: int
    dead_lettered: int
    worker_alive: bool
    worker_exits: int
    verdict: Verdict
    seconds: float
    uncommitted: int  # records past the group's committed offsets after the clean stop
    dead_reasons: dict[str, int]  # the truth's dead letters by reason
    languages: dict[str, int] = field(default_factory=dict)  # the truth's posts by language
    author_buckets: int = 0  # buckets whose unique-authors count was judged

    @property
    def ok(self) -> bool:
        return (self.worker_alive and self.worker_exits == 0 and self.verdict.exact
                and self.scored + self.dead_lettered == self.records and self.uncommitted == 0)


def run_fuzz(base: Settings, values: list[bytes], hostile: int, rate: float, log_dir: Path,
             timeout_s: float = 600.0) -> FuzzOutcome:
    started = time.monotonic()
    run = Run(base, "fuzz", log_dir)
    ensure_topics(run.settings)
    # Posts without created_at count at their record time: the truth is computed from the
    # records as the broker holds them, once they are all there (below).
    want = expected_of([RawRecord(v, "t", 0, i, time.time()) for i, v in enumerate(values)],
                       run.settings)
    worker = run.start_worker(0)
    try:
        h.wait_assigned([worker], run.settings.partitions)
        producer = Producer(run.settings, values, rate)
        producer.start()
        deadline = time.monotonic() + timeout_s
        target = (want.posts, sum(want.dead.values()))
        last, moved = run.applied(), time.monotonic()
        while time.monotonic() < deadline and worker.alive():
            now = run.applied()
            if not producer.is_alive() and now[0] >= target[0] and now[1] >= target[1]:
                break
            if now != last:
                last, moved = now, time.monotonic()
            elif not producer.is_alive() and time.monotonic() - moved > STALL_S:
                break  # a stuck partition: judged below as lost posts
            time.sleep(0.5)
        producer.join(60)
        if producer.error is not None:
            raise h.BenchError(f"producer failed: {producer.error}")
        time.sleep(3.0)  # anything still moving would be a double count
        want = expected_of(records_in_topic(run.settings, len(values)), run.settings)
        alive = worker.alive()
        scored, dead = run.applied()
    finally:
        run.stop()  # SIGTERM: a clean stop commits what was acked
    return FuzzOutcome(len(values), hostile, scored, dead, alive,
                       0 if alive else 1, compare(want, actual(run.settings, want)),
                       time.monotonic() - started, uncommitted(run.settings), want.dead,
                       languages_of(want), len(want.authors))


def languages_of(want: Aggregates) -> dict[str, int]:
    """Posts per language code in the truth (the ``lang:<code>`` fields of ``_all``'s days)."""
    out: Counter[str] = Counter()
    for (brand, res, _), cell in want.cells.items():
        if brand == ALL_BRANDS and res == "d":
            out.update({k[5:]: v for k, v in cell.items()
                        if k.startswith("lang:") and k.count(":") == 1})
    return dict(out)


def uncommitted(settings: Settings) -> int:
    """Records between the group's committed offsets and the ends of the partitions."""
    from kafka import KafkaConsumer, TopicPartition

    from stream.worker.app import app_id

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             group_id=app_id(settings), enable_auto_commit=False)
    try:
        tps = [TopicPartition(settings.topic_posts, p) for p in range(settings.partitions)]
        ends = consumer.end_offsets(tps)
        return sum(end - (consumer.committed(tp) or 0) for tp, end in ends.items())
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--payloads", type=int, default=10_000, help="hostile payloads")
    p.add_argument("--good", type=int, default=3_000, help="good posts mixed in")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--rate", type=float, default=2_000.0)
    args = p.parse_args(argv)
    base = h.bench_settings()
    t0 = time.monotonic()
    values = mixed_input(args.payloads, args.good, args.seed)
    print(f"{len(values)} records ({args.payloads} hostile) generated in "
          f"{time.monotonic() - t0:.0f} s", flush=True)
    log_dir = base.state_dir / "logs" / time.strftime("fuzz-%Y%m%d-%H%M%S")
    with h.services(base):
        o = run_fuzz(base, values, args.payloads, args.rate, log_dir)
    v = o.verdict
    print(f"records in {o.records:,} = scored {o.scored:,} + dead-lettered {o.dead_lettered:,}"
          f" -> {'yes' if o.scored + o.dead_lettered == o.records else 'NO'}")
    print(f"worker alive throughout: {o.worker_alive}; lost {v.lost}, double-counted "
          f"{v.double_counted}, mismatched keys {v.mismatched_cells + v.mismatched_tops}, "
          f"mismatched unique-author counts {v.mismatched_authors}, "
          f"dead-letter reasons equal to the truth: {v.dead_reasons_equal}; exact: {v.exact}")
    print(f"committed offsets at the partition ends: {o.uncommitted == 0} "
          f"({o.uncommitted} records uncommitted)")
    print(f"dead letters by reason: {dict(sorted(o.dead_reasons.items()))}")
    print(f"scored posts by language: {dict(sorted(o.languages.items()))}; unique-author "
          f"counts judged in {o.author_buckets:,} buckets")
    print(f"{o.seconds:.0f} s; worker logs: {log_dir}")
    return 0 if o.ok else 1


if __name__ == "__main__":
    sys.exit(main())
