"""The Faust fence: every private faust/aiokafka name the lean consumer relies on is still there.

They are listed in stream/worker/batch_consumer.py (``FENCED``).

No broker: the methods' signatures are read with ``inspect``, the attributes from a consumer
and a fetcher constructed (not started) as the worker's app builds them. An upgrade that renames
or reshapes one fails here, naming it, instead of in a worker under load.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.consumer import Fetcher

from stream.worker import batch_consumer as lean
from stream.worker.batch_consumer import (
    BORROWED_AIOKAFKA_ATTRIBUTES,
    BORROWED_CONSUMER_ATTRIBUTES,
    BORROWED_FETCHER_ATTRIBUTES,
    BORROWED_METHODS,
    LeanApp,
)

# Where the borrowed names are listed, next to the code that uses them.
FENCED = "stream/worker/batch_consumer.py"


def parameters(method: Callable[..., Any]) -> tuple[str, ...]:
    marks: dict[Any, str] = {inspect.Parameter.VAR_POSITIONAL: "*",
                             inspect.Parameter.VAR_KEYWORD: "**"}
    return tuple(marks.get(p.kind, "") + p.name
                 for p in inspect.signature(method).parameters.values())


def method_problem(owner: type, name: str, expected: tuple[str, ...]) -> str | None:
    """What changed about ``owner.name``, or None if it is as BORROWED_METHODS expects."""
    where = f"{owner.__module__}.{owner.__qualname__}.{name}"
    method = getattr(owner, name, None)
    if not callable(method):
        return f"{where} is gone ({FENCED} BORROWED_METHODS uses it)"
    found = parameters(method)
    if found != expected:
        return (f"{where} now takes ({', '.join(found)}), {FENCED} expects "
                f"({', '.join(expected)})")
    return None


def missing(obj: object, names: tuple[str, ...]) -> list[str]:
    return [f"{type(obj).__module__}.{type(obj).__qualname__}.{n}" for n in names
            if not hasattr(obj, n)]


@pytest.mark.parametrize(("owner", "name", "expected"), BORROWED_METHODS,
                         ids=[f"{o.__qualname__}.{n}" for o, n, _ in BORROWED_METHODS])
def test_borrowed_methods_keep_their_signatures(owner: type, name: str,
                                                expected: tuple[str, ...]) -> None:
    problem = method_problem(owner, name, expected)
    assert problem is None, problem


async def test_borrowed_attributes_exist() -> None:
    app = LeanApp("fence-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    consumer = app.consumer  # built, never started: no broker needed
    assert isinstance(consumer, lean.LeanConsumer)
    gone = missing(consumer, BORROWED_CONSUMER_ATTRIBUTES)
    gone += missing(Fetcher(app), BORROWED_FETCHER_ATTRIBUTES)
    assert not gone, f"gone from Faust ({FENCED} uses them): {', '.join(gone)}"


def test_aiokafka_reads_the_fetch_wait_when_it_starts() -> None:
    # Set on the consumer after its construction (LeanConsumerThread): only useful if aiokafka
    # still keeps it on the instance and hands it to the fetcher in start().
    for name in BORROWED_AIOKAFKA_ATTRIBUTES:
        for method in (AIOKafkaConsumer.__init__, AIOKafkaConsumer.start):
            assert f"self.{name}" in inspect.getsource(method), (
                f"aiokafka.AIOKafkaConsumer.{method.__name__} no longer uses self.{name} "
                f"({FENCED} sets it to bound the broker's fetch wait)")


def test_a_changed_signature_is_named() -> None:
    class Consumer:
        async def _add_gap(self, tp: object, start: int, end: int) -> None: ...

    assert method_problem(Consumer, "_add_gap", ("self", "tp", "offset_from", "offset_to")) == (
        f"{__name__}.test_a_changed_signature_is_named.<locals>.Consumer._add_gap now takes "
        f"(self, tp, start, end), {FENCED} expects (self, tp, offset_from, offset_to)")
    assert method_problem(Consumer, "_drain", ("self",)) == (
        f"{__name__}.test_a_changed_signature_is_named.<locals>.Consumer._drain is gone "
        f"({FENCED} BORROWED_METHODS uses it)")
