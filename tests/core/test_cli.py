from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sentistream.cli import SUBCOMMANDS, cli
from sentistream.cli_errors import reported


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


# -- one error -> exit code path (sentistream/cli_errors.py) --
def _commands(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def _wrapped_by(callback: Callable[..., Any] | None, code: CodeType) -> bool:
    """Whether ``code`` runs in ``callback`` or in a function it wraps (functools.wraps)."""
    while callback is not None:
        if callback.__code__ is code:
            return True
        callback = getattr(callback, "__wrapped__", None)
    return False


def test_every_command_maps_its_errors_through_the_one_path() -> None:
    ctx = click.Context(cli)
    wrapper_code = reported(lambda: None).__code__
    unwrapped = []
    for name in SUBCOMMANDS:
        top = cli.get_command(ctx, name)
        assert top is not None, name
        for path, command in _commands(top, name):
            if not isinstance(command, click.Group) and not _wrapped_by(command.callback,
                                                                       wrapper_code):
                unwrapped.append(path)
    assert not unwrapped, f"commands without @reported: {unwrapped}"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["generate", "--brands", " , ", "--limit", "1"], 2, "--brands needs at least one"),
    (["brands", "--window", "15x"], 2, "bad window '15x'"),
    (["score", "--languages", "en,ja", "hi"], 2, "cannot score ja"),
])
def test_an_error_of_any_sub_cli_is_one_line_and_its_exit_code(args: list[str], code: int,
                                                                message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
