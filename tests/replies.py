"""Redis replies as the tests read them, with one type each.

redis-py types every reply as the union of all reply shapes (and of sync and async), so a test
that knows what a command returns says so here once: each function checks the shape at run time
and decodes bytes, so it serves clients with and without ``decode_responses``.
"""

from __future__ import annotations

from collections.abc import Mapping


def text(reply: object) -> str:
    """One string reply (bytes or str)."""
    if isinstance(reply, bytes):
        return reply.decode()
    assert isinstance(reply, str), f"expected a string reply, got {type(reply).__name__}"
    return reply


def texts(reply: object) -> list[str]:
    """An array of strings, e.g. ZRANGE without scores."""
    assert isinstance(reply, list), f"expected an array reply, got {type(reply).__name__}"
    return [text(item) for item in reply]


def ints(reply: object) -> list[int]:
    """An array of integers sent as strings, e.g. the bucket starts of a bucket index."""
    return [int(item) for item in texts(reply)]


def hash_fields(reply: object) -> dict[str, str]:
    """HGETALL, or the fields of one stream entry."""
    assert isinstance(reply, Mapping), f"expected a hash reply, got {type(reply).__name__}"
    return {text(k): text(v) for k, v in reply.items()}


def scored(reply: object) -> list[tuple[str, float]]:
    """ZRANGE ... WITHSCORES: (member, score) pairs."""
    assert isinstance(reply, list), f"expected an array reply, got {type(reply).__name__}"
    return [(text(member), float(score)) for member, score in reply]


def stream_entries(reply: object) -> list[tuple[str, dict[str, str]]]:
    """XRANGE: (entry id, fields) pairs."""
    assert isinstance(reply, list), f"expected an array reply, got {type(reply).__name__}"
    return [(text(entry_id), hash_fields(fields)) for entry_id, fields in reply]
