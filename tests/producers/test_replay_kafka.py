"""Replays through the real broker: exactly once, keyed, stamped, paced, reported, interruptible."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import pytest
from click.testing import CliRunner

from sentistream.cli import cli
from sentistream.settings import Settings, env_name, get_settings
from sentistream.times import parse_timestamp
from tests.producers.kafka_helpers import consume, payloads

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def env(isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The CLI, in-process or as a subprocess, talks to this test's own topics."""
    for name in ("topic_posts", "topic_scored", "topic_dead_letters"):
        monkeypatch.setenv(env_name(name), getattr(isolated, name))
    get_settings.cache_clear()
    yield isolated
    get_settings.cache_clear()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_posts(path: Path, n: int, brands: tuple[str, ...] = ("acme", "globex")
                ) -> list[dict[str, str]]:
    rows = [{"id": f"r{i}", "text": f"post number {i}", "brand": brands[i % len(brands)],
             "created_at": f"2024-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}Z"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


CLIENTS = pytest.mark.parametrize("client", ["kafka-python", "aiokafka"])


def _interruptible() -> None:
    """In the child before exec: SIGINT back to its default. A suite started in the background
    of a script (no job control) inherits SIGINT ignored, and a Python started so installs no
    KeyboardInterrupt handler: the replay then ran on through the test's SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@CLIENTS
def test_every_row_arrives_once_with_key_and_send_timestamp(
        env: Settings, tmp_path: Path, client: str) -> None:
    rows = write_posts(tmp_path / "posts.jsonl", 3000)
    before_ms = time.time() * 1000
    out = run("replay", "--max", "--quiet", "--client", client, str(tmp_path / "posts.jsonl"))
    after_ms = time.time() * 1000
    assert "sent 3000, failed 0, skipped 0" in out
    records = consume(env, env.topic_posts, len(rows))
    assert len(records) == len(rows)
    by_id = {p["id"]: (p, r) for p, r in zip(payloads(records), records, strict=True)}
    assert len(by_id) == len(rows)  # exactly once
    for row in rows:
        post, record = by_id[row["id"]]
        assert post == row  # created_at kept (no --rebase-time), text/brand unchanged
        assert record.key == row["brand"].encode()
        assert before_ms <= record.timestamp <= after_ms  # Kafka time = send time
    # one key, one partition, file order
    for brand in ("acme", "globex"):
        got = [p["id"] for p in payloads(records) if p["brand"] == brand]
        assert got == [r["id"] for r in rows if r["brand"] == brand]


def test_key_by_id_and_presets_end_to_end(env: Settings, tmp_path: Path) -> None:
    out = run("replay", "--preset", "sentiment140", "--key", "id", "--quiet",
              str(FIXTURES / "sentiment140.csv"))
    assert "sent 3," in out
    records = consume(env, env.topic_posts, 3)
    assert sorted(r.key for r in records) == [b"1467810369", b"1467822272", b"1467822273"]
    created = {p["id"]: p["created_at"] for p in payloads(records)}
    assert created["1467810369"] == "2009-04-07T05:19:45Z"


def test_bad_rows_reported_while_good_rows_are_sent(env: Settings, tmp_path: Path) -> None:
    report = tmp_path / "bad.tsv"
    out = run("replay", "--quiet", "--bad-rows", str(report), str(FIXTURES / "mixed_bad.csv"))
    assert "read 5, sent 2, failed 0, skipped 3" in out
    assert "3 bad rows" in out
    lines = report.read_text().splitlines()
    assert lines[0].startswith("source\tline\treason")
    assert [int(line.split("\t")[1]) for line in lines[1:]] == [3, 4, 5]
    assert sorted(p["id"] for p in payloads(consume(env, env.topic_posts, 2))) == ["1", "5"]


@CLIENTS
def test_rate_spaces_records_evenly(env: Settings, tmp_path: Path, client: str) -> None:
    rows = write_posts(tmp_path / "p.jsonl", 60, brands=("acme",))
    run("replay", "--rate", "100", "--quiet", "--linger-ms", "0", "--client", client,
        str(tmp_path / "p.jsonl"))
    records = consume(env, env.topic_posts, len(rows))
    assert [p["id"] for p in payloads(records)] == [r["id"] for r in rows]
    stamps = [r.timestamp for r in records]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0
    assert 450 <= stamps[-1] - stamps[0] <= 900  # 59 gaps of 10 ms
    assert 5 <= median(gaps) <= 15


def test_speed_follows_the_original_gaps_and_rebase_moves_to_now(
        env: Settings, tmp_path: Path) -> None:
    # original gaps 0.5 s, 1 s, 2 s, 0 s; at --speed 5: 100, 200, 400, 0 ms; the file is
    # unsorted, so auto order sorts it first
    times = [0.0, 3.5, 0.5, 1.5, 3.5]
    path = tmp_path / "s.csv"
    path.write_text("id,text,created_at,brand\n" + "".join(
        f"{i},post {i},{1_700_000_000 + t},acme\n" for i, t in enumerate(times)))
    start = time.time()
    run("replay", "--speed", "5", "--rebase-time", "--quiet", "--linger-ms", "0", str(path))
    records = consume(env, env.topic_posts, len(times))
    posts = payloads(records)
    assert [p["id"] for p in posts] == ["0", "2", "3", "1", "4"]
    stamps = [r.timestamp for r in records]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    for got, want in zip(gaps, [100, 200, 400, 0], strict=True):
        assert abs(got - want) <= 60, gaps
    created = [parse_timestamp(p["created_at"]) for p in posts]
    assert abs(created[0] - start) < 5.0  # first post is "now"
    for c, r in zip(created, records, strict=True):  # rebased, scaled: created_at ≈ send time
        assert abs(c * 1000 - r.timestamp) < 150


def test_limit_and_loop_keep_the_timeline_advancing(env: Settings, tmp_path: Path) -> None:
    write_posts(tmp_path / "p.jsonl", 10, brands=("acme",))
    out = run("replay", "--loop", "--limit", "25", "--rebase-time", "--quiet",
              str(tmp_path / "p.jsonl"))
    assert "sent 25," in out
    posts = payloads(consume(env, env.topic_posts, 25))
    assert len(posts) == 25
    assert [p["id"] for p in posts][:12] == [f"r{i}" for i in range(10)] + ["r0", "r1"]
    created = [parse_timestamp(p["created_at"]) for p in posts]
    assert all(a < b for a, b in itertools.pairwise(created))


@CLIENTS
def test_interrupted_replay_prints_the_summary(env: Settings, tmp_path: Path, client: str) -> None:
    # 200 s of posts at 100/s: the replay must still be sending when the SIGINT comes, even
    # when a loaded machine takes tens of seconds to show the consumer its first record.
    write_posts(tmp_path / "p.jsonl", 20000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentistream.cli", "replay", "--rate", "100", "--client", client,
         str(tmp_path / "p.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        preexec_fn=_interruptible)
    try:
        assert consume(env, env.topic_posts, 1, timeout_s=30, settle_s=0)  # it is sending
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "replay interrupted: read" in out
    sent = int(out.split("sent ")[1].split(",")[0])
    assert 0 < sent < 20000
    assert len(consume(env, env.topic_posts, sent, settle_s=1.5)) == sent  # flushed, counted


def test_produce_sends_stdin_lines(env: Settings) -> None:
    lines = '{"id": "x1", "text": "json line", "brand": "acme"}\nplain text line\n\n{broken\n'
    result = CliRunner().invoke(cli, ["produce", "--quiet"], input=lines)
    assert result.exit_code == 0, result.output
    assert "read 4, sent 2, failed 0, skipped 2" in result.output
    posts = payloads(consume(env, env.topic_posts, 2))
    assert {p["text"] for p in posts} == {"json line", "plain text line"}


def test_generate_sends_the_limit(env: Settings) -> None:
    out = run("generate", "--max", "--limit", "500", "--seed", "1", "--brands", "acme,globex",
              "--quiet")
    assert "sent 500," in out
    records = consume(env, env.topic_posts, 500)
    assert len(records) == 500
    assert {r.key for r in records} == {b"acme", b"globex"}


@CLIENTS
def test_delivery_failures_are_counted_and_fail_the_run(
        env: Settings, tmp_path: Path, client: str) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=env.kafka_bootstrap)
    try:  # a topic whose broker-side limit refuses one oversized post
        admin.create_topics([NewTopic(env.topic_posts, env.partitions, 1,
                                      topic_configs={"max.message.bytes": "4000"})])
    finally:
        admin.close()
    path = tmp_path / "p.jsonl"
    rows = [{"id": str(i), "text": "x" * (20_000 if i == 3 else 20), "brand": "acme"}
            for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["replay", "--quiet", "--compression", "none",
                                      "--client", client, str(path)])
    assert result.exit_code == 1, result.output
    assert "MessageSizeTooLarge" in result.output
    summary = result.output.split("read 6, sent ")[1]
    sent, failed = int(summary.split(",")[0]), int(summary.split("failed ")[1].split(",")[0])
    # kafka-python's idempotent producer treats the refusal as fatal and aborts what is still
    # queued; aiokafka fails the whole batch. Those count as failed too: nothing may go missing.
    assert failed >= 1 and sent + failed == 6
    got = sorted(p["id"] for p in payloads(consume(env, env.topic_posts, sent)))
    assert len(got) == sent and "3" not in got


# -- hostile and huge inputs (bounded memory: see test_bounded_input, test_replay_memory) -------
def test_rows_around_over_long_rows_reach_kafka(env: Settings, tmp_path: Path) -> None:
    lines = tmp_path / "lines.jsonl"
    lines.write_text(json.dumps({"id": "l1", "text": "before"}) + "\n"
                     + json.dumps({"id": "l2", "text": "y" * 50_000}) + "\n"
                     + json.dumps({"id": "l3", "text": "after"}) + "\n")
    array = tmp_path / "items.json"
    array.write_text(json.dumps([{"id": "a1", "text": "first"},
                                 {"id": "a2", "text": "z" * 50_000},
                                 {"id": "a3", "text": "third } ]"}]))
    report = tmp_path / "bad.tsv"
    out = run("replay", "--quiet", "--max-row-bytes", "2000", "--bad-rows", str(report),
              str(lines), str(array))
    assert "read 6, sent 4, failed 0, skipped 2" in out
    posts = payloads(consume(env, env.topic_posts, 4))
    assert sorted(p["id"] for p in posts) == ["a1", "a3", "l1", "l3"]
    bad = [line.split("\t")[:3] for line in report.read_text().splitlines()[1:]]
    assert bad == [[str(lines), "2", "line longer than 2000 bytes (--max-row-bytes)"],
                   [str(array), "2", "item longer than 2000 bytes (--max-row-bytes)"]]


def replay_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sentistream.cli", "replay", "--quiet", *args],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_limit_stops_reading_before_a_gzip_bomb(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "tail.jsonl.gz"
    rows = [{"id": f"t{i}", "text": f"post {i}", "created_at": 1_700_000_000 - i}
            for i in range(10)]  # newest first: --order auto sorts what it reads
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
        f.write(b"\0" * (16 << 20))
    bomb = replay_process("--max-decompressed-mib", "2", str(path))
    assert bomb.returncode == 2, bomb.stderr
    assert "decompresses to more than 2 MiB" in bomb.stderr
    assert "replay stopped by an error (DecompressionCapError)" in bomb.stdout
    limited = replay_process("--max-decompressed-mib", "2", "--limit", "4", str(path))
    assert limited.returncode == 0, limited.stderr
    assert "read 4, sent 4, failed 0" in limited.stdout
    assert "order: sorted 4 rows by time in memory" in limited.stdout
    got = [p["id"] for p in payloads(consume(env, env.topic_posts, 4))]
    assert sorted(got) == ["t0", "t1", "t2", "t3"]


def test_auto_order_over_the_sort_limit_streams_and_says_so(env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "unsorted.jsonl"
    n = 12_000  # ~1.3 MiB, over a 1 MiB sort limit
    rows = [{"id": f"u{i}", "text": f"post {i} " + "pad " * 10, "brand": "acme",
             "created_at": 1_700_000_000 + (n - i)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert path.stat().st_size > 1 << 20
    out = run("replay", "--quiet", "--sort-max-mib", "1", "--client", "aiokafka", str(path))
    assert f"sent {n}," in out
    assert "order: streamed in file order" in out
    assert f"{n - 1:,} rows were earlier than the row before them" in out
    got = [p["id"] for p in payloads(consume(env, env.topic_posts, n))]
    assert got == [r["id"] for r in rows]  # one key, one partition: file order kept
