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
