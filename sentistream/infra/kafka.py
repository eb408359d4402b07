"""A single-node Apache Kafka broker in KRaft combined mode, run from the jars on Maven Central."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sentistream.errors import DependencyMissingError, InfraError, ServiceNotReadyError
from sentistream.infra.process import ManagedProcess, ensure_port_free, port_open
from sentistream.settings import Settings

READY_LINE = b"Kafka Server started"
START_TIMEOUT_S = 120.0


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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = KafkaPaths(
            root=settings.state_dir / "kafka",
            libs=settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs",
        )
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
        self.paths.config.write_text(
            "\n".join([
                "# Written by `sentistream infra up`; edits are overwritten.",
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},"
                f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://localhost:{s.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
                "",
            ])
        )

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
        if self.process.is_running():
            if self.healthy():
                return "already running"
            self._wait_ready(log_offset=0)
            return "already running"
        ensure_port_free(self.settings.kafka_port, "Kafka", "SENTISTREAM_KAFKA_PORT")
        ensure_port_free(self.settings.kafka_controller_port, "the Kafka controller",
                         "SENTISTREAM_KAFKA_CONTROLLER_PORT")
        self.ensure_jars()
        self.write_config()
        self.format_storage()
        offset = self.paths.server_log.stat().st_size if self.paths.server_log.exists() else 0
        self.process.start([*self._java("kafka.Kafka"), str(self.paths.config)],
                           self.paths.logs / "stdout.log")
        self._wait_ready(offset)
        return "started"

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


def metadata_ok(bootstrap: str, timeout_s: float = 5.0) -> bool:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                 request_timeout_ms=int(timeout_s * 1000))
    except (KafkaError, OSError):
        return False
    try:
        consumer.topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        consumer.close()
