"""A single-node Apache Kafka broker in KRaft combined mode, run from the jars on Maven Central."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sentistream.errors import (
    ConfigError,
    DependencyMissingError,
    InfraError,
    ServiceNotReadyError,
)
from sentistream.infra.process import ManagedProcess, ensure_port_free, port_open
from sentistream.infra.tls import LocalTls
from sentistream.settings import Settings

READY_LINE = b"Kafka Server started"
START_TIMEOUT_S = 120.0
SASL_LISTENER = "SASL_PLAINTEXT"
TLS_LISTENER = "SASL_SSL"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaPaths:
    root: Path  # <state>/kafka
    libs: Path  # <cache>/kafka-<version>/libs

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"


class KafkaBroker:
    """Fetches, configures, starts, checks and stops the local broker."""

    name = "kafka"

    def __init__(self, settings: Settings, sasl: bool | None = None) -> None:
        self.settings = settings
        self.paths = KafkaPaths(
            root=settings.state_dir / "kafka",
            libs=settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs",
        )
        # Also listen with SASL on kafka_sasl_port (`infra up --sasl`). None keeps the mode of
        # the last start, so that a restart (fault injection, benchmarks) does not drop it.
        self.sasl = self.has_sasl_listener() if sasl is None else sasl
        self.process = ManagedProcess("kafka", self.paths.root / "kafka.pid", str(self.paths.root))

    @property
    def address(self) -> str:
        return f"localhost:{self.settings.kafka_port}"

    # -- install -----------------------------------------------------------------------------
    def ensure_jars(self) -> bool:
        """Download the broker jars once; True if a download happened."""
        marker = self.paths.libs / ".complete"
        if marker.exists():
            return False
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DependencyMissingError(
                "Maven (mvn) is needed once to fetch the Kafka jars from Maven Central. "
                "Install it (Debian: apt-get install maven) and run again."
            )
        if shutil.which("java") is None:
            raise DependencyMissingError("Java 17+ is needed to run Kafka: apt-get install "
                                         "openjdk-17-jre-headless")
        self.paths.libs.mkdir(parents=True, exist_ok=True)
        pom = resources.files("sentistream.infra") / "resources" / "kafka-pom.xml"
        with resources.as_file(pom) as pom_path:
            cmd = [
                mvn, "-q", "-B", "-f", str(pom_path),
                "dependency:copy-dependencies",
                f"-Dkafka.version={self.settings.kafka_version}",
                f"-DoutputDirectory={self.paths.libs}", "-DincludeScope=runtime",
            ]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InfraError(
                f"fetching Kafka {self.settings.kafka_version} jars with Maven failed:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n"
                "Check that Maven Central is reachable and the version exists "
                "(SENTISTREAM_KAFKA_VERSION)."
            )
        marker.write_text(self.settings.kafka_version + "\n")
        return True

    # -- configure ---------------------------------------------------------------------------
    def write_config(self) -> None:
        s = self.settings
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        log4j = resources.files("sentistream.infra") / "resources" / "kafka-log4j2.properties"
        self.paths.log4j.write_text(log4j.read_text())
        listeners = [f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
                     f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}"]
        advertised = [f"PLAINTEXT://localhost:{s.kafka_port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        if self.sasl:
            for name, port in ((SASL_LISTENER, s.kafka_sasl_port),
                               (TLS_LISTENER, s.kafka_tls_port)):
                listeners.append(f"{name}://127.0.0.1:{port}")
                advertised.append(f"{name}://localhost:{port}")
                protocols.append(f"{name}:{name}")
        lines = [
            "# Written by `sentistream infra up`; edits are overwritten.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"listener.security.protocol.map={','.join(protocols)}",
            f"log.dirs={self.paths.data}",
            f"num.partitions={s.partitions}",
            # One broker: every internal topic must make do with one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Tests and demos start consumers right after the broker; don't wait 3 s for
            # more members that will never come.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            *(self._sasl_config() if self.sasl else []),
            "",
        ]
        # The SASL password is in the file: readable by its owner only, from its creation on.
        self.paths.config.unlink(missing_ok=True)
        fd = os.open(self.paths.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines))

    @property
    def tls(self) -> LocalTls:
        return LocalTls(self.paths.root / "tls")

    def _sasl_config(self) -> list[str]:
        """The SASL listeners, without and with TLS, each with PLAIN (a JAAS user) and SCRAM
        (users created after start-up); the TLS one presents a certificate of our local CA."""
        user, password = _sasl_user(self.settings)
        plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                 f'user_{user}="{password}";')
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        lines = [f"sasl.enabled.mechanisms=PLAIN,{','.join(SCRAM_MECHANISMS)}"]
        for name in (SASL_LISTENER, TLS_LISTENER):
            prefix = f"listener.name.{name.lower()}"
            lines.append(f"{prefix}.plain.sasl.jaas.config={plain}")
            lines += [f"{prefix}.{m.lower()}.sasl.jaas.config={scram}" for m in SCRAM_MECHANISMS]
        tls = f"listener.name.{TLS_LISTENER.lower()}"
        return [*lines, f"{tls}.ssl.keystore.type=PEM",
                f"{tls}.ssl.keystore.location={self.tls.server}"]

    def has_sasl_listener(self) -> bool:
        try:
            return f"{SASL_LISTENER}://" in self.paths.config.read_text()
        except FileNotFoundError:
            return False

    def sasl_config_current(self) -> bool:
        """Whether the running broker's config has the SASL listener of these settings."""
        try:
            written = set(self.paths.config.read_text().splitlines())
        except FileNotFoundError:
            return False
        listener = f"{SASL_LISTENER}://127.0.0.1:{self.settings.kafka_sasl_port}"
        return any(listener in line for line in written) and set(self._sasl_config()) <= written

    def create_scram_user(self) -> None:
        """Store the SCRAM credentials of the configured user (KRaft keeps them in metadata)."""
        from kafka.admin import KafkaAdminClient
        from kafka.admin._users import UserScramCredentialUpsertion

        user, password = _sasl_user(self.settings)
        admin = KafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=10_000)
        try:
            # One request per mechanism: the broker refuses two changes of a user in one.
            errors = [admin.alter_user_scram_credentials(
                [UserScramCredentialUpsertion(user, m, password)]).get(user)
                for m in SCRAM_MECHANISMS]
        finally:
            admin.close()
        if any(errors):
            raise InfraError(f"creating the SCRAM user {user!r} failed: {errors}")

    def format_storage(self, cluster_id: str | None = None) -> bool:
        """Format the KRaft log directory once; True if it was formatted now."""
        if (self.paths.data / "meta.properties").exists():
            return False
        cluster_id = cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `--opt=value`, not `--opt value`: a base64url id may start with "-", which argparse
        # would take for an option (seen once in 64 starts, as a failed CI run).
        result = subprocess.run(
            [*self._java("kafka.tools.StorageTool"), "format", f"--cluster-id={cluster_id}",
             f"--config={self.paths.config}", "--ignore-formatted"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage in {self.paths.data} failed:\n"
                             f"{result.stdout}{result.stderr}")
        return True

    def _java(self, main_class: str) -> list[str]:
        heap = self.settings.kafka_heap
        return [
            "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.paths.log4j}",
            f"-Dkafka.logs.dir={self.paths.logs}",
            # The marker in the command line is how `down` proves a pid is ours.
            f"-Dsentistream.home={self.paths.root}",
            "-cp", f"{self.paths.libs}/*", main_class,
        ]

    # -- run ---------------------------------------------------------------------------------
    def up(self) -> str:
        """Start the broker unless ours is already running; returns what was done."""
        if self.sasl:
            _sasl_user(self.settings)  # fail before starting anything
        if self.process.is_running():
            if self.sasl and not self.sasl_config_current():
                # PLAIN's users are read once, at start-up: a restart is the only way to change.
                raise InfraError(
                    "the running local broker has no SASL listener, or one for another user or "
                    "password: stop it with `sentistream infra down`, then run `sentistream "
                    "infra up --sasl`")
            if not self.healthy():
                self._wait_ready(log_offset=0)
            if self.sasl:
                self.create_scram_user()  # idempotent; the password may have changed
            return "already running"
        ensure_port_free(self.settings.kafka_port, "Kafka", "SENTISTREAM_KAFKA_PORT")
        ensure_port_free(self.settings.kafka_controller_port, "the Kafka controller",
                         "SENTISTREAM_KAFKA_CONTROLLER_PORT")
        if self.sasl:
            ensure_port_free(self.settings.kafka_sasl_port, "the Kafka SASL listener",
                             "SENTISTREAM_KAFKA_SASL_PORT")
            ensure_port_free(self.settings.kafka_tls_port, "the Kafka SASL_SSL listener",
                             "SENTISTREAM_KAFKA_TLS_PORT")
            self.tls.ensure()
        self.ensure_jars()
        self.write_config()
        self.format_storage()
        offset = self.paths.server_log.stat().st_size if self.paths.server_log.exists() else 0
        self.process.start([*self._java("kafka.Kafka"), str(self.paths.config)],
                           self.paths.logs / "stdout.log")
        self._wait_ready(offset)
        if self.sasl:
            self.create_scram_user()
        return "started with SASL" if self.sasl else "started"

    def _wait_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.process.is_running():
                raise ServiceNotReadyError(
                    f"the Kafka broker exited during start-up; see {self.paths.server_log} and "
                    f"{self.paths.logs / 'stdout.log'}"
                )
            if self._log_says_started(log_offset) and self.healthy():
                return
            time.sleep(0.25)
        raise ServiceNotReadyError(
            f"Kafka did not become ready within {START_TIMEOUT_S:.0f}s; see {self.paths.server_log}"
        )

    def _log_says_started(self, offset: int) -> bool:
        try:
            with open(self.paths.server_log, "rb") as log:
                log.seek(offset)
                return READY_LINE in log.read()
        except FileNotFoundError:
            return False

    def healthy(self) -> bool:
        """A real metadata request, not a port check: the broker must answer as a broker."""
        if not port_open(self.settings.kafka_port):
            return False
        return metadata_ok(self.address)

    def down(self) -> bool:
        return self.process.stop(timeout=60.0)


def _sasl_user(settings: Settings) -> tuple[str, str]:
    """The user the local SASL listener accepts: the configured SASL user name and password."""
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password.reveal()
    if not user or not password:
        raise ConfigError("`infra up --sasl` creates the user of SENTISTREAM_KAFKA_SASL_USERNAME "
                          "with SENTISTREAM_KAFKA_SASL_PASSWORD: set both")
    if not user.replace("-", "").replace("_", "").replace(".", "").isalnum() or any(
            c in password for c in '"\\;\n'):
        raise ConfigError("SENTISTREAM_KAFKA_SASL_USERNAME may hold letters, digits, '-', '_' and "
                          "'.', and the password no quote, backslash, ';' or newline")
    return user, password


def metadata_ok(bootstrap: str, timeout_s: float = 5.0,
                options: dict[str, Any] | None = None) -> bool:
    """Whether the brokers at ``bootstrap`` answer a metadata request (with these options)."""
    return metadata_problem(bootstrap, timeout_s, options) is None


def metadata_problem(bootstrap: str, timeout_s: float = 5.0,
                     options: dict[str, Any] | None = None) -> Exception | None:
    """None when the brokers answer a metadata request, else the error that prevented it."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                 request_timeout_ms=int(timeout_s * 1000), **(options or {}))
    except (KafkaError, OSError) as exc:
        return exc
    try:
        consumer.topics()
        return None
    except (KafkaError, OSError) as exc:
        return exc
    finally:
        consumer.close()


def check_kafka(settings: Settings, timeout_s: float = 5.0) -> None:
    """A metadata request to the configured brokers with the configured security settings;
    raises KafkaAuthError/InfraError saying what to fix when it fails."""
    from sentistream.kafka_security import (
        KafkaAuthError,
        describe_failure,
        is_auth_failure,
        kafka_python_options,
        preflight,
    )

    preflight(settings, timeout_s)
    problem = metadata_problem(settings.kafka_bootstrap, timeout_s,
                               kafka_python_options(settings))
    if problem is None:
        return
    error = KafkaAuthError if is_auth_failure(problem) else InfraError
    raise error(describe_failure(settings, problem)) from problem
