"""The one path from an error to a message and an exit code, for every sentistream command.

Our errors (``SentistreamError`` and, since model/ imports nothing of ours, ``ModelError``) say
what went wrong and what to do, and carry their exit code: a command prints ``error: <message>``
on stderr (secrets masked) and exits with that code, never with a traceback. Anything else is a
bug and keeps its traceback. Click's own usage errors stay click's (exit code 2).

Each command's callback is wrapped with ``@reported``, so the mapping holds however the command
is reached (the ``sentistream`` entry point, ``python -m sentistream.cli`` or a test's
CliRunner); ``sentistream.cli.main`` applies it once more around the whole group.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import click

from model.errors import ModelError
from sentistream.errors import SentistreamError
from sentistream.redact import redact_text

P = ParamSpec("P")
R = TypeVar("R")


def exit_with(exc: SentistreamError | ModelError) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with its code."""
    click.echo(f"error: {redact_text(str(exc))}", err=True)
    sys.exit(exc.exit_code)


def reported(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a click callback: our errors become a message and their exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (SentistreamError, ModelError) as exc:
            exit_with(exc)

    return wrapper
