"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from sentistream.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_official_images() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "redis", "worker", "api"}
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["redis"]["image"].startswith("redis:")
    assert services["worker"]["build"]["dockerfile"] == "ops/Dockerfile"
    assert (ROOT / services["worker"]["build"]["dockerfile"]).exists()


def test_every_service_has_a_healthcheck() -> None:
    for name, service in _compose()["services"].items():
        assert "test" in service.get("healthcheck", {}), f"{name} has no healthcheck"


def test_app_environment_names_real_settings() -> None:
    known = {env_name(f.name) for f in fields(Settings)}
    for name in ("worker", "api"):
        env = _compose()["services"][name]["environment"]
        unknown = {k for k in env if k.startswith("SENTISTREAM_")} - known
        assert not unknown, f"{name} sets unknown variables {unknown}"
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        host, port = settings.kafka_bootstrap.split(":")
        assert host == "kafka" and int(port) in _container_ports("kafka")
        assert settings.redis_url.startswith("redis://redis:6379")


def test_published_ports_match_setting_defaults() -> None:
    defaults = Settings()
    assert defaults.kafka_port in _container_ports("kafka")
    assert defaults.redis_port in _container_ports("redis")
    assert defaults.api_port in _container_ports("api")
    assert defaults.worker_web_port in _container_ports("worker")


def _container_ports(service: str) -> set[int]:
    ports = _compose()["services"][service].get("ports", [])
    return {int(str(p).split(":")[-1]) for p in ports}
