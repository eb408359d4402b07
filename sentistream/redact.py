"""Passwords never reach a log line, an error message or a repr.

Two layers: ``redact_url`` for the places that knowingly show an address (error messages, start-up
logs), and ``install_log_redaction``, a log-record factory that masks URL userinfo and the known
secret values in every record any library logs, its traceback included, whatever handlers it
configures later (Faust and mode install their own).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
# scheme://user:password@  (userinfo ends at the first "@"; a raw "@" in a password is invalid in
# a URL and must be percent-encoded, so it cannot hide the rest of the secret).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s]*):(?P<password>[^@/\s]+)@")
_MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words in every line


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo masked (``redis://:***@host:6379/0``)."""
    return _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", url)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL password and every literal occurrence of ``secrets`` masked."""
    text = redact_url(text) if "://" in text else text
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LEN and secret in text:
            text = text.replace(secret, MASK)
    return text


_installed: list[str] = []


def install_log_redaction(secrets: Iterable[str] = ()) -> None:
    """Mask passwords in every log record created from now on (idempotent; secrets accumulate).

    A record factory, not a handler filter: filters only see records of the handlers they are
    attached to, and Faust replaces the handlers when a worker starts.
    """
    first = not _installed
    _installed.extend(s for s in secrets if s and s not in _installed)
    if not first:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when the record is emitted
            return record
        masked = redact_text(message, _installed)
        if masked != message:
            record.msg, record.args = masked, None
        _redact_traceback(record)
        return record

    logging.setLogRecordFactory(factory)


def _redact_traceback(record: logging.LogRecord) -> None:
    """Mask the record's traceback and stack too: an exception's text (a Redis URL it failed on,
    a library echoing a credential) reaches the log when a handler formats ``exc_info``, after
    the factory. Formatted here once and kept as ``exc_text``, which every standard formatter
    prints instead of formatting ``exc_info`` (cleared, so none formats the unmasked one)."""
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked = redact_text(text, _installed)
        if masked != text:
            record.exc_info, record.exc_text = None, masked
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info, _installed)
