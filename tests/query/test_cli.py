"""The query commands against the real Redis, on data the real pipeline wrote."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sentistream.harness import child_env
from stream.readers.query import cli
from tests.query.dataset import MIX, WEIRD, Dataset
from tests.query.harness import POSITIVE, post, send_posts

pytestmark = pytest.mark.integration


@pytest.fixture
def run(dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(cli, "get_settings", lambda: dataset.settings)

    def invoke(command: Any, *args: str) -> Result:
        return CliRunner().invoke(command, list(args), catch_exceptions=False)
    return invoke


def test_brands_lists_every_brand_with_share_of_voice(dataset: Dataset, run: Any) -> None:
    rows = json.loads(run(cli.brands, "--window", "15m", "--json").output)
    by = {r["brand"]: r for r in rows}
    assert set(by) == set(MIX)
    for brand, (pos, neg, neu) in dataset.expected.items():
        assert (by[brand]["positive"], by[brand]["negative"], by[brand]["neutral"]) == (pos, neg,
                                                                                        neu)
    total = sum(sum(m) for m in MIX.values())
    assert by["acme"]["share_of_voice"] == pytest.approx(30 / total, abs=1e-6)
    assert sum(r["share_of_voice"] for r in rows) == pytest.approx(1.0)
    table = run(cli.brands).output.splitlines()
    assert table[0].split()[:3] == ["brand", "posts", "neg"]
    assert table[2].split()[0] == "acme"  # biggest volume first


def test_query_summary(dataset: Dataset, run: Any) -> None:
    pos, neg, neu = dataset.expected["acme"]
    s = json.loads(run(cli.query, "--brand", "acme", "--window", "1h", "--json").output)
    assert (s["n"], s["positive"], s["negative"], s["neutral"]) == (30, pos, neg, neu)
    assert s["nss"] == pytest.approx((pos - neg) / 30, abs=1e-6)
    assert -1 <= s["mean_intensity"] <= 1 and s["brands_in_window"] == 3
    human = run(cli.query, "--brand", "acme").output
    assert "NSS" in human and f"{(pos - neg) / 30:+.3f}" in human and "share of voice" in human


def test_an_old_window_is_empty(run: Any) -> None:
    s = json.loads(run(cli.query, "-b", "acme", "-w", "15m", "--at", "-2h", "--json").output)
    assert s["n"] == 0 and s["nss"] is None


def test_timeline_has_every_bucket(run: Any) -> None:
    rows = json.loads(run(cli.timeline, "--brand", "acme", "--resolution", "1m", "--from",
                          "-10m", "--json").output)
    assert len(rows) in (10, 11) and sum(r["n"] for r in rows) == 30
    assert all(rows[i + 1]["start"] - rows[i]["start"] == 60 for i in range(len(rows) - 1))
    hourly = json.loads(run(cli.timeline, "-b", "acme", "-r", "1h", "--json").output)
    assert sum(r["n"] for r in hourly) == 30


def test_top_posts(dataset: Dataset, run: Any) -> None:
    top = json.loads(run(cli.top, "--brand", "acme", "--limit", "3", "--json").output)
    pos, neg, _ = dataset.expected["acme"]
    assert (len(top["positive"]), len(top["negative"])) == (min(pos, 3), min(neg, 3))
    assert all(p["label"] == "positive" for p in top["positive"])
    assert all(p["label"] == "negative" for p in top["negative"])
    pos_scores = [p["intensity"] for p in top["positive"]]
    neg_scores = [p["intensity"] for p in top["negative"]]
    assert pos_scores == sorted(pos_scores, reverse=True) and neg_scores == sorted(neg_scores)
    assert "most positive" in run(cli.top, "--brand", "acme").output


def test_a_brand_with_key_syntax_in_its_name_is_just_a_brand(dataset: Dataset, run: Any) -> None:
    s = json.loads(run(cli.query, "--brand", WEIRD, "--json").output)
    assert (s["n"], s["negative"]) == (4, dataset.expected[WEIRD][1])
    # A glob or a tag fragment is not a brand and matches nothing.
    assert run(cli.query, "--brand", "at&t*").exit_code == 4
    assert run(cli.query, "--brand", "x}:*").exit_code == 4


@pytest.mark.parametrize(("args", "code", "message"), [
    (["query", "--brand", "nosuch"], 4, "unknown brand 'nosuch'"),
    (["query", "--brand", "acme", "--window", "15x"], 2, "bad window"),
    (["timeline", "--brand", "acme", "--resolution", "5m"], 2, "bad resolution"),
    (["timeline", "--brand", "acme", "--from", "-1h", "--to", "-2h"], 2, "must be before"),
    (["top", "--brand", "acme", "--at", "tomorrow"], 2, "bad time"),
])
def test_errors_have_a_message_and_an_exit_code(dataset: Dataset, args: list[str], code: int,
                                                 message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "sentistream.cli", *args], capture_output=True,
                          text=True, env=child_env(dataset.settings), timeout=60)
    assert done.returncode == code, done.stderr
    assert message in done.stderr


def test_alerts_command_on_a_quiet_dataset(run: Any) -> None:
    assert json.loads(run(cli.alerts, "--json").output) == []
    assert run(cli.alerts).output.strip() == "no alerts"


class Watcher:
    """`sentistream watch` in a subprocess, its output lines collected by a thread."""

    def __init__(self, dataset: Dataset, *args: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sentistream.cli", "watch", *args], text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(dataset.settings))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_line(self, want: Callable[[str], bool], timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if want(line):
                return line
        return None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _post_until(dataset: Dataset, watcher: Watcher, want: Callable[[str], bool]) -> str:
    """Post about globex until the watcher shows it (its subscription starts asynchronously)."""
    for attempt in range(20):
        send_posts(dataset.settings, [post(7000 + attempt, "globex", POSITIVE.format(b="globex"),
                                           time.time(), prefix=f"w{uuid.uuid4().hex[:6]}-")])
        line = watcher.wait_line(want, 3.0)
        if line is not None:
            return line
    raise AssertionError("watch showed nothing after 20 posts")


def test_watch_json_prints_each_announcement(dataset: Dataset) -> None:
    watcher = Watcher(dataset, "--brand", "globex", "--json")
    try:
        line = _post_until(dataset, watcher, lambda s: s.startswith("{"))
        update = json.loads(line)
        assert update["brands"]["globex"]["n"] >= 1 and set(update["brands"]) <= {"globex",
                                                                                  "_all"}
    finally:
        watcher.stop()


def test_watch_redraws_its_table_on_announcements(dataset: Dataset) -> None:
    watcher = Watcher(dataset, "--brand", "globex")
    try:
        first = watcher.wait_line(lambda s: s.startswith("sentistream watch"), 20)
        assert first is not None and "live: 0 posts" in first
        line = _post_until(dataset, watcher, lambda s: "live: " in s and "live: 0 posts" not in s)
        assert "updates since start" in line
        row = watcher.wait_line(lambda s: s.startswith("globex"), 5)
        assert row is not None
    finally:
        watcher.stop()
