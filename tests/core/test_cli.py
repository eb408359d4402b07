from __future__ import annotations

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
