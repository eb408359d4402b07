"""The one command-line entry point, ``sentistream``.

The CLI is thin: it parses, sets up logging and delegates. Subcommands live next to the code they
drive and are imported lazily, so ``sentistream score`` never pays for Faust or TensorFlow imports.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from sentistream import __version__
from sentistream.cli_errors import reported
from sentistream.redact import install_log_redaction
from sentistream.settings import describe_environment, get_settings

# name -> "module:attribute" of a click command or group.
SUBCOMMANDS: dict[str, str] = {
    "infra": "sentistream.infra.cli:infra",
    "smoke": "sentistream.infra.cli:smoke",
    "model": "model.cli:model_group",
    "score": "model.cli:score",
    "worker": "stream.worker.cli:worker",
    "topics": "stream.worker.cli:topics",
    "demo": "stream.readers.demo:demo",
    "replay": "producers.cli:replay",
    "generate": "producers.cli:generate",
    "produce": "producers.cli:produce",
    "brands": "stream.readers.query.cli:brands",
    "query": "stream.readers.query.cli:query",
    "timeline": "stream.readers.query.cli:timeline",
    "top": "stream.readers.query.cli:top",
    "why": "stream.readers.query.cli:why",
    "alerts": "stream.readers.query.cli:alerts",
    "watch": "stream.readers.query.cli:watch",
    "serve": "stream.readers.api.cli:serve",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if _spec_importable(SUBCOMMANDS[name]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attr = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that part of sentistream is not built (yet)
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


def _spec_importable(spec: str) -> bool:
    import importlib.util

    module_name = spec.split(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


EPILOG = "Environment variables (read once at start-up):\n\n" + describe_environment()


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"max_content_width": 120})
@click.version_option(__version__, prog_name="sentistream")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@reported  # its settings may be bad; each command's errors go through @reported too
def cli(verbose: int) -> None:
    """sentistream: live per-brand social-media sentiment, from Kafka to Redis."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction(get_settings().secrets())


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="sentistream", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main()
