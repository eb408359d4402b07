"""The scoring process (SENTISTREAM_SCORER_PROCESS=1): same scores as in a thread, and a child
that dies or hangs is replaced without losing or double-counting a post."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from model.scorer import SentimentScorer
from sentistream.errors import ConfigError
from sentistream.harness import start_worker, wait_until
from sentistream.settings import Settings, get_settings
from sentistream.settings_check import check_settings
from stream.drivers.terms import BatchTerms, TermExtractor
from stream.errors import ModelUnavailableError
from stream.worker.brands import Brand
from stream.worker.main import start_scoring_process
from stream.worker.posts import Posts
from stream.worker.scoring import (
    ProcessScoring,
    ScorerProcessError,
    TokenRowsOf,
    load_scorer,
    score_here,
)
from tests.stream.test_worker import assert_exact
from tests.stream.workers import applied_count, make_input, produce

TEXTS = ["I love my new iphone, works great", "terrible support from acme, awful",
         "C'est vraiment génial", "Das ist schlecht", "meh", "🙂🙂", "xbox is out today #x",
         "nike air jordan are amazing"]


def posts_of(texts: list[str], langs: list[str | None] | None = None) -> Posts:
    langs = langs or [None] * len(texts)
    return Posts(texts=list(texts), ids=[str(i) for i in range(len(texts))],
                 docs=[{"text": t, **({"lang": lang} if lang else {})}
                       for t, lang in zip(texts, langs, strict=True)])


def scoring_settings(**changes: object) -> Settings:
    """Pure defaults (the shipped model, every language) plus ``changes``."""
    return Settings().replace(**{"scorer_timeout_s": 30.0, "scorer_attempts": 3, **changes})


@pytest.fixture
def scoring() -> Iterator[ProcessScoring]:
    s = ProcessScoring(scoring_settings())
    s.start()
    yield s
    s.close()


def test_the_child_scores_as_the_thread_does(scoring: ProcessScoring) -> None:
    here = SentimentScorer()
    assert scoring.version == here.version
    for language_id in (True, False):
        for _ in range(2):  # the second time, the worker's copy of the token table is current
            a, b = posts_of(TEXTS, [None, "en", None, None, None, None, None, "en"]), None
            b = posts_of(TEXTS, [None, "en", None, None, None, None, None, "en"])
            got = asyncio.run(scoring.score(a, language_id))
            want = score_here(here, b, language_id)
            assert a.languages == b.languages
            np.testing.assert_array_equal(got.routed.labels, want.routed.labels)
            np.testing.assert_allclose(got.routed.probs, want.routed.probs, equal_nan=True)
            # The drivers read the same terms from the child's token rows as from the texts.
            extractor = TermExtractor([Brand("acme"), Brand("nike")])
            rows = TokenRowsOf(a.texts, got)
            token_rows = rows.token_rows(a.texts)
            if language_id:  # some posts went to the companion model: no rows, texts re-read
                continue
            assert token_rows is not None
            terms = extractor.extract_rows(token_rows, rows.tokenizer.table, len(TEXTS))
            plain = TermExtractor([Brand("acme"), Brand("nike")]).extract(a.texts)
            # As texts: each extractor numbers the terms in the order it meets them.
            assert _terms_per_post(terms) == _terms_per_post(plain)
            assert _bigram_words(terms) == _bigram_words(plain)
            assert _bigram_words(plain) == {"nike air": ("nike", "air"),
                                            "air jordan": ("air", "jordan"),
                                            "new iphone": ("new", "iphone"),
                                            "works great": ("works", "great"),
                                            "terrible support": ("terrible", "support"),
                                            "vraiment génial": ("vraiment", "génial")}


def _terms_per_post(terms: BatchTerms) -> list[list[str]]:
    return [sorted(terms.of_post(i)) for i in range(terms.n_posts)]


def _bigram_words(terms: BatchTerms) -> dict[str, tuple[str, str]]:
    """Each bigram's two words, read through the ``first``/``second`` id tables (what
    ``own_names`` compares a brand's word with)."""
    return {text: (terms.terms[int(terms.first[i])], terms.terms[int(terms.second[i])])
            for i, text in enumerate(terms.terms) if terms.first[i] >= 0}


