"""The worker's hot path against the real Redis: a batch prepared while the one before is being
written, the scored topic turned off, and the per-step timings of a batch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from stream.worker.posts import RawRecord
from tests.stream.test_sink import make_records, processor, read_totals, truth

pytestmark = pytest.mark.integration


async def test_next_batch_prepared_before_the_last_is_written_is_exact(
        isolated: Settings) -> None:
    records = make_records(600)
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    first = await proc.prepare(records[:300])
    second = await proc.prepare(records[300:])  # while `first` would still be in flight
    assert read_totals(client, keys, ["_all"])["_all"].n == 0  # preparing writes no counts
    await proc.write(first)
    await proc.write(second)
    await proc.write(first)  # a redelivery of an applied batch changes nothing
    expected = truth(records, proc.brands.current())
    assert read_totals(client, keys, list(expected)) == expected
    assert proc.last_offsets == {p: max(r.offset for r in records if r.partition == p)
                                 for p in {r.partition for r in records}}
    await proc.sink.close()


async def test_scored_topic_off_still_counts_and_dead_letters(isolated: Settings) -> None:
    settings = isolated.replace(produce_scored=0)
    produced: list[tuple[str, bytes]] = []
    proc = processor(settings, produced)
    values = [b"{not json", *(json.dumps({"id": str(i), "text": f"acme {i}"}).encode()
                              for i in range(1, 5))]
    await proc.process([RawRecord(v, "t.posts", 0, i, 1.7e9) for i, v in enumerate(values)])
    keys = KeyScheme(settings.redis_prefix)
    assert redis.Redis.from_url(settings.redis_url).hget(keys.total("acme"), "n") == b"4"
    assert [t for t, _ in produced] == [settings.topic_dead_letters]
    await proc.sink.close()


async def test_each_step_of_a_batch_is_timed(isolated: Settings) -> None:
    proc = processor(isolated, [])
    await proc.process(make_records(50))
    text = proc.metrics.render().decode()
    for stage in ("parse", "score", "build", "redis", "produce_wait"):
        assert f'sentistream_stage_seconds_count{{stage="{stage}"}} 1.0' in text, stage
    assert "parse=" in proc.metrics.stages.summary()
    await proc.sink.close()


async def test_a_redis_that_never_answers_a_batch_write_times_out(
        isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch writes have no per-reply socket timeout: one timeout bounds the round trip,
    and it still ends as a Redis timeout (retried by the processor), never a hang."""
    import socket

    from stream.worker import sink as sink_module
    from stream.worker.sink import Call, RedisSink

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing is ever read or answered
    monkeypatch.setattr(sink_module, "SOCKET_TIMEOUT_S", 0.5)
    port = silent.getsockname()[1]
    sink = RedisSink(isolated.replace(redis_url=f"redis://127.0.0.1:{port}/0"))
    try:
        with pytest.raises(RedisTimeoutError, match="did not answer"):
            await sink.apply([Call(["k"], ["f", "0", "1", "[]"])], {})
    finally:
        silent.close()


async def test_next_batch_reaches_redis_while_the_last_waits_for_the_broker(
        isolated: Settings) -> None:
    """Only the Redis writes must be in fetch order: batch 2 is written to Redis while batch 1's
    scored records wait for the broker's acks (at 2,000 posts/s those acks and the announcement
    made every next batch wait ~5-10 ms), and batch 1's writes finish once the broker answers."""
    records = make_records(400)
    produced: list[tuple[str, bytes]] = []
    proc = processor(isolated, produced)
    broker_answers = asyncio.Event()
    stand_in = proc.produce

    async def slow_first_produce(topic: str, batch: Any) -> None:
        if not broker_answers.is_set() and topic == isolated.topic_scored:
            await broker_answers.wait()
        await stand_in(topic, batch)

    proc.produce = slow_first_produce
    client = redis.Redis.from_url(isolated.redis_url)
    keys = KeyScheme(isolated.redis_prefix)
    first, second = await proc.prepare(records[:200]), await proc.prepare(records[200:])
    first_rest = await asyncio.wait_for(proc.write_redis(first), 10)
    second_rest = await asyncio.wait_for(proc.write_redis(second), 10)
    expected = truth(records, proc.brands.current())
    assert read_totals(client, keys, list(expected)) == expected  # both batches in Redis
    await asyncio.sleep(0.05)
    assert isinstance(first_rest, asyncio.Future) and not first_rest.done()  # still unacked
    broker_answers.set()
    await asyncio.wait_for(asyncio.gather(first_rest, second_rest), 10)
    assert len([t for t, _ in produced if t == isolated.topic_scored]) == expected["_all"].n
    await proc.sink.close()
