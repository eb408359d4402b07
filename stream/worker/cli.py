"""`sentistream worker` and `sentistream topics`: thin commands that delegate to stream/."""

from __future__ import annotations

import sys

import click

from sentistream.cli_errors import reported
from sentistream.settings import get_settings


@click.command()
@click.option("--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Faust log level.")
@reported
def worker(loglevel: str) -> None:
    """Run a scoring worker: posts topic -> model -> exact aggregates in Redis.

    Start several (processes or machines) to share the partitions as one consumer group. Exits
    with 3 when Kafka or Redis cannot be reached, 2 on a bad model or brands file, 70 when its
    fetcher or scoring agent died (restart it: its partitions wait for the group meanwhile).
    """
    from stream.worker.main import run_worker

    sys.exit(run_worker(get_settings(), loglevel))


@click.command()
@reported
def topics() -> None:
    """Create the posts, scored and dead-letter topics (idempotent) and list them."""
    from sentistream.topics import ensure_topics, topic_names

    settings = get_settings()
    created = ensure_topics(settings)
    for name in topic_names(settings):
        state = "created" if name in created else "exists"
        click.echo(f"{name:<40} {state:<8} {settings.partitions} partitions")
