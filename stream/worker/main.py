"""Start one worker process: topics, brands, Redis and model checked first, then Faust."""

from __future__ import annotations

import logging
from pathlib import Path

from sentistream.redact import redact_url
from sentistream.settings import Settings
from sentistream.topics import ensure_topics
from stream.errors import ModelUnavailableError
from stream.worker.pipeline import Scorer

log = logging.getLogger(__name__)


def load_scorer(settings: Settings) -> Scorer:
    from model.errors import ModelError
    from sentistream.errors import ConfigError

    if settings.language_id not in ("on", "off"):
        raise ConfigError(f"SENTISTREAM_LANGUAGE_ID={settings.language_id!r}: use on (route "
                          "each post by its language) or off (score every post in English)")
    from model.languages import parse_languages
    from model.scorer import SentimentScorer

    try:
        return SentimentScorer(model_path=settings.model_path or None,
                               num_threads=settings.model_threads,
                               languages=parse_languages(settings.languages))
    except ModelError as exc:
        raise ModelUnavailableError(f"cannot load the sentiment model: {exc}") from exc


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
    app = create_app(settings, load_scorer(settings))
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
    return 0
