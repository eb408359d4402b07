"""Processes we start and own: pid files, liveness, ports, and stopping only what is ours."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sentistream.errors import PortInUseError


@dataclass(frozen=True)
class ManagedProcess:
    """A service process identified by a pid file and a marker in its command line.

    The marker (the service's own state directory) is what proves a pid is still ours: pids are
    reused by the kernel, so a bare pid file could make us kill a stranger.
    """

    name: str
    pid_file: Path
    marker: str

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _cmdline_contains(pid, self.marker) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str], log_file: Path, env: dict[str, str] | None = None) -> int:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as log:
            # A new session detaches the service from our terminal, so Ctrl-C in the shell that
            # ran `infra up` does not take the broker down with it.
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env,
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        # Until the child has exec'd, /proc shows our own command line, without the marker;
        # wait for the exec so that callers can rely on is_running() straight away.
        deadline = time.monotonic() + 5.0
        while not _cmdline_contains(proc.pid, self.marker) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout``; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal(pid, signal.SIGTERM)
        if not wait_for_exit(pid, timeout):
            _signal(pid, signal.SIGKILL)
            wait_for_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _cmdline_contains(pid: int, marker: str) -> bool:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if _is_zombie(pid):
        return False
    return marker.encode() in raw


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.1)
    return False


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_port_free(port: int, service: str, env_var: str) -> None:
    if port_open(port):
        raise PortInUseError(
            f"port {port} is already in use by a process that sentistream did not start, so "
            f"{service} cannot listen there. Stop that process, or choose another port with "
            f"{env_var}=<port>."
        )
