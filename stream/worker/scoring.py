"""Where a batch is scored: in a thread of the worker, or in a process of its own.

Scoring (tokenizing, language detection, the models: everything ``route_posts`` does) is 35-47%
of a worker's CPU, and the tokenizer holds the GIL, so in a thread it competes with the parsing,
building and writing of the batches around it: one process tops out near 0.35-0.5x the bare
scorer (README "Throughput of one worker"). With SENTISTREAM_SCORER_PROCESS=1 it runs in a
child process (``ProcessScoring``), started with the worker, and the worker pipelines one batch
deeper (``stream.worker.app``): while the child scores batch k+1, the worker builds and writes
batch k.

The child is disposable. Should it die (a crash, the OOM killer) or hang past
SENTISTREAM_SCORER_TIMEOUT_S on a batch, it is killed and a fresh one started, and the batch
scored again; after SENTISTREAM_SCORER_ATTEMPTS tries of one batch the worker gives up with
``ScorerProcessError`` (exit 70, the batch unacked: redelivered to the partition's next owner).
A child whose worker is gone exits within a second.

The drivers read the scorer's token rows (``stream.worker.driver_deltas``); the child returns
them with the tokens its table added since the worker's copy (``_TableCopy``) last heard, so the
worker needs no second pass over the texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from sentistream.redact import install_log_redaction
from sentistream.settings import Settings
from stream.errors import ModelUnavailableError, StreamError
from stream.worker.languages import Routed, RoutingScorer, route_posts
from stream.worker.posts import Posts

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # spawn, imports and model load of a fresh child, on a busy machine
ORPHAN_CHECK_S = 1.0


class ScorerProcessError(StreamError):
    """The scoring process died or hung on the same batch every time it was tried; the worker
    exits (70) with the batch unacked. The log before says why each attempt failed."""


@dataclass(frozen=True)
class BatchScores:
    """A batch's scores (``Routed``) and the main model's token rows of its texts, when the
    main model scored every post (None otherwise), with the table they index."""

    routed: Routed
    rows: npt.NDArray[np.int64] | None = None
    table: Any = None  # a ``stream.drivers.terms.TokenRows``
    generation: int = 0  # the table's generation when the rows were made


class TokenRowsOf:
    """What the drivers read of a scorer (``token_rows``, ``tokenizer.table``), for the texts of
    one scored batch: valid while the table is the one, and of the generation, they index."""

    def __init__(self, texts: Sequence[str], scores: BatchScores) -> None:
        self._texts, self._scores = texts, scores
        self.tokenizer = SimpleNamespace(table=scores.table)

    def token_rows(self, texts: Sequence[str]) -> npt.NDArray[np.int64] | None:
        s = self._scores
        if texts is not self._texts or s.rows is None or s.table.generation != s.generation:
            return None
        return s.rows


def check_language_id(settings: Settings) -> None:
    from sentistream.errors import ConfigError

    if settings.language_id not in ("on", "off"):
        raise ConfigError(f"SENTISTREAM_LANGUAGE_ID={settings.language_id!r}: use on (route "
                          "each post by its language) or off (score every post in English)")


def load_scorer(settings: Settings) -> RoutingScorer:
    """The worker's scorer, as the settings say (model file, threads, languages): the one way
    to load it, in the worker's thread path and in the scoring process's child alike, so that
    the two paths cannot score with different models or languages. With language ID on, every
    detector is loaded here too (py3langid's ~1.5-2 s otherwise fell in the first batch that
    needed a second opinion)."""
    from model.errors import ModelError

    check_language_id(settings)
    from model.languages import parse_languages
    from model.scorer import SentimentScorer

    try:
        scorer = SentimentScorer(model_path=settings.model_path or None,
                                 num_threads=settings.model_threads,
                                 languages=parse_languages(settings.languages))
    except ModelError as exc:
        raise ModelUnavailableError(f"cannot load the sentiment model: {exc}") from exc
    if settings.language_id == "on":  # py3langid too, now: not in the middle of a batch
        scorer.load_detectors()
    return scorer


def score_here(scorer: RoutingScorer, posts: Posts, language_id: bool) -> BatchScores:
    """``route_posts`` plus the token rows, in the thread that scored them (the scorer keeps
    only its last call's rows)."""
    routed = route_posts(scorer, posts, language_id)
    token_rows = getattr(scorer, "token_rows", None)
    rows = token_rows(posts.texts) if token_rows is not None else None
    if rows is None:
        return BatchScores(routed)
    table = scorer.tokenizer.table  # type: ignore[attr-defined]
    return BatchScores(routed, rows, table, table.generation)


# -- the child process -----------------------------------------------------------------------
_scorer: Any = None  # the child's scorer, from load_scorer (set by _child_start)
_child_id = ""  # unique per child (a pid can be reused): names its token table
_load_error: Exception | None = None


@dataclass(frozen=True)
class _Reply:
    routed: Routed
    rows: npt.NDArray[np.int64] | None
    table: tuple[str, int]  # (child id, table generation): which table the rows index
    start: int  # index in that table of new_raws[0]
    new_raws: list[str]


def _child_start(settings: Settings, parent: int) -> None:
    """The child's initializer: load the models once, with the worker's settings and its
    ``load_scorer``; leave Ctrl-C to the worker, which stops the child itself; exit when the
    worker is gone (SIGKILLed workers cannot say so)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Spawned, the child starts without the record factory the worker's CLI installed.
    install_log_redaction(settings.secrets())
    global _scorer, _child_id, _load_error
    _child_id = f"{os.getpid()}-{os.urandom(6).hex()}"
    try:
        _scorer = load_scorer(settings)
    except Exception as exc:  # raised by the first call instead: an initializer that raises
        _load_error = exc     # only breaks the pool, and the worker would not learn why
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(0)


def _child_version() -> str:
    if _load_error is not None:
        raise _load_error
    return str(_scorer.version)


def _child_score(texts: list[str], langs: list[str | None] | None, language_id: bool,
                 known: tuple[tuple[str, int] | None, int]) -> _Reply:
    """Score in the child; ``known``: (table, its length) as the worker's copy has it."""
    if _load_error is not None:  # a replacement child that cannot load: die like a crash
        log.critical("the scoring process cannot load the model: %s", _load_error)
        os._exit(1)
    posts = Posts(texts=texts, docs=[{"lang": lang} for lang in langs] if langs else [])
    routed = route_posts(_scorer, posts, language_id)
    rows = _scorer.token_rows(texts)
    table = _scorer.tokenizer.table
    key = (_child_id, int(table.generation))
    start = known[1] if known[0] == key else 0
    return _Reply(routed, rows, key, start, table.raws[start:])


# -- the worker's side -----------------------------------------------------------------------
class _TableCopy:
    """The worker's copy of the child table's row -> raw token list (``TokenRows``)."""

    def __init__(self, key: tuple[str, int] | None) -> None:
        self.key = key
        self.raws: list[str] = []
        self.generation = 0  # a new child or table gets a new copy (the drivers check identity)

    def update(self, start: int, new_raws: list[str]) -> bool:
        """Add the child's new tokens; False when some between are missing (a reply that was
        lost: the next request asks from what this copy holds)."""
        if start > len(self.raws):
            return False
        self.raws.extend(new_raws[len(self.raws) - start:])
        return True


class ProcessScoring:
    """Scores batches in a child process (SENTISTREAM_SCORER_PROCESS=1); see the module doc."""

    def __init__(self, settings: Settings) -> None:
        # The whole settings, not the few the scorer reads today: a scorer setting added later
        # reaches the child through load_scorer without anyone having to remember it here.
        self._init_args = (settings, os.getpid())
        self.timeout_s = settings.scorer_timeout_s
        self.attempts = max(1, settings.scorer_attempts)
        self.restarts = 0  # children replaced after a crash or a hang
        self.on_restart: Callable[[], object] | None = None  # e.g. a metric's inc
        self.version = ""
        self._pool: ProcessPoolExecutor | None = None
        self._epoch = 0
        self._table = _TableCopy(None)

    def start(self) -> None:
        """Start the child and load the models in it (blocking: at worker start, before Faust);
        raises what loading raised (a model error names the file and the fix)."""
        self._pool = self._new_pool()
        self.version = self._pool.submit(_child_version).result(timeout=START_TIMEOUT_S)

    def close(self) -> None:
        """Stop the child at once (a batch it was scoring is unacked and comes again)."""
        if self._pool is not None:
            _kill_children(self._pool)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def pids(self) -> list[int]:
        return sorted(_children(self._pool)) if self._pool is not None else []

    async def score(self, posts: Posts, language_id: bool) -> BatchScores:
        """Scores of ``posts`` (and their languages set, as ``route_posts`` does); retried on a
        fresh child when the child dies or hangs, up to ``attempts`` tries."""
        texts = posts.texts
        langs = [doc.get("lang") for doc in posts.docs] if language_id else None
        failures: list[str] = []
        starting = False  # a replacement child: its start-up is not the batch's time
        while True:
            pool, epoch = self._pool, self._epoch
            if pool is None:
                raise ScorerProcessError("the scoring process is not running (stopped)")
            try:
                if starting:  # spawn, imports and models: seconds, more on a busy machine
                    await self._started(pool)
                    starting = False
                future = pool.submit(_child_score, texts, langs, language_id,
                                     (self._table.key, len(self._table.raws)))
                reply: _Reply = await asyncio.wait_for(asyncio.wrap_future(future),
                                                       self.timeout_s)
                break
            except (BrokenProcessPool, TimeoutError) as exc:
                limit = START_TIMEOUT_S if starting else self.timeout_s
                what = (f"{'did not start within' if starting else 'took over'} {limit:g} s"
                        if isinstance(exc, TimeoutError) else f"died ({exc})")
                starting = True
                failures.append(what)
                log.error("the scoring process %s on a batch of %d posts (try %d of %d); "
                          "starting a new one", what, len(texts), len(failures), self.attempts)
                self._restart(epoch)
                if len(failures) >= self.attempts:
                    raise ScorerProcessError(
                        f"the scoring process failed {len(failures)} times in a row on one "
                        f"batch of {len(texts)} posts ({'; '.join(failures)}); exiting so that "
                        "a supervisor restarts the worker (the batch is unacked). If it "
                        "repeats, check the worker's memory limit and SENTISTREAM_SCORER_"
                        "TIMEOUT_S, or run with SENTISTREAM_SCORER_PROCESS=0") from exc
        posts.languages = reply.routed.languages
        if self._table.key != reply.table:
            self._table = _TableCopy(reply.table)
        if reply.rows is None or not self._table.update(reply.start, reply.new_raws):
            return BatchScores(reply.routed)
        return BatchScores(reply.routed, reply.rows, self._table, self._table.generation)

    @staticmethod
    async def _started(pool: ProcessPoolExecutor) -> None:
        """Wait until a replacement child has loaded its models; one that cannot counts as a
        child that died (the worker exits after ``attempts``, its message naming the cause)."""
        try:
            await asyncio.wait_for(asyncio.wrap_future(pool.submit(_child_version)),
                                   START_TIMEOUT_S)
        except (BrokenProcessPool, TimeoutError):
            raise
        except Exception as exc:
            raise BrokenProcessPool(f"it cannot load the model: {exc}") from exc

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Faust's consumer, executors) a fork would copy
        # in whatever state they were.
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_child_start, initargs=self._init_args)

    def _restart(self, epoch: int) -> None:
        """Replace the child of ``epoch`` (once, however many batches saw it fail)."""
        if epoch != self._epoch or self._pool is None:
            return
        old = self._pool
        _kill_children(old)  # a hung child must not linger
        old.shutdown(wait=False, cancel_futures=True)
        self._pool, self._epoch = self._new_pool(), epoch + 1
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart()


# -- what this module borrows from concurrent.futures --
# ProcessPoolExecutor._processes (pid -> Process, CPython 3.8+): the only way to kill a hung
# child; tests/stream/test_scoring.py fails if it moves.
def _children(pool: ProcessPoolExecutor) -> dict[int, Any]:
    return dict(getattr(pool, "_processes", None) or {})


def _kill_children(pool: ProcessPoolExecutor) -> None:
    for pid in _children(pool):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
