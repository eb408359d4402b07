"""Start one worker process: topics, brands, Redis and model checked first, then Faust."""

from __future__ import annotations

import logging
from pathlib import Path

from sentistream.redact import redact_url
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.errors import ModelUnavailableError
from stream.worker.pipeline import Scorer
from stream.worker.scoring import ProcessScoring

log = logging.getLogger(__name__)


def check_language_id(settings: Settings) -> None:
    from sentistream.errors import ConfigError

    if settings.language_id not in ("on", "off"):
        raise ConfigError(f"SENTISTREAM_LANGUAGE_ID={settings.language_id!r}: use on (route "
                          "each post by its language) or off (score every post in English)")


def load_scorer(settings: Settings) -> Scorer:
    from model.errors import ModelError

    check_language_id(settings)
    from model.languages import parse_languages
    from model.scorer import SentimentScorer

    try:
        return SentimentScorer(model_path=settings.model_path or None,
                               num_threads=settings.model_threads,
                               languages=parse_languages(settings.languages))
    except ModelError as exc:
        raise ModelUnavailableError(f"cannot load the sentiment model: {exc}") from exc


def start_scoring_process(settings: Settings) -> ProcessScoring:
    """The scoring process (SENTISTREAM_SCORER_PROCESS=1), its models loaded and checked."""
    from model.errors import ModelError

    check_language_id(settings)
    scoring = ProcessScoring(settings.model_path or None, settings.model_threads,
                             settings.languages, settings.scorer_timeout_s,
                             settings.scorer_attempts)
    try:
        scoring.start()
    except ModelError as exc:
        scoring.close()
        raise ModelUnavailableError(f"cannot load the sentiment model: {exc}") from exc
    except BaseException:
        scoring.close()
        raise
    return scoring


def run_worker(settings: Settings, loglevel: str = "warning") -> int:
    """Blocks until the worker stops (SIGTERM/SIGINT); returns the exit code."""
    import faust
    import redis

    from stream.errors import SinkUnavailableError
    from stream.worker.app import create_app
    from stream.worker.brands import BrandsFile

    ensure_topics(settings)
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
