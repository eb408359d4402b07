"""The set of local services, started and stopped in dependency order."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from sentistream.errors import PortInUseError
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


def local_ports(settings: Settings, sasl: bool = False) -> dict[str, int]:
    """The ports ``infra up`` listens on, by the variable that sets each."""
    ports = {"SENTISTREAM_REDIS_PORT": settings.redis_port,
             "SENTISTREAM_KAFKA_PORT": settings.kafka_port,
             "SENTISTREAM_KAFKA_CONTROLLER_PORT": settings.kafka_controller_port}
    if sasl:
        ports["SENTISTREAM_KAFKA_SASL_PORT"] = settings.kafka_sasl_port
        ports["SENTISTREAM_KAFKA_TLS_PORT"] = settings.kafka_tls_port
    return ports


def check_distinct_ports(settings: Settings, sasl: bool = False) -> None:
    """Two services given one port: refused before either starts. Otherwise the first one
    started takes it and the second reports a port "in use by a process sentistream did not
    start" (the SASL listener defaults to the Kafka port + 2, where a Redis port may sit)."""
    owners: dict[int, list[str]] = {}
    for variable, port in local_ports(settings, sasl).items():
        owners.setdefault(port, []).append(variable)
    clashes = [f"port {port} is given to {' and '.join(names)}"
               for port, names in owners.items() if len(names) > 1]
    if clashes:
        raise PortInUseError(
            f"{'; '.join(clashes)}, so they cannot all listen. Give each its own port (the "
            "SASL and TLS listeners default to the Kafka port + 2 and + 3).")


def up_all(settings: Settings, sasl: bool = False) -> list[tuple[str, str, float]]:
    """Start every service; returns (name, what happened, seconds) for each.

    ``sasl`` adds a SASL listener to the broker (see ``KafkaBroker``)."""
    check_distinct_ports(settings, sasl)
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
