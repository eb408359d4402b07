"""The order of a worker's batch writes (stream/worker/write_chain.py): Redis parts one at a
time in fetch order, the rest of a batch's writes overlapping the next one's Redis part, acks in
fetch order and only after all of a batch's writes. Plain coroutines stand for the writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from stream.worker.write_chain import WriteChain


def batch(log: list[str], name: str, rest: asyncio.Event,
          fail: str = "") -> tuple[Callable[[], Awaitable[Awaitable[None]]], Callable[[], None]]:
    """A batch's Redis part (logs 'redis <name>') and ack ('ack <name>'); its rest waits for
    ``rest``; ``fail`` = 'redis' or 'rest' makes that step raise."""

    async def after() -> None:
        await rest.wait()
        if fail == "rest":
            raise RuntimeError(f"produce of {name} failed")

    async def redis_part() -> Awaitable[None]:
        await asyncio.sleep(0.01)
        if fail == "redis":
            raise RuntimeError(f"redis write of {name} failed")
        log.append(f"redis {name}")
        return asyncio.ensure_future(after())

    return redis_part, lambda: log.append(f"ack {name}")


async def test_the_next_redis_write_does_not_wait_for_the_rest_and_acks_stay_in_order() -> None:
    chain, log = WriteChain(), list[str]()
    rest1, rest2 = asyncio.Event(), asyncio.Event()
    first = chain.start(*batch(log, "1", rest1))
    await asyncio.wait_for(chain.ready(), 1)  # batch 1 in Redis; its produces not yet acked
    second = chain.start(*batch(log, "2", rest2))
    await asyncio.wait_for(chain.ready(), 1)
    rest2.set()  # batch 2's rest done first: still acked after batch 1
    await asyncio.sleep(0.02)
    assert log == ["redis 1", "redis 2"]
    rest1.set()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert log == ["redis 1", "redis 2", "ack 1", "ack 2"]


async def test_a_batch_whose_rest_fails_leaves_it_and_the_next_unacked() -> None:
    chain, log = WriteChain(), list[str]()
    rest = asyncio.Event()
    rest.set()
    first = chain.start(*batch(log, "1", rest, fail="rest"))
    await chain.ready()
    second = chain.start(*batch(log, "2", rest))
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert log == ["redis 1", "redis 2"]  # written (redelivery is deduplicated), never acked


async def test_a_failed_redis_write_stops_the_next_one() -> None:
    chain, log = WriteChain(), list[str]()
    rest = asyncio.Event()
    failed = chain.start(*batch(log, "1", rest, fail="redis"))
    with pytest.raises(RuntimeError, match="redis write of 1 failed"):
        await chain.ready()
    with pytest.raises(RuntimeError):
        await failed
    assert log == []


async def test_cancel_stops_every_write_under_way_unacked() -> None:
    chain, log = WriteChain(), list[str]()
    rest1, rest2 = asyncio.Event(), asyncio.Event()
    first = chain.start(*batch(log, "1", rest1))
    await chain.ready()
    second = chain.start(*batch(log, "2", rest2))
    chain.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert first.cancelled() and second.cancelled()
    rest1.set()
    rest2.set()
    await asyncio.sleep(0.02)
    assert not [e for e in log if e.startswith("ack")]
