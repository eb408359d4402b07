"""Progress output: a bar with rate and ETA on a terminal, plain lines otherwise; the summary."""

from __future__ import annotations

import io

from producers.progress import Progress, RunStats


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal_has_rate_and_eta() -> None:
    out = Terminal()
    stats = RunStats(read=250, sent=250)
    Progress(total=1000, stream=out).update(stats, force=True)
    text = out.getvalue()
    assert text.startswith("\r[") and "25.0%" in text and "/s" in text and "ETA" in text


def test_plain_lines_when_not_a_terminal_and_only_every_interval() -> None:
    out = io.StringIO()
    progress = Progress(total=None, stream=out, interval_s=3600)
    stats = RunStats(read=10, sent=9, failed=1)
    progress.update(stats, force=True)
    progress.update(stats)  # within the interval: nothing
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("progress: read 10 sent 9 failed 1")
    assert "\r" not in out.getvalue()


def test_summary_says_how_it_ended() -> None:
    stats = RunStats(read=5, sent=3, failed=1, skipped=1, started=0.0, finished=2.0)
    assert stats.summary() == ("replay done: read 5, sent 3, failed 1, skipped 1 in 2.00s "
                               "(2 posts/s)")
    stats.interrupted = True
    assert stats.summary("generate").startswith("generate interrupted:")
