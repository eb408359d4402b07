"""`sentistream serve`: the HTTP API and the dashboard on settings.api_host:api_port."""

from __future__ import annotations

import click

from sentistream.settings import Settings, get_settings


def dashboard_url(settings: Settings) -> str:
    """Where a browser on this machine finds the dashboard."""
    host = settings.api_host
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::", "") else host
    return f"http://{shown}:{settings.api_port}/"


@click.command()
@click.option("--host", default=None, help="Bind address [default: SENTISTREAM_API_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port [default: SENTISTREAM_API_PORT].")
def serve(host: str | None, port: int | None) -> None:
    """Serve the JSON API, the live SSE stream and the dashboard."""
    from aiohttp import web

    from stream.api.app import build_app

    settings = get_settings()
    settings = settings.replace(api_host=host or settings.api_host,
                                api_port=settings.api_port if port is None else port)
    url = dashboard_url(settings)
    auth = " (token required: SENTISTREAM_API_TOKEN)" if settings.api_token else ""
    click.echo(f"dashboard: {url}   API: {url}openapi.json{auth}", err=True)
    # Open SSE streams end at shutdown (the hub tells them), so a short timeout is enough.
    web.run_app(build_app(settings), host=settings.api_host, port=settings.api_port, print=None,
                shutdown_timeout=3, handle_signals=True)
