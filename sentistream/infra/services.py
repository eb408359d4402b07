"""The set of local services, started and stopped in dependency order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from sentistream.infra.kafka import KafkaBroker
from sentistream.infra.redis_server import RedisServer
from sentistream.settings import Settings


class Service(Protocol):
    name: str

    @property
    def address(self) -> str: ...

    def up(self) -> str: ...

    def down(self) -> bool: ...

    def healthy(self) -> bool: ...


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    pid: int | None


def local_services(settings: Settings, sasl: bool = False) -> list[Service]:
    return [RedisServer(settings), KafkaBroker(settings, sasl=sasl)]


def up_all(settings: Settings, sasl: bool = False) -> list[tuple[str, str, float]]:
    """Start every service; returns (name, what happened, seconds) for each.

    ``sasl`` adds a SASL listener to the broker (see ``KafkaBroker``)."""
    report = []
    for service in local_services(settings, sasl):
        started = time.monotonic()
        outcome = service.up()
        report.append((service.name, outcome, time.monotonic() - started))
    return report


def down_all(settings: Settings) -> list[tuple[str, bool]]:
    # Reverse order: the broker first, so nothing writes to Redis while it goes away.
    return [(s.name, s.down()) for s in reversed(local_services(settings))]


def status_all(settings: Settings) -> list[ServiceStatus]:
    statuses = []
    for service in local_services(settings):
        process = getattr(service, "process", None)
        pid = process.pid() if process is not None else None
        statuses.append(ServiceStatus(service.name, service.address, service.healthy(), pid))
    return statuses
