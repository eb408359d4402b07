"""Errors of the sentistream core: each says what went wrong and what to do about it."""

from __future__ import annotations


class SentistreamError(Exception):
    """Root of sentistream's own errors; the CLI prints them without a traceback."""

    exit_code = 1


class ConfigError(SentistreamError):
    """A setting (environment variable or option) has a value we cannot use."""

    exit_code = 2


class InfraError(SentistreamError):
    """A local service (Kafka or Redis) could not be installed, started or reached."""

    exit_code = 3


class PortInUseError(InfraError):
    """A port we need is taken by a process that is not one of ours."""


class DependencyMissingError(InfraError):
    """A program we need (java, mvn, redis-server) is not installed."""


class ServiceNotReadyError(InfraError):
    """A service started but did not become healthy in time; its log says why."""
