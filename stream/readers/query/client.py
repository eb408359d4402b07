"""The read side's Redis client: a single Redis or a Redis Cluster, whichever the URL names.

Every read names keys of one hash slot per command (``stream.schema.keys`` tags them), so the
cluster client routes each command, and each command of a pipeline, to the node that holds its slot.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from sentistream.settings import Settings
from stream.cluster import is_cluster

# Either client: they answer the commands the read side uses alike.
Redis = Any


def connect(settings: Settings) -> Redis:
    """An async client that decodes replies. Asks the server once whether it runs in cluster
    mode; a Redis that does not answer gets the single-node client, whose first command then
    fails with a message that says how to start Redis."""
    if is_cluster(settings.redis_url):
        return RedisCluster.from_url(settings.redis_url, decode_responses=True,
                                     socket_connect_timeout=3)
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True,
                                   socket_connect_timeout=3, health_check_interval=30)
