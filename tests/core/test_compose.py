"""docker-compose.yml cannot be run here (no Docker engine), so check what can be checked: images,
health checks, settings, and that the deployment is closed by default (issue 13): only the API is
published, on loopback, with a token; Redis has a password and a memory cap that never evicts;
the worker's web server listens on loopback; every variable is documented in .env.example."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from sentistream.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
# ${NAME}, ${NAME:-default}, ${NAME:?error}; "$$" is compose's escape of a literal "$".
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")
SAMPLE = {"SENTISTREAM_REDIS_PASSWORD": "redis-sample-pw", "SENTISTREAM_API_TOKEN": "tok-sample"}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _interpolate(value: Any, env: dict[str, str]) -> str:
    """What compose makes of ``value`` with ``env`` (the .env file); unset and required fails."""
    def one(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        if env.get(name):
            return env[name]
        assert op != ":?", f"${{{name}}} is required: {arg}"
        return arg if op == ":-" else ""

    return _VARIABLE.sub(one, str(value).replace("$$", "\0")).replace("\0", "$")


def _env(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    raw = _compose()["services"][service].get("environment", {})
    return {k: _interpolate(v, SAMPLE if env is None else env) for k, v in raw.items()}


def _env_example() -> dict[str, str]:
    """The variables .env.example documents (commented-out optional ones included)."""
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            found[m[1]] = m[2]
    return found


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
        env = _env(name)
        unknown = {k for k in env if k.startswith("SENTISTREAM_")} - known
        assert not unknown, f"{name} sets unknown variables {unknown}"
        settings = Settings.from_env(env)
        host, port = settings.kafka_bootstrap.split(":")
        assert host == "kafka" and port == "9092"
        url = urlsplit(settings.redis_url)
        assert (url.hostname, url.port) == ("redis", 6379)
        assert unquote(url.password or "") == SAMPLE["SENTISTREAM_REDIS_PASSWORD"]


def test_only_the_api_is_published_and_only_on_loopback() -> None:
    services = _compose()["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"api"}, "Kafka, Redis and the worker stay on the compose network"
    for spec in services["api"]["ports"]:
        host_ip, host_port, container_port = _interpolate(spec, {}).rsplit(":", 2)
        assert host_ip == "127.0.0.1", f"{spec} publishes on every interface"
        assert int(container_port) == Settings.from_env(_env("api")).api_port
        assert int(host_port) > 0


def test_redis_needs_the_password_of_the_env_file_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    raw_env = redis["environment"]
    assert "${SENTISTREAM_REDIS_PASSWORD:?" in raw_env["REDIS_PASSWORD"], "required, no default"
    command = " ".join(map(str, redis["command"]))
    assert "requirepass" in command and "$$REDIS_PASSWORD" in command
    assert "--maxmemory-policy noeviction" in command and "--maxmemory " in command
    assert "redis-sample-pw" not in command, "the password never sits on a command line"
    health = " ".join(redis["healthcheck"]["test"])
    assert "REDISCLI_AUTH" in health and "PONG" in health, "a NOAUTH reply must not pass"
    for app in ("worker", "api"):
        assert "${SENTISTREAM_REDIS_PASSWORD:?" in str(
            _compose()["services"][app]["environment"]["SENTISTREAM_REDIS_PASSWORD"])


def test_the_api_requires_a_token() -> None:
    raw = _compose()["services"]["api"]["environment"]
    assert "${SENTISTREAM_API_TOKEN:?" in str(raw["SENTISTREAM_API_TOKEN"])
    assert Settings.from_env(_env("api")).api_token.reveal() == SAMPLE["SENTISTREAM_API_TOKEN"]
    assert "SENTISTREAM_API_TOKEN" not in _compose()["services"]["worker"]["environment"]


def test_the_worker_web_server_listens_on_loopback() -> None:
    assert Settings().worker_web_bind == "127.0.0.1"
    worker = Settings.from_env(_env("worker"))
    assert worker.worker_web_bind == "127.0.0.1"
    health = " ".join(_compose()["services"]["worker"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{worker.worker_web_port}/health" in health


def test_api_healthcheck_uses_its_port() -> None:
    api = Settings.from_env(_env("api"))
    health = " ".join(_compose()["services"]["api"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{api.api_port}/health" in health


def test_every_variable_is_documented_in_env_example_and_env_is_ignored() -> None:
    text = (ROOT / "docker-compose.yml").read_text().replace("$$", "")
    used = {m["name"] for m in _VARIABLE.finditer(text)}
    documented = _env_example()
    assert used == set(documented), f"undocumented {used - set(documented)}, " \
                                    f"unused {set(documented) - used}"
    for name in used:
        if f"${{{name}:?" in text:
            assert documented[name] == "", f"{name}: .env.example must not ship a secret"
    assert ".env" in (ROOT / ".gitignore").read_text().split(), "a filled .env is never committed"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    import pytest

    for missing in SAMPLE:
        env = {k: v for k, v in SAMPLE.items() if k != missing}
        with pytest.raises(AssertionError, match=missing):
            for service in ("redis", "worker", "api"):
                _env(service, env)
