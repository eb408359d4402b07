"""Short-lived signed tickets that open the live stream without the token in a URL.

A browser's EventSource cannot send an Authorization header, so the dashboard asks
``POST /api/live/ticket`` (with the header) for a ticket and opens ``/api/live?ticket=…``. A ticket
is ``<expiry>.<HMAC-SHA256(key, "live:<expiry>")>``, where the key is derived from the API token:
nothing is stored, any replica with the same token accepts it, and changing the token voids every
ticket. A leaked ticket (in a log or a browser history) opens the live stream only, and only
until it expires (``api_ticket_ttl_s``, 60 s by default).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

_TICKET = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})", re.ASCII)
_PURPOSE = b"sentistream live-stream ticket v1"


class Tickets:
    def __init__(self, key: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl_s = ttl_s
        self._clock = clock

    @classmethod
    def for_token(cls, token: str, ttl_s: int) -> Tickets:
        """Tickets bound to the API token; without a token, to a key of this process."""
        secret = token.encode() if token else secrets.token_bytes(32)
        return cls(hmac.new(secret, _PURPOSE, hashlib.sha256).digest(), ttl_s)

    def issue(self) -> str:
        expiry = int(self._clock()) + self.ttl_s
        return f"{expiry}.{self._mac(expiry)}"

    def valid(self, ticket: str) -> bool:
        match = _TICKET.fullmatch(ticket)
        if not match:
            return False
        expiry = int(match.group(1))
        now = self._clock()
        if not now <= expiry <= now + self.ttl_s + 1:  # expired, or from a longer-lived key
            return False
        return hmac.compare_digest(match.group(2), self._mac(expiry))

    def _mac(self, expiry: int) -> str:
        return hmac.new(self._key, f"live:{expiry}".encode(), hashlib.sha256).hexdigest()
