"""The sink on a real 3-node Redis Cluster: per-brand scripts never cross slots and stay exact."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from sentistream.settings import Settings
from stream.keys import KeyScheme
from stream.sink import RedisSink
from tests.stream.test_sink import make_records, processor, read_totals, truth

pytestmark = pytest.mark.integration


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


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
        procs.append(subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(node / "nodes.conf"), "--dir", str(node),
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL))
    try:
        for port in ports:
            _wait_ping(port)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       capture_output=True, timeout=30)
        _wait_cluster_ok(ports[0])
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def _wait_ping(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
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
    while position < len(records):  # overlapping redeliveries, in offset order per partition
        start = max(0, position - rng.randrange(0, 150))
        end = min(len(records), position + rng.randrange(1, 300))
        await proc.process(records[start:end])
        position = end
        if position > len(records) // 2 and not flushed:  # as if the nodes had restarted
            for node in client.get_primaries():
                redis.Redis(host=node.host, port=node.port).script_flush()
            flushed = True
    keys = KeyScheme(settings.redis_prefix)
    expected = truth(records, proc.brands.current())
    assert proc.metrics.redis_retries._value.get() == 0  # the lost script was reloaded in place
    assert read_totals(client, keys, list(expected)) == expected
    slots = {client.keyslot(keys.total(b)) for b in expected}
    nodes = {client.get_node_from_key(keys.total(b)).port for b in expected}
    assert len(slots) == len(expected) and len(nodes) > 1  # brands really are spread out
    await proc.sink.close()