def test_a_killed_child_is_replaced_and_the_batch_scored(scoring: ProcessScoring) -> None:
    before = asyncio.run(scoring.score(posts_of(TEXTS), False)).routed.labels
    [pid] = scoring.pids()
    os.kill(pid, signal.SIGKILL)
    after = asyncio.run(scoring.score(posts_of(TEXTS), False)).routed.labels
    np.testing.assert_array_equal(before, after)
    assert scoring.restarts == 1 and scoring.pids() != [pid]


def test_a_hung_child_is_killed_and_replaced() -> None:
    """The timeout is a batch's, not a fresh child's start-up: a replacement that takes longer
    to load its models than the timeout (~2 s here, more on a busy machine) is waited for, and
    the batch scored on it, not counted as a second hang."""
    scoring = ProcessScoring(scoring_settings(scorer_timeout_s=0.5, scorer_attempts=2))
    scoring.start()
    try:
        [pid] = scoring.pids()
        os.kill(pid, signal.SIGSTOP)  # hung: alive, never answers
        t0 = time.monotonic()
        labels = asyncio.run(scoring.score(posts_of(TEXTS), False)).routed.labels
        assert len(labels) == len(TEXTS) and scoring.restarts == 1
        assert 0.5 <= time.monotonic() - t0 < 120
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    finally:
        scoring.close()


def test_a_child_that_keeps_dying_stops_the_worker_with_a_clear_error(
        scoring: ProcessScoring) -> None:
    settings, parent = scoring._init_args
    scoring._init_args = (settings.replace(model_path="/nonexistent/model.tflite"), parent)
    os.kill(scoring.pids()[0], signal.SIGKILL)  # its replacements cannot load the model
    with pytest.raises(ScorerProcessError, match="failed 3 times in a row on one batch"):
        asyncio.run(scoring.score(posts_of(TEXTS), False))
    assert scoring.restarts == 3


def test_the_child_loads_its_scorer_from_the_worker_settings() -> None:
    """The child loads its scorer with the thread path's ``load_scorer`` from the worker's
    settings: SENTISTREAM_LANGUAGES=en leaves the French and German posts unscored there as
    here (label 3, NaN), where the default scores them with the companion model."""
    settings = scoring_settings(languages="en")
    here = load_scorer(settings)
    everything = load_scorer(scoring_settings())
    scoring = ProcessScoring(settings)
    scoring.start()
    try:
        for language_id in (False, True):  # off: every post scored as English
            a, b = posts_of(TEXTS), posts_of(TEXTS)
            got = asyncio.run(scoring.score(a, language_id)).routed
            want = score_here(here, b, language_id).routed
            assert a.languages == b.languages
            np.testing.assert_array_equal(got.labels, want.labels)
            np.testing.assert_allclose(got.probs, want.probs, equal_nan=True)
        assert [a.languages[i] for i in (2, 3)] == ["fr", "de"]
        assert got.labels[2] == got.labels[3] == 3  # not scored: only English is
        full = score_here(everything, posts_of(TEXTS), True).routed.labels
        assert full[2] != 3 and full[3] != 3
    finally:
        scoring.close()


