"""Token only in the header (tickets for the live stream), Host allow-list, security headers,
quiet access logs, and `serve` refusing an open non-loopback bind."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from sentistream.harness import child_env, free_port
from sentistream.settings import Secret, Settings
from stream.readers.api.app import build_app
from stream.readers.api.cli import is_loopback
from stream.readers.api.security import allowed_hosts, host_name, redacted_target
from stream.readers.api.tickets import Tickets
from tests.api import rawhttp

TOKEN = "t0ken-" + "x" * 20
BEARER = {"Authorization": f"Bearer {TOKEN}"}


# -- no server ------------------------------------------------------------------------------

def test_tickets_expire_and_cannot_be_forged() -> None:
    now = [1_700_000_000.0]
    tickets = Tickets.for_token(TOKEN, 60)
    tickets._clock = lambda: now[0]
    ticket = tickets.issue()
    assert tickets.valid(ticket)
    expiry, mac = ticket.split(".")
    assert not tickets.valid(f"{int(expiry) + 3600}.{mac}")  # a later expiry, same MAC
    assert not tickets.valid(ticket[:-1] + ("0" if ticket[-1] != "0" else "1"))
    assert not Tickets.for_token("another token", 60).valid(ticket)  # a rotated token voids it
    for junk in ("", ".", "1.2", "x" * 200, "\udc80", f"{expiry}.{mac.upper()}"):
        assert not tickets.valid(junk)
    now[0] += 61
    assert not tickets.valid(ticket)


@pytest.mark.parametrize(("header", "name"), [
    ("localhost:8000", "localhost"), ("127.0.0.1", "127.0.0.1"), ("[::1]:8000", "::1"),
    ("Example.COM.:80", "example.com"), ("evil.example", "evil.example")])
def test_host_names(header: str, name: str) -> None:
    assert host_name(header) == name


def test_allowed_hosts_default_to_loopback_names_and_the_bind_address() -> None:
    loopback = frozenset({"localhost", "127.0.0.1", "::1"})
    assert allowed_hosts(Settings()) == loopback
    assert allowed_hosts(Settings(api_host="10.0.0.5")) == loopback | {"10.0.0.5"}
    assert allowed_hosts(Settings(api_host="0.0.0.0")) == loopback
    assert allowed_hosts(Settings(api_allowed_hosts="a.example, B.example.")) == frozenset({
        "a.example", "b.example"})
    assert allowed_hosts(Settings(api_allowed_hosts="*")) is None


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False), ("10.1.2.3", False),
    ("example.com", False)])
def test_loopback_binds(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- against a server on the real Redis --------------------------------------------------


@pytest.fixture(scope="module")
def settings(services: Settings) -> Settings:
    return services.replace(redis_prefix=f"s{uuid.uuid4().hex[:10]}",
                            api_token=Secret(TOKEN))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    yield client
    await client.close()


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_a_ticket_opens_the_live_stream_and_nothing_else(
        api: TestClient[Any, Any]) -> None:
    assert (await api.post("/api/live/ticket")).status == 401  # the ticket needs the token
    issued = await api.post("/api/live/ticket", headers=BEARER)
    body = await issued.json()
    assert issued.status == 200 and body["expires_in"] == 60
    ticket = body["ticket"]
    stream = await api.get(f"/api/live?ticket={ticket}")
    assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
    assert (await stream.content.readuntil(b"\n\n")).endswith(b"event: hello\ndata: {}\n\n")
    stream.close()
    assert (await api.get(f"/api/brands?ticket={ticket}")).status == 401
    forged = await api.get(f"/api/live?ticket={ticket[:-4]}abcd")
    assert forged.status == 401 and "POST /api/live/ticket" in (await forged.json())["error"]
    with_header = await api.get("/api/live", headers=BEARER)  # non-browser clients
    assert with_header.status == 200
    with_header.close()


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_dns_rebinding_hosts_are_refused(api: TestClient[Any, Any]) -> None:
    port = api.server.port
    assert port is not None
    for host in (b"evil.example", b"evil.example:%d" % port, b"127.0.0.1.evil.example"):
        answer = await asyncio.to_thread(rawhttp.request, port, b"/api/brands",
                                         [(b"Authorization", f"Bearer {TOKEN}".encode())],
                                         host=host)
        assert answer.status == 400, answer
        assert "SENTISTREAM_API_ALLOWED_HOSTS" in answer.json()["error"]
        page = await asyncio.to_thread(rawhttp.request, port, b"/", host=host)
        assert page.status == 400
    for host in (b"localhost:%d" % port, b"127.0.0.1", b"[::1]:%d" % port):
        answer = await asyncio.to_thread(rawhttp.request, port, b"/api/brands",
                                         [(b"Authorization", f"Bearer {TOKEN}".encode())],
                                         host=host)
        assert answer.status == 200, answer
    # /health tells nothing, and container probes call it by address.
    probe = await asyncio.to_thread(rawhttp.request, port, b"/health", host=b"10.1.2.3:8000")
    assert probe.status == 200 and probe.json() == {"status": "ok"}


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="module")
async def test_every_answer_carries_the_security_headers(api: TestClient[Any, Any]) -> None:
    for path, headers in [("/", {}), ("/static/app.js", {}), ("/health", {}),
                          ("/api/brands", BEARER), ("/api/brands", {}), ("/nothing", {}),
                          ("/static/../../etc/passwd", {}), ("/openapi.json", {})]:
        response = await api.get(path, headers=headers)
        h = response.headers
        assert h["X-Content-Type-Options"] == "nosniff", path
        assert "default-src 'none'" in h["Content-Security-Policy"], path
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], path
        assert h["X-Frame-Options"] == "DENY" and h["Referrer-Policy"] == "no-referrer", path
        assert "Access-Control-Allow-Origin" not in h, path
        if path.startswith("/api/"):
            assert h["Cache-Control"] == "no-store", path
        if response.status >= 400:
            assert h["Content-Type"].startswith("application/json"), path


def test_access_log_redaction_of_query_secrets() -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", "/api/live?brand=a%20b&ticket=123.abc&Token=zz")
    assert redacted_target(request) == "/api/live?brand=a%20b&ticket=***&Token=***"


# -- `sentistream serve` as a user starts it -----------------------------------------------

def _serve(settings: Settings, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "sentistream.cli", "-v", "serve", *args],
                                env=child_env(settings), stdout=out, stderr=subprocess.STDOUT)


def _wait_up(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve did not start:\n" + log.read_text()) from None
            time.sleep(0.2)


@pytest.mark.integration
def test_serve_refuses_a_tokenless_public_bind(services: Settings, tmp_path: Path) -> None:
    settings = services.replace(api_port=free_port(), api_token=Secret(""))
    refused = subprocess.run([sys.executable, "-m", "sentistream.cli", "serve", "--host",
                              "0.0.0.0"], env=child_env(settings), capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "SENTISTREAM_API_TOKEN" in refused.stderr and "--insecure" in refused.stderr
    log = tmp_path / "insecure.log"
    proc = _serve(settings, ["--host", "0.0.0.0", "--insecure"], log)
    try:
        _wait_up(settings.api_port, proc, log)
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.integration
def test_secrets_never_reach_the_access_log(services: Settings, tmp_path: Path) -> None:
    settings = services.replace(api_port=free_port(), api_token=Secret(TOKEN),
                                redis_prefix=f"s{uuid.uuid4().hex[:10]}")
    log = tmp_path / "serve.log"
    proc = _serve(settings, ["--host", "0.0.0.0"], log)  # public: allowed, a token is set
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        _wait_up(settings.api_port, proc, log)
        ticket_request = urllib.request.Request(f"{base}/api/live/ticket", method="POST",
                                                headers=BEARER)
        with urllib.request.urlopen(ticket_request, timeout=10) as answer:
            import json

            ticket = json.load(answer)["ticket"]
        stream = urllib.request.urlopen(f"{base}/api/live?ticket={ticket}", timeout=10)
        stream.readline()
        stream.close()
        for url in (f"{base}/api/brands?token={TOKEN}", f"{base}/api/live?token={TOKEN}"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(url, timeout=10)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(15)
    text = log.read_text()
    assert "/api/live?ticket=*** " in text and "/api/brands?token=*** " in text, text
    assert ticket not in text and ticket.split(".")[1] not in text and TOKEN not in text
