"""A local Redis server from the ``redis-server`` on PATH (installed from Debian when missing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sentistream.errors import DependencyMissingError, ServiceNotReadyError
from sentistream.infra.process import ManagedProcess, ensure_port_free, port_open
from sentistream.settings import Settings

START_TIMEOUT_S = 30.0


class RedisServer:
    """Installs (if allowed), configures, starts, checks and stops the local Redis."""

    name = "redis"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.state_dir / "redis"
        self.config = self.root / "redis.conf"
        self.log = self.root / "redis.log"
        # Redis rewrites its process title; the template keeps our config path in it, which is
        # the marker that proves the pid is ours.
        self.process = ManagedProcess("redis", self.root / "redis.pid", str(self.config))

    @property
    def address(self) -> str:
        return f"localhost:{self.settings.redis_port}"

    def ensure_installed(self) -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        if os.geteuid() == 0 and Path("/etc/debian_version").exists():
            for cmd in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "redis-server"]):
                result = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
                if result.returncode != 0:
                    raise DependencyMissingError(
                        f"installing redis-server failed ({' '.join(cmd)}):\n{result.stderr}")
            found = shutil.which("redis-server")
        if not found:
            raise DependencyMissingError(
                "redis-server is not on PATH. Install Redis 7+ (Debian/Ubuntu: "
                "sudo apt-get install redis-server; macOS: brew install redis) and run again."
            )
        return found

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        password = local_password(self.settings)
        lines = [
            "# Written by `sentistream infra up`; edits are overwritten.",
            "bind 127.0.0.1",
            f"port {self.settings.redis_port}",
            f"dir {self.root}",
            "daemonize no",
            'proc-title-template "{title} {listen-addr} {config-file}"',
            # Aggregates are the product: an append-only file fsynced on every write means a
            # Redis crash loses no acknowledged batch. Redis fsyncs once per event-loop pass, and
            # a pipeline is read in 16 KB chunks: strace saw ~17 fdatasyncs per ~100-post batch
            # (ops/bench/results/latency-2000-redis-fsync.md). One MULTI/EXEC per batch would
            # fsync once, but it holds Redis for the whole batch and lost on the quiet machine
            # (README "Throughput of one worker", drain-quiet-s7.md), so batches stay pipelines.
            "appendonly yes",
            "appendfsync always",
            'save ""',
            # A full Redis refuses writes instead of evicting aggregates: the worker retries the
            # batch (unacked) until memory is freed or the cap raised, so nothing is lost.
            f"maxmemory {self.settings.redis_maxmemory or '0'}",
            "maxmemory-policy noeviction",
            *([f"requirepass {_quoted(password)}"] if password else []),
            "",
        ]
        # The password is in the file: readable by its owner only, from its creation on.
        self.config.unlink(missing_ok=True)
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines))

    def up(self) -> str:
        if self.process.is_running():
            self._wait_ready()
            return "already running"
        ensure_port_free(self.settings.redis_port, "Redis", "SENTISTREAM_REDIS_PORT")
        binary = self.ensure_installed()
        self.write_config()
        self.process.start([binary, str(self.config)], self.log)
        self._wait_ready()
        return "started"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise ServiceNotReadyError(f"redis-server exited during start-up; see {self.log}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise ServiceNotReadyError(f"Redis did not answer PING within {START_TIMEOUT_S:.0f}s; "
                                   f"see {self.log}")

    def healthy(self) -> bool:
        """PING with the configured password: through SENTISTREAM_REDIS_URL when it names this
        server, else on the local port (a password-protected Redis answers NOAUTH otherwise)."""
        if not port_open(self.settings.redis_port):
            return False
        import redis

        try:
            if _names_local_server(self.settings):
                client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2.0)
            else:
                client = redis.Redis(port=self.settings.redis_port, socket_timeout=2.0,
                                     password=local_password(self.settings) or None)
            return bool(client.ping())
        except redis.RedisError:
            return False

    def down(self) -> bool:
        return self.process.stop(timeout=30.0)



def local_password(settings: Settings) -> str:
    """The local Redis's password: SENTISTREAM_REDIS_PASSWORD, else the one in the Redis URL."""
    return settings.redis_password.reveal() or unquote(urlsplit(settings.redis_url).password or "")


def _names_local_server(settings: Settings) -> bool:
    url = urlsplit(settings.redis_url)
    return (url.hostname in ("localhost", "127.0.0.1", "::1")
            and (url.port or 6379) == settings.redis_port)


def _quoted(value: str) -> str:
    """A value for redis.conf: double-quoted, with its quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
