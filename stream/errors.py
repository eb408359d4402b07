"""Errors of the stream package: each says what went wrong and what to do about it."""

from __future__ import annotations

from sentistream.errors import SentistreamError


class StreamError(SentistreamError):
    """Root of the stream package's errors."""


class BrandsFileError(StreamError):
    """The brands file is missing or malformed; fix it (its path and problem are in the message)."""

    exit_code = 2


class SinkUnavailableError(StreamError):
    """Redis did not answer at start-up; start it (`sentistream infra up`) or fix the URL."""

    exit_code = 3


class ScriptError(StreamError):
    """The Redis apply script failed for another reason than a lost connection (a bug)."""


class RedisFullError(StreamError):
    """Redis reached maxmemory (noeviction): the batch is retried, unacked, until memory is freed
    or the cap is raised (SENTISTREAM_REDIS_MAXMEMORY for the local Redis)."""


class ModelUnavailableError(StreamError):
    """The sentiment model could not be loaded; the message names the file and the fix."""

    exit_code = 2


class WorkerCrashedError(StreamError):
    """The worker's fetcher or scoring agent died; the worker exits for its supervisor to restart
    it (the log line before says which part and why)."""

    exit_code = 70  # EX_SOFTWARE
