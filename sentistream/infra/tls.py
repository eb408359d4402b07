"""A private CA and a localhost certificate for the local broker's TLS listener (`infra up
--sasl`), made once with the openssl command-line tool; clients trust them through
SENTISTREAM_KAFKA_SSL_CAFILE=<state>/kafka/tls/ca.pem."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sentistream.errors import DependencyMissingError, InfraError

DAYS = "3650"


@dataclass(frozen=True)
class LocalTls:
    folder: Path

    @property
    def ca(self) -> Path:
        """The CA certificate clients trust."""
        return self.folder / "ca.pem"

    @property
    def server(self) -> Path:
        """The broker's unencrypted key and certificate, one PEM file (Kafka's PEM keystore)."""
        return self.folder / "server.pem"

    def ensure(self) -> None:
        """Make the CA and the certificate of localhost/127.0.0.1 unless they exist."""
        if self.ca.exists() and self.server.exists():
            return
        if shutil.which("openssl") is None:
            raise DependencyMissingError("`infra up --sasl` makes a TLS certificate with openssl: "
                                         "install it (Debian: apt-get install openssl)")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        f = self.folder
        (f / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for cmd in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", DAYS, "-subj", "/CN=sentistream local CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", DAYS, "-extfile", "san.ext"],
        ):
            result = subprocess.run(["openssl", *cmd], cwd=f, capture_output=True, text=True,
                                    check=False)
            if result.returncode != 0:
                raise InfraError(f"openssl {cmd[0]} failed making the local TLS certificate:\n"
                                 f"{result.stderr}")
        self.server.write_text((f / "server.key").read_text() + (f / "server.crt").read_text())
        self.server.chmod(0o600)
