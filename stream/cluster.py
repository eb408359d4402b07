"""Whether a Redis URL names a cluster: the worker's sink and the readers pick their client
by it."""

from __future__ import annotations

import redis
from redis.exceptions import RedisError


def is_cluster(url: str) -> bool:
    """Whether the Redis at ``url`` runs in cluster mode (False when it cannot be asked)."""
    try:
        info = redis.Redis.from_url(url, socket_timeout=5).info("cluster")
    except RedisError:
        return False
    return bool(info.get("cluster_enabled"))
