"""Errors of the HTTP API beyond the read side's: each maps to a status and says what to do."""

from __future__ import annotations

from stream.readers.query.errors import QueryError


class LiveLimitError(QueryError):
    """A live stream was refused because a limit is reached; the message says which."""

    http_status = 503
    retry_after_s = 30


class TooManyStreamsError(LiveLimitError):
    """The server has as many live streams open as SENTISTREAM_API_LIVE_MAX_STREAMS allows."""


class TooManyClientStreamsError(LiveLimitError):
    """This client address has SENTISTREAM_API_LIVE_MAX_STREAMS_PER_CLIENT streams open."""

    http_status = 429
