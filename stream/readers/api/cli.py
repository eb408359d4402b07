"""`sentistream serve`: the HTTP API and the dashboard on settings.api_host:api_port."""

from __future__ import annotations

import ipaddress

import click

from sentistream.cli_errors import reported
from sentistream.settings import Settings, get_settings
from stream.readers.api.security import WILDCARD_BINDS


def dashboard_url(settings: Settings) -> str:
    """Where a browser on this machine finds the dashboard."""
    host = settings.api_host
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::", "") else host
    return f"http://{shown}:{settings.api_port}/"


def is_loopback(host: str) -> bool:
    """Only this machine can connect: localhost or a loopback address (not a wildcard)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


@click.command()
@click.option("--host", default=None, help="Bind address [default: SENTISTREAM_API_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port [default: SENTISTREAM_API_PORT].")
@click.option("--insecure", is_flag=True,
              help="Serve a non-loopback address without SENTISTREAM_API_TOKEN (anyone who "
                   "reaches the port reads everything).")
@reported
def serve(host: str | None, port: int | None, insecure: bool) -> None:
    """Serve the JSON API, the live SSE stream and the dashboard."""
    from aiohttp import web

    from stream.readers.api.app import build_app
    from stream.readers.api.security import RedactedAccessLogger

    settings = get_settings()
    settings = settings.replace(api_host=settings.api_host if host is None else host,
                                api_port=settings.api_port if port is None else port)
    if not settings.api_token and not is_loopback(settings.api_host) and not insecure:
        raise click.UsageError(
            f"refusing to serve {settings.api_host or 'every address'} without a token: set "
            "SENTISTREAM_API_TOKEN (clients send 'Authorization: Bearer <token>'), bind "
            "127.0.0.1, or pass --insecure if another layer guards the port")
    url = dashboard_url(settings)
    auth = " (token required: SENTISTREAM_API_TOKEN)" if settings.api_token else ""
    click.echo(f"dashboard: {url}   API: {url}openapi.json{auth}", err=True)
    if not settings.api_allowed_hosts and settings.api_host in WILDCARD_BINDS:
        click.echo("note: only requests to localhost, 127.0.0.1 or [::1] are answered; list "
                   "the names clients use in SENTISTREAM_API_ALLOWED_HOSTS", err=True)
    # Open SSE streams end at shutdown (the hub tells them), so a short timeout is enough.
    web.run_app(build_app(settings), host=settings.api_host or None, port=settings.api_port,
                print=None, shutdown_timeout=3, handle_signals=True,
                access_log_class=RedactedAccessLogger)
