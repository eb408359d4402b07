"""The worker's start-up heap, frozen out of the garbage collector once the first batch is written.

A full (generation 2) collection scans every tracked object, and the worker's start-up heap (the
models, Faust, aiokafka, redis-py: ~90k objects) took it 75-90 ms on a 2-core AMD EPYC. It holds the
GIL meanwhile, so the event loop and the scoring thread stop, and every post in flight waits it out:
the drain benchmark's ``tail_causes`` found ``gc2`` pauses inside the slowest 1% of posts at
2,000 posts/s. ``gc.freeze`` moves what exists to a permanent generation that collections skip;
it is done once, after a collection (a cycle frozen while garbage would never be freed), and once
the first batch has created the caches and connections that live as long as the worker. Objects
made later are collected as usual.
"""

from __future__ import annotations

import gc


class HeapSettler:
    def __init__(self) -> None:
        self.frozen = 0  # objects frozen (0: not yet)

    def settle_once(self) -> int | None:
        """Collect, then freeze what is left; the objects frozen, or None if done before."""
        if self.frozen:
            return None
        gc.collect()
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        return self.frozen
