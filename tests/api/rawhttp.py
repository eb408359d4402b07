"""Raw HTTP/1.1 requests over a socket: any bytes in the path and headers, as hostile clients send.

Client libraries refuse or re-encode what these tests need to send (non-UTF-8 header bytes, odd
paths), so requests are written by hand and the answer is parsed by ``http.client``.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)


def request(port: int, target: bytes, headers: list[tuple[bytes, bytes]] | None = None,
            method: bytes = b"GET", host: bytes | None = b"127.0.0.1",
            timeout_s: float = 10.0, stream_ok: bool = True) -> Answer:
    """Send one request and read the answer; an event stream is closed after its headers."""
    lines = [method + b" " + target + b" HTTP/1.1"]
    if host is not None:
        lines.append(b"Host: " + host)
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Connection: close")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        response = http.client.HTTPResponse(sock, method=method.decode("latin-1"))
        response.begin()
        if stream_ok and response.getheader("Content-Type", "").startswith("text/event-stream"):
            return Answer(response.status, response.headers, b"")
        return Answer(response.status, response.headers, response.read())
