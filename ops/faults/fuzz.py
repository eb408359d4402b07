"""Bad-input fuzzing: hostile payloads (hypothesis strategies) mixed with good posts.

Usage (from the repository root; starts and stops its own Kafka + Redis):
    .venv/bin/python -m ops.faults.fuzz [--payloads 10000] [--good 3000] [--seed 5]

The worker must stay alive throughout (no crash, no restart), every record must end up either
scored or dead-lettered with a reason (records in = `_all` posts + dead-letter counts), and every
aggregate must equal the offline truth of the same input. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from ops.bench import harness as h
from ops.faults.scenarios import Producer, Run, known_input
from ops.faults.truth import Verdict, actual, compare, expected_of, records_in_topic
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.posts import RawRecord

MAX_PAYLOAD = 900_000  # under the broker's default message.max.bytes (1 MiB)
STALL_S = 60.0  # no progress for this long after the last send: the worker is stuck

lone_surrogate = st.integers(0xD800, 0xDFFF).map(chr)
odd_char = st.one_of(st.characters(), lone_surrogate,
                     st.sampled_from(["\x00", "\u200b", "\u202e", "\ufeff", "\U0001f600",
                                      "\u0301", "\x1f", "\\", '"', "\n", "\ud83d"]))
odd_text = st.text(odd_char, max_size=200)
good_text = st.sampled_from(["love my new iphone", "worst nike support ever", "tesla ok",
                             "xbox is out today #xbox", "meh @google"])
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), odd_text)
json_any = st.recursive(json_scalar, lambda c: st.lists(c, max_size=4)
                        | st.dictionaries(odd_text, c, max_size=4), max_leaves=12)
timestamps = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), odd_text, json_any,
    st.sampled_from(["2016-02-30T00:00:00Z", "2016-11-25T17:45:34Z", "9999-12-31T23:59:59",
                     "1e5", "-1", "NaN", "Infinity", "", " ", "0001-01-01T00:00:00-23:59",
                     "2016-11-25T17:45:34+25:00", "1480000000000", "1480000000"]))
# Each field is good or hostile (one_of picks a branch evenly), so most payloads are nearly
# valid posts with one or two bad fields: the cases a validator is most likely to miss.
hostile_post = st.fixed_dictionaries({
    "id": st.one_of(st.text("abc123-_", min_size=1, max_size=12), odd_text, st.integers(),
                    st.none(), json_any),
    "text": st.one_of(good_text, odd_text, st.sampled_from(["", " \t\n"]), json_scalar,
                      json_any, st.integers(1990, 300_000).map(lambda n: "x" * n)),
}, optional={
    "created_at": timestamps,
    "brand": st.one_of(good_text, odd_text, st.integers(), json_any,
                       st.integers(90, 200).map(lambda n: "b" * n)),
    "brands": st.one_of(st.lists(st.one_of(odd_text, st.integers()), max_size=5), odd_text),
    "author": st.one_of(odd_text, st.integers(), json_any),
    "lang": st.one_of(odd_text, st.integers()),
})


# A valid post with exactly one hostile optional field (timestamps, brands, author, lang).
one_bad_field = st.tuples(
    st.text("abc123-_", min_size=1, max_size=12), good_text,
    st.sampled_from(["created_at", "brand", "brands", "author", "lang"]),
    st.one_of(timestamps, odd_text, json_any, st.integers()),
).map(lambda t: {"id": t[0], "text": t[1], t[2]: t[3]})


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
    st.tuples(json_any, st.booleans()).map(lambda t: _encode(*t)),
    st.tuples(hostile_post, st.integers(0, 400)).map(lambda t: _encode(t[0], True)[:t[1]]),
    st.sampled_from([b"", b"null", b"{}", b"[]", b'"a string"', b"\xff\xfe", b"{\"id\": }"]),
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

    @property
    def ok(self) -> bool:
        return (self.worker_alive and self.worker_exits == 0 and self.verdict.exact
                and self.scored + self.dead_lettered == self.records)


def run_fuzz(base: Settings, values: list[bytes], hostile: int, rate: float, log_dir: Path,
             timeout_s: float = 600.0) -> FuzzOutcome:
    started = time.monotonic()
    run = Run(base, "fuzz", log_dir)
    ensure_topics(run.settings)
    # Posts without created_at count at their record time: the truth is computed from the
    # records as the broker holds them, once they are all there (below).
    want = expected_of([RawRecord(v, "t", 0, i, 0.0) for i, v in enumerate(values)],
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
        run.stop()
    return FuzzOutcome(len(values), hostile, scored, dead, alive,
                       0 if alive else 1, compare(want, actual(run.settings, want)),
                       time.monotonic() - started)


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
          f"dead-letter reasons equal to the truth: {v.dead_reasons_equal}; exact: {v.exact}")
    print(f"{o.seconds:.0f} s; worker logs: {log_dir}")
    return 0 if o.ok else 1


if __name__ == "__main__":
    sys.exit(main())
