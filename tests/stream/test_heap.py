"""The worker's heap settling (stream.worker.heap), in this process."""

from __future__ import annotations

import gc
import weakref

from stream.worker.heap import HeapSettler


class Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_once_and_collects_garbage_first() -> None:
    settler = HeapSettler()
    cycle = Node()  # garbage only a collection frees: frozen, it would leak for good
    dead = weakref.ref(cycle)
    del cycle
    try:
        frozen = settler.settle_once()
        assert dead() is None
        assert frozen is not None and frozen == gc.get_freeze_count() > 1_000
        assert settler.settle_once() is None  # once: later objects stay collectable
    finally:
        gc.unfreeze()
