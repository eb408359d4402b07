"""Errors of the read side: each says what was wrong with the request and what to ask instead."""

from __future__ import annotations

from stream.errors import StreamError


class QueryError(StreamError):
    """Root of the query errors; the API maps each subclass to an HTTP status."""

    exit_code = 2
    http_status = 400


class UnknownBrandError(QueryError):
    """No post has been counted for that brand; `sentistream brands` lists the known ones."""

    exit_code = 4
    http_status = 404


class BadWindowError(QueryError):
    """The window is not like 15m, 1h, 24h or 7d (minutes, hours, days, weeks)."""


class BadResolutionError(QueryError):
    """The resolution is not one of 1m, 1h or 1d."""


class BadTimeRangeError(QueryError):
    """A time is unparseable, or the range is empty, reversed or has too many buckets."""


class BadParameterError(QueryError):
    """A query parameter is missing or out of range (the message names it and its range)."""


class QueryUnavailableError(QueryError):
    """Redis did not answer; start it (`sentistream infra up`) or fix SENTISTREAM_REDIS_URL."""

    exit_code = 3
    http_status = 503
