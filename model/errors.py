"""Errors of the model package: each says what went wrong and what to do about it."""

from __future__ import annotations


class ModelError(Exception):
    """Root of the model package's errors; the CLI prints them without a traceback."""

    exit_code = 1


class ModelFileError(ModelError):
    """A model or tokenizer file is missing, corrupt or incompatible; the message names it."""

    exit_code = 2


class EmptyInputError(ModelError, ValueError):
    """The scorer was given no texts; call it with at least one."""


class DataError(ModelError):
    """A training or evaluation CSV is missing, unreadable or lacks text/label columns."""

    exit_code = 2


class TrainingUnavailableError(ModelError):
    """Training or quantization needs TensorFlow: install the `train` extra."""

    exit_code = 3


class LanguageSettingError(ModelError):
    """A language to score is not one the model was trained for; pick among the model's."""

    exit_code = 2
