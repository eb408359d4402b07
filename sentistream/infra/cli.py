"""`sentistream infra up|down|status` and `sentistream smoke`."""

from __future__ import annotations

import sys

import click

from sentistream.cli_errors import reported
from sentistream.errors import InfraError
from sentistream.infra.kafka import check_kafka
from sentistream.infra.services import down_all, status_all, up_all
from sentistream.infra.smoke import round_trip
from sentistream.settings import Settings, get_settings


@click.group()
def infra() -> None:
    """Run a local single-node Kafka (KRaft) and Redis, without Docker."""


@infra.command()
@click.option("--sasl", is_flag=True,
              help="Also listen with SASL (PLAIN, SCRAM-SHA-256/512) on "
                   "SENTISTREAM_KAFKA_SASL_PORT for the user "
                   "SENTISTREAM_KAFKA_SASL_USERNAME/_PASSWORD.")
@reported
def up(sasl: bool) -> None:
    """Start Kafka and Redis (idempotent: reuses our running services)."""
    settings = get_settings()
    for name, outcome, seconds in up_all(settings, sasl=sasl):
        click.echo(f"{name:<6} {outcome} in {seconds:.1f}s")
    _print_status()


@infra.command()
@click.option("--purge", is_flag=True, help="Also delete their data and logs.")
@reported
def down(purge: bool) -> None:
    """Stop the services that `infra up` started (only ours, by pid)."""
    settings = get_settings()
    for name, stopped in down_all(settings):
        click.echo(f"{name:<6} {'stopped' if stopped else 'was not running'}")
    if purge:
        import shutil

        for sub in ("kafka", "redis"):
            shutil.rmtree(settings.state_dir / sub, ignore_errors=True)
        click.echo(f"purged {settings.state_dir}/{{kafka,redis}}")


@infra.command()
@reported
def status() -> None:
    """Report each service as healthy or not, with its address. Exit 1 if any is down."""
    if not _print_status():
        sys.exit(1)


def _print_status() -> bool:
    settings = get_settings()
    all_ok = True
    for st in status_all(settings):
        state = "healthy" if st.healthy else "DOWN"
        pid = f"pid {st.pid}" if st.pid else "(no sentistream process)"
        click.echo(f"{st.name:<6} {state:<8} {st.address:<16} {pid}")
        all_ok &= st.healthy
    if settings.kafka_security_protocol != "PLAINTEXT":
        all_ok &= _print_kafka_login(settings)
    return all_ok


def _print_kafka_login(settings: Settings) -> bool:
    """With SASL/TLS configured: can the clients log in to SENTISTREAM_KAFKA_BOOTSTRAP?"""
    who = settings.kafka_sasl_username or "TLS client"
    try:
        check_kafka(settings)
    except InfraError as exc:
        click.echo(f"{'login':<6} {'FAILED':<8} {exc}")
        return False
    click.echo(f"{'login':<6} {'ok':<8} {settings.kafka_bootstrap:<16} as {who} "
               f"({settings.kafka_security_protocol})")
    return True


@click.command()
@reported
def smoke() -> None:
    """Send a message through Kafka and Redis and read it back."""
    result = round_trip(get_settings())
    click.echo(f"kafka round trip ok ({result.kafka_ms:.0f} ms): {result.payload}")
    click.echo(f"redis round trip ok ({result.redis_ms:.1f} ms)")
