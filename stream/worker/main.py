"""Start one worker process: topics, brands, Redis and model checked first, then Faust."""

from __future__ import annotations

import gc
import logging
import sys
from pathlib import Path

from sentistream.redact import redact_url
from sentistream.settings import Settings
from sentistream.topics import ensure_topics, fit_produce_batch
from stream.worker.scoring import ProcessScoring, check_language_id, load_scorer

log = logging.getLogger(__name__)


def start_scoring_process(settings: Settings) -> ProcessScoring:
    """The scoring process (SENTISTREAM_SCORER_PROCESS=1), its models loaded and checked; a
    model that cannot load raises ``load_scorer``'s ModelUnavailableError, from the child."""
    check_language_id(settings)  # here, before a child is spawned to find it out
    scoring = ProcessScoring(settings)
    try:
        scoring.start()
    except BaseException:
        scoring.close()
        raise
    return scoring


def apply_switch_interval(settings: Settings) -> None:
    """The worker's GIL switch interval (SENTISTREAM_SWITCH_INTERVAL_MS): how long the event
    loop, the scoring thread and the Kafka consumer's thread may wait for one another. A knob
    for latency A/Bs: on a 2-core AMD EPYC at 2,000 posts/s, 0.5 ms against CPython's 5 ms
    showed nothing beyond the runs' spread (ROUNDS.md, s12p), so the default stays 5."""
    sys.setswitchinterval(settings.switch_interval_ms / 1000)


def apply_gc_threshold(settings: Settings) -> None:
    """The young generation's collection threshold (SENTISTREAM_GC_YOUNG_THRESHOLD); the older
    generations keep CPython's. A knob for throughput A/Bs: a batch allocates tens of thousands
    of containers that live as long as the batch, so at CPython's 700 most of them survive a
    few young collections and are promoted, to be scanned again by the older ones."""
    gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])


def run_worker(settings: Settings, loglevel: str = "warning") -> int:
    """Blocks until the worker stops (SIGTERM/SIGINT); returns the exit code."""
    import faust
    import redis

    from stream.errors import SinkUnavailableError
    from stream.worker.app import create_app
    from stream.worker.brands import BrandsFile

    apply_switch_interval(settings)
    apply_gc_threshold(settings)
    ensure_topics(settings)
    settings = fit_produce_batch(settings)
    # A broken brands file or an absent Redis fails now, with a clear message, not mid-stream.
    BrandsFile(Path(settings.brands_file) if settings.brands_file else None)
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise SinkUnavailableError(
            f"Redis at {redact_url(settings.redis_url)} does not answer ({exc}); start it with "
            "`sentistream infra up` or set SENTISTREAM_REDIS_URL") from exc
    scoring = start_scoring_process(settings) if settings.scorer_process else None
    app = create_app(settings, scoring or load_scorer(settings))
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=loglevel.upper(), quiet=True)
    # Faust's terminal spinner turns on every DEBUG record, so with it the root logger is set to
    # DEBUG and every debug call in aiokafka (one per Kafka request) builds a LogRecord that
    # nothing prints: ~2% of the worker's samples at 10k posts/s (py-spy).
    worker.spinner = None
    try:
        worker.execute_from_commandline()  # always raises SystemExit, or the crash's exception
    except BaseException:
        if app.lifeline.error is not None:  # already logged, with the reason
            return app.lifeline.error.exit_code
        raise
    finally:
        if scoring is not None:
            scoring.close()
    return 0
