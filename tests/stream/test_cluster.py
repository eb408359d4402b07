"""The sink on a real 3-node Redis Cluster: per-brand scripts never cross slots and stay exact."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from stream.worker.sink import RedisSink
from tests.stream.test_sink import make_records, processor, read_totals, truth

pytestmark = pytest.mark.integration


class ClusterNodes(Protocol):
    """The calls of redis-py's RedisCluster this test uses, typed (redis-py leaves them bare)."""

    def get_primaries(self) -> list[ClusterNode]: ...

    def get_node_from_key(self, key: str) -> ClusterNode: ...



def _free_ports(n: int) -> list[int]:
    """Ports p that are free with p + 10000 (the cluster bus port, which must stay <= 65535)."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(20000, 55000)
        if port not in ports and all(_free(p) for p in (port, port + 10000)):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def cluster_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway 3-primary Redis Cluster from the redis-server that `infra up` uses."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        pytest.skip("redis-server/redis-cli not installed (`sentistream infra up` installs them)")
    ports = _free_ports(3)
    procs = []
    for port in ports:
        node = tmp_path / str(port)
        node.mkdir()
        with (node / "log").open("wb") as log:
            procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node),
                 "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT))
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_ping(port, proc, tmp_path / str(port) / "log")
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       capture_output=True, timeout=30)
        _wait_cluster_ok(ports[0])
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _wait_ping(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"cluster node on port {port} did not start:\n"
                                     f"{log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.1)


def _wait_cluster_ok(port: int) -> None:
    deadline = time.monotonic() + 20
    while redis.Redis(port=port).cluster("info").get("cluster_state") != "ok":
        assert time.monotonic() < deadline, "the test cluster did not become ready"
        time.sleep(0.2)


async def test_redelivered_batches_on_redis_cluster_are_exact(isolated: Settings,
                                                              cluster_url: str) -> None:
    # A prefix whose brands fall on more than one of the 3 nodes (each holds a third of slots).
    prefix = next(p for p in (f"{isolated.redis_prefix}{i}" for i in range(100))
                  if len({key_slot(KeyScheme(p).total(b).encode()) * 3 // 16384
                          for b in ("_all", "acme", "globex", "initech")}) > 1)
    settings = isolated.replace(redis_url=cluster_url, redis_prefix=prefix)
    assert RedisSink(settings).cluster
    records = make_records(1500, partitions=2, seed=3)
    proc = processor(settings, [])
    rng = random.Random(11)
    position, flushed = 0, False
    client = RedisCluster.from_url(cluster_url)
    nodes: ClusterNodes = client
    while position < len(records):  # overlapping redeliveries, in offset order per partition
        start = max(0, position - rng.randrange(0, 150))
        end = min(len(records), position + rng.randrange(1, 300))
        await proc.process(records[start:end])
        position = end
        if position > len(records) // 2 and not flushed:  # as if the nodes had restarted
            for node in nodes.get_primaries():
                redis.Redis(host=node.host, port=node.port).script_flush()
            flushed = True
    keys = KeyScheme(settings.redis_prefix)
    expected = truth(records, proc.brands.current())
    assert proc.metrics.redis_retries._value.get() == 0  # the lost script was reloaded in place
    assert read_totals(client, keys, list(expected)) == expected
    slots = {key_slot(keys.total(b).encode()) for b in expected}
    ports = {nodes.get_node_from_key(keys.total(b)).port for b in expected}
    assert len(slots) == len(expected) and len(ports) > 1  # brands really are spread out
    await proc.sink.close()
