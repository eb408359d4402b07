"""Errors of the producers: each says what went wrong and what to do about it."""

from __future__ import annotations

from sentistream.errors import SentistreamError


class ProducerError(SentistreamError):
    """Root of the producers' errors; the CLI prints them without a traceback."""

    exit_code = 2


class InputError(ProducerError):
    """An input file cannot be opened or its format cannot be recognised; name it or fix it."""


class MappingError(ProducerError):
    """A column mapping names a column the input does not have; check --text/--time/--id."""


class PacingError(ProducerError):
    """A pacing option cannot be honoured (e.g. --speed without timestamps); pick another."""


class GeneratorConfigError(ProducerError):
    """A `generate` option is out of range: shares outside 0..1, no brand, a negative burst."""

