"""Child processes of sentistream (a worker, the API, the generator) that a caller starts, watches
and stops: the demo, the tests and the ops/ benchmark and fault runs all use this one harness.

A child runs the installed ``sentistream`` entry point (or any argv), with the settings given
(as ``SENTISTREAM_*`` variables, nothing inherited from ours), its output in a log file. It is
stopped by its own pid only (SIGTERM, then SIGKILL), and a wait on it fails with the child's own
last words when it exits early.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from sentistream.errors import SentistreamError
from sentistream.settings import Settings, env_name


class HarnessError(SentistreamError):
    """A child process exited early or did not get somewhere in time; its log tail says why."""


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sentistream_argv(*args: str) -> list[str]:
    """The installed entry point of this interpreter's environment, with ``args``."""
    return [str(Path(sys.executable).parent / "sentistream"), *args]


def child_env(settings: Settings) -> dict[str, str]:
    """Our environment without any SENTISTREAM_* variable, plus exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTISTREAM_")}
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_env(settings: Settings, web_port: int) -> dict[str, str]:
    return child_env(settings.replace(worker_web_port=web_port))


class Child:
    """A child process we started, with its log; ``web_port`` is where it answers HTTP."""

    def __init__(self, argv: list[str], env: dict[str, str] | None, log: Path,
                 web_port: int = 0, cwd: Path | None = None, own_session: bool = False) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.argv, self.log, self.web_port = argv, log, web_port
        with log.open("ab") as out:
            # own_session: Ctrl-C in a terminal reaches only the parent, which stops us in order.
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=cwd, stdin=subprocess.DEVNULL,
                                         start_new_session=own_session)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no commit, no flush."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, and SIGKILL if it has not exited after ``timeout`` seconds."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def check(self) -> None:
        """Raise HarnessError, with the log's tail, when the child has exited."""
        if not self.alive():
            raise HarnessError(f"`{' '.join(self.argv)}` exited with "
                               f"{self.proc.returncode}:\n{self.tail()}")

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` on the child's web port: (status, body), (0, b"") when nobody answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}",
                                        timeout=3) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def metric(self, name: str) -> float:
        """The sum of a Prometheus metric's samples on /metrics (nan when it does not answer)."""
        status, body = self.get("/metrics")
        if status != 200:
            return float("nan")
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                   if line.startswith(name))

    def health(self) -> dict[str, object] | None:
        """The worker's /health document, or None when it does not answer 200."""
        status, body = self.get("/health")
        return json.loads(body) if status == 200 else None

    def wait_web(self, timeout: float = 90.0) -> None:
        wait_until(lambda: self.get("/")[0] != 0, timeout, f"an answer on port {self.web_port}",
                   [self])


def start_worker(settings: Settings, log_dir: Path, web_port: int | None = None,
                 name: str = "worker", argv: list[str] | None = None) -> Child:
    """``sentistream worker`` (or ``argv``) with these settings, on a web port of its own and
    with a Faust data dir of its own (two workers on one machine must not share it)."""
    port = web_port or free_port()
    env = worker_env(settings, port)
    env[env_name("state_dir")] = str(settings.state_dir / "workers" / f"{name}-{port}")
    return Child(argv or sentistream_argv("worker"), env, log_dir / f"{name}-{port}.log", port)


def start_api(settings: Settings, log_dir: Path, port: int | None = None,
              cwd: Path | None = None) -> Child:
    """``sentistream serve`` with these settings on ``port`` (a free one by default)."""
    port = port or free_port()
    env = child_env(settings.replace(api_port=port))
    return Child(sentistream_argv("serve"), env, log_dir / f"serve-{port}.log", port, cwd=cwd)


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               children: Sequence[Child] = ()) -> None:
    """Until ``predicate()`` is true; HarnessError when a child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for child in children:
            child.check()
        time.sleep(0.1)
    logs = "\n".join(child.tail() for child in children)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
