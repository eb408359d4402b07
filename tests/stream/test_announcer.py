"""The live announcements' scheduling (stream.worker.announcer), without services: a batch's
announcement rides with the next batch write, or goes alone after a short wait."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from stream.worker.announcer import Announcer


class Sent:
    def __init__(self, fail: bool = False) -> None:
        self.alone: list[list[bytes]] = []
        self.fail = fail

    async def __call__(self, payloads: Sequence[bytes]) -> None:
        self.alone.append(list(payloads))
        if self.fail:
            raise ConnectionError("Redis is down")


async def test_an_announcement_rides_with_the_next_write_and_is_not_sent_alone() -> None:
    sent = Sent()
    announcer = Announcer(sent, flush_after_s=0.05)
    done = announcer.offer(b"a")
    told = announcer.take()  # the next batch's write
    assert [p for p, _ in told] == [b"a"] and not done.done()
    announcer.sent(told)
    await asyncio.wait_for(done, 1)
    await asyncio.sleep(0.1)
    assert sent.alone == []  # the timer was disarmed by the write


async def test_without_a_write_it_goes_alone_after_the_wait() -> None:
    sent = Sent()
    announcer = Announcer(sent, flush_after_s=0.05)
    first, second = announcer.offer(b"a"), announcer.offer(b"b")
    await asyncio.sleep(0.02)
    assert sent.alone == [] and not first.done()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert sent.alone == [[b"a", b"b"]]  # both in one round trip, in batch order


async def test_a_failed_write_gives_them_back_in_order() -> None:
    sent = Sent()
    announcer = Announcer(sent, flush_after_s=0.05)
    older = announcer.offer(b"a")
    told = announcer.take()
    newer = announcer.offer(b"b")  # offered while the write was under way
    announcer.give_back(told)  # the write failed: its retry (or the timer) takes them again
    assert [p for p, _ in announcer.take()] == [b"a", b"b"]
    assert not older.done() and not newer.done()


async def test_a_failed_announcement_alone_is_given_up_not_raised() -> None:
    """A hint: the batch waiting for it is acked all the same (its data is in Redis)."""
    announcer = Announcer(Sent(fail=True), flush_after_s=0.0)
    await asyncio.wait_for(announcer.offer(b"a"), 1)
