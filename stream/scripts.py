"""Lua scripts run with EVALSHA inside pipelines, on a single Redis or a Redis Cluster.

redis-py's cluster pipeline refuses ``.evalsha()`` but routes ``execute_command("EVALSHA", ...)``
by its keys, so every script call here names only keys of one hash slot. A Redis that restarted
(or never saw the script) answers NOSCRIPT; ``run_pipeline`` then loads the scripts and runs the
whole pipeline again, which the callers' scripts make harmless (reads, or writes guarded by
offsets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # what EVALSHA names

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


async def run_pipeline(client: Any, scripts: Sequence[LuaScript],
                       queue: Callable[[Any], None], transaction: bool = False) -> list[Any]:
    """Run the commands ``queue`` puts in a pipeline, in one round trip; the replies, errors
    included as values (``raise_on_error=False``). ``transaction`` wraps them in MULTI/EXEC
    (a single Redis only: a cluster's pipeline cannot), which a command Redis refuses before
    running it (wrong arity, a full Redis for some commands) aborts whole, raising its error."""
    for attempt in range(2):
        pipe = client.pipeline(transaction=transaction)
        queue(pipe)
        replies = list(await pipe.execute(raise_on_error=False))
        if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
            for script in scripts:  # first use, or Redis restarted and forgot them
                await client.script_load(script.source)
            continue
        return replies
    raise AssertionError("unreachable")
