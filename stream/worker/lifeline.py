"""A worker whose fetcher or scoring agent died exits at once, non-zero, for a supervisor to
restart it.

Left to Faust, a fetcher that raised stays dead while heartbeats and the web server carry on, so
the worker keeps its partitions and processes nothing; a crashed agent is restarted in place
without the batch it held, whose offsets then block every later commit. A half-alive worker like
that stalls its partitions until someone notices. Exiting hands them to the other workers (or to
the restarted worker) at the committed offsets, and the offsets in Redis make the redelivery
harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any

from stream.errors import WorkerCrashedError

log = logging.getLogger(__name__)

# Faust's own shutdown after a crash (stop the consumer, leave the group, close the loop) takes
# ~2 s; should it hang, the process ends anyway after this long.
HARD_EXIT_AFTER_S = 15.0


class Lifeline:
    """Turns the death of a part the worker cannot run without into a prompt, non-zero exit."""

    def __init__(self, hard_exit_after_s: float = HARD_EXIT_AFTER_S) -> None:
        self.hard_exit_after_s = hard_exit_after_s
        self.error: WorkerCrashedError | None = None
        self._crashing: asyncio.Future[None] | None = None

    def fail(self, app: Any, part: str, exc: BaseException) -> None:
        """Log why, start a clean shutdown (Faust's crash path) and a hard exit as its backstop.

        ``part`` names what died ("fetcher", "scoring agent"); later failures add nothing."""
        if self.error is not None:
            return
        self.error = WorkerCrashedError(f"the {part} died ({exc!r})")
        log.critical("worker %s: the %s died (%r); exiting with status %d so that a supervisor "
                     "restarts it (its unacked records go to the partitions' next owner)",
                     app.conf.id, part, exc, self.error.exit_code, exc_info=exc)
        timer = threading.Timer(self.hard_exit_after_s, self._hard_exit)
        timer.daemon = True
        timer.start()
        self._crashing = asyncio.ensure_future(app.crash(self.error))

    def _hard_exit(self) -> None:
        log.critical("worker: shutdown after the crash took over %.0f s; exiting now",
                     self.hard_exit_after_s)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(WorkerCrashedError.exit_code)