def test_the_worker_loads_every_language_model_at_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """py3langid (the second opinion, ~1.5-2 s of CPU to load) is loaded with the worker's
    scorer, not in the first batch with a post CLD2 does not place: that batch stalled for it
    (and a benchmark's measured window paid for it). With language ID off it is not needed."""
    import py3langid.langid

    def no_load(*args: object, **kwargs: object) -> object:
        raise AssertionError("py3langid loaded while scoring a batch")

    scorer = load_scorer(scoring_settings())  # language ID on (the default)
    monkeypatch.setattr(py3langid.langid.LanguageIdentifier, "from_modelpath", no_load)
    posts = posts_of(["この製品は最悪です", "Das ist schlecht"])  # Japanese: a second opinion
    assert score_here(scorer, posts, True).routed.labels.tolist()[0] == 3
    assert posts.languages == ["ja", "de"]
    off = load_scorer(scoring_settings(language_id="off"))
    assert isinstance(off, SentimentScorer)
    with pytest.raises(AssertionError, match="loaded while scoring"):
        off.load_detectors()  # not loaded at start: loading it now calls py3langid


def test_a_bad_model_fails_at_start_with_the_models_message() -> None:
    settings = get_settings().replace(scorer_process=1, model_path="/nonexistent/model.tflite")
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        start_scoring_process(settings)


@pytest.mark.integration
def test_child_killed_mid_drain_loses_and_double_counts_nothing(isolated: Settings,
                                                                tmp_path: Path) -> None:
    settings = isolated.replace(scorer_process=1, batch_size=512)
    values = make_input(30_000, seed=14)
    produce(settings, values)
    worker = start_worker(settings, tmp_path, isolated.worker_web_port + 170)
    try:
        wait_until(lambda: applied_count(settings) >= 3_000, 180, "a part applied", [worker])
        killed: list[int] = []
        for _ in range(2):  # twice: the replacement must be replaceable too
            wait_until(lambda: [p for p in scoring_children(worker.pid) if p not in killed],
                       60, "a (new) scoring process", [worker])
            [child] = [p for p in scoring_children(worker.pid) if p not in killed]
            os.kill(child, signal.SIGKILL)
            killed.append(child)
        assert applied_count(settings) < len(values), "the kills came too late to test anything"
        wait_until(lambda: applied_count(settings) >= len(values), 240, "all applied", [worker])
        time.sleep(1.0)  # anything counted twice would show up now
        assert_exact(settings, values)
        assert worker.alive()
        assert worker.metric("sentistream_scorer_restarts_total") >= 2
    finally:
        worker.stop()
    assert worker.proc.returncode == 0
    assert "the scoring process died" in worker.tail(200_000)


def scoring_children(pid: int) -> list[int]:
    """The worker's scoring process (multiprocessing's resource tracker left out)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("spawn_main" in part
                                                              for part in child.cmdline()):
                found.append(child.pid)
        except psutil.Error:  # gone meanwhile
            pass
    return found


def test_the_scoring_settings_are_checked_at_start() -> None:
    base = get_settings()
    for bad in ({"scorer_process": 2}, {"scorer_timeout_s": 0.0}, {"scorer_attempts": 0}):
        with pytest.raises(ConfigError, match=f"SENTISTREAM_{next(iter(bad)).upper()}="):
            check_settings(base.replace(**bad))
    check_settings(base.replace(scorer_process=1))


def _a_log_line_in_the_child(text: str) -> str:
    """Run in the scoring child: the message a log record made there carries."""
    import logging

    return logging.getLogger("stream.worker.scoring").makeRecord(
        "stream.worker.scoring", logging.ERROR, __file__, 0, "%s", (text,), None).getMessage()


def test_the_child_masks_secrets_in_its_log_lines_as_the_worker_does() -> None:
    """The child is spawned, not forked, so it starts without the worker's log-record redaction;
    its own errors (a model that fails to load, a library's message) must not print a
    password."""
    from sentistream.settings import Secret

    scoring = ProcessScoring(scoring_settings(redis_password=Secret("hunter9-child")))
    scoring.start()
    try:
        assert scoring._pool is not None
        line = scoring._pool.submit(
            _a_log_line_in_the_child,
            "redis://:pw-in-url@redis:6379/0 refused the password hunter9-child").result(60)
    finally:
        scoring.close()
    assert "hunter9-child" not in line and "pw-in-url" not in line
    assert "redis://:***@redis:6379/0" in line
