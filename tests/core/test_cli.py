from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentistream.cli import cli


def test_help_names_environment_variables_and_infra() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "SENTISTREAM_KAFKA_BOOTSTRAP" in result.output
    assert "infra" in result.output


def test_unknown_command_fails() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


def test_help_lists_each_environment_variable_on_a_line_of_its_own() -> None:
    # Click rewraps epilog paragraphs: without its no-rewrap marker the list became one paragraph.
    from dataclasses import fields

    from sentistream.settings import Settings, env_name

    output = CliRunner().invoke(cli, ["--help"], terminal_width=120).output
    starts = {line.split()[0] for line in output.splitlines() if line.strip()}
    missing = [env_name(f.name) for f in fields(Settings) if env_name(f.name) not in starts]
    assert not missing, f"not at the start of a line: {missing}"
    assert max(len(line) for line in output.splitlines()) <= 120


@pytest.mark.parametrize("command", [["worker"], ["serve"], ["brands"], ["replay", "-"]])
def test_a_bad_setting_stops_each_process_at_start_with_its_name(command: list[str]) -> None:
    exe = Path(sys.executable).parent / "sentistream"
    env = {**os.environ, "SENTISTREAM_ALERT_METRIC": "mood"}
    started = time.monotonic()
    done = subprocess.run([str(exe), *command], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "SENTISTREAM_ALERT_METRIC='mood': must be one of nss, intensity" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30  # at start: no broker or Redis was waited for
