"""What each setting allows, checked once when the settings are built.

Every process builds its ``Settings`` at start-up (the CLI's group callback, the worker, the API),
so a value out of range stops it there, with one message naming each bad variable and what it
allows, instead of surfacing later in a background task (the alert check logged its
AlertConfigError as a warning on every batch). A rule is a predicate over the whole settings, so
it can relate fields (the alert baseline and its minimum).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sentistream.errors import ConfigError

if TYPE_CHECKING:
    from sentistream.settings import Settings

ALERT_METRICS = ("nss", "intensity")
EXPLICIT_BRANDS = ("any", "file")


@dataclass(frozen=True)
class Rule:
    """``ok(settings)`` must hold for ``field``; ``allowed`` says what it takes, for the user."""

    field: str
    allowed: str | Callable[[Settings], str]  # a callable when the bound depends on others
    ok: Callable[[Settings], bool]

    def allows(self, settings: Settings) -> str:
        return self.allowed(settings) if callable(self.allowed) else self.allowed


def _at_least(field: str, low: float) -> Rule:
    return Rule(field, f">= {low:g}", lambda s: getattr(s, field) >= low)


def _above(field: str, low: float) -> Rule:
    return Rule(field, f"> {low:g}", lambda s: getattr(s, field) > low)


def _port(field: str) -> Rule:
    return Rule(field, "a TCP port, 1 to 65535", lambda s: 1 <= getattr(s, field) <= 65535)


def _one_of(field: str, choices: tuple[str, ...]) -> Rule:
    return Rule(field, f"one of {', '.join(choices)}", lambda s: getattr(s, field) in choices)


def _http_url_or_empty(s: Settings) -> bool:
    if not s.alert_webhook_url:
        return True
    parts = urlsplit(s.alert_webhook_url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# The worker's record batches (SENTISTREAM_PRODUCE_BATCH_BYTES): at least aiokafka's default, at
# most below the broker's message.max.bytes (1048588 by default), which refuses a larger batch.
PRODUCE_BATCH_BYTES_MIN = 16_384
PRODUCE_BATCH_BYTES_MAX = 1_000_000
PRODUCE_COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")

RULES: tuple[Rule, ...] = (
    *(_port(f) for f in ("kafka_port", "kafka_controller_port", "redis_port", "worker_web_port",
                         "api_port", "kafka_sasl_port", "kafka_tls_port")),
    *(_at_least(f, 1) for f in (
        "partitions", "batch_size", "max_text_chars", "model_threads", "retention_minute_s",
        "retention_hour_s", "live_maxlen", "max_post_bytes", "max_brands_per_post",
        "max_brands_total", "live_max_brands", "api_ticket_ttl_s", "api_live_max_streams",
        "api_live_max_streams_per_client", "api_live_queue_bytes", "api_live_event_max_bytes",
        "api_live_replay_max", "alert_min_volume", "alert_keep", "alert_webhook_attempts",
        "alert_webhook_queue", "replay_max_row_bytes", "replay_max_decompressed_mib",
        "replay_sort_max_mib")),
    *(_at_least(f, 0) for f in ("retention_day_s", "top_posts", "future_allowance_s",
                                "alert_webhook_backoff_s")),
    *(_above(f, 0) for f in ("api_live_write_timeout_s", "alert_z", "alert_volume_z",
                             "alert_webhook_timeout_s")),
    Rule("explicit_brands", "'any' (every name counts) or 'file' (only the brands file's)",
         lambda s: s.explicit_brands in EXPLICIT_BRANDS),
    _one_of("alert_metric", ALERT_METRICS),
    _at_least("alert_baseline_buckets", 2),
    Rule("alert_min_baseline", "between 1 and SENTISTREAM_ALERT_BASELINE_BUCKETS",
         lambda s: 1 <= s.alert_min_baseline <= s.alert_baseline_buckets),
    Rule("alert_webhook_url", "empty, or an http(s) URL with a host", _http_url_or_empty),
    Rule("alert_webhook_backoff_max_s", "at least SENTISTREAM_ALERT_WEBHOOK_BACKOFF_S",
         lambda s: s.alert_webhook_backoff_max_s >= s.alert_webhook_backoff_s),
    *(_at_least(f, 1) for f in ("driver_terms_hour", "driver_examples",
                                "driver_fingerprints")),
    Rule("why_baseline_days", "1 to 60", lambda s: 1 <= s.why_baseline_days <= 60),
    Rule("why_terms", "1 to 50", lambda s: 1 <= s.why_terms <= 50),
    _one_of("language_id", ("on", "off")),
    # -- scoring process --
    Rule("scorer_process", "0 (score in a thread of the worker) or 1 (in a process of its own)",
         lambda s: s.scorer_process in (0, 1)),
    _above("scorer_timeout_s", 0),
    Rule("fetch_max_wait_ms", "1 to 1500", lambda s: 1 <= s.fetch_max_wait_ms <= 1500),
    Rule("switch_interval_ms", "above 0 and at most 1000",
         lambda s: 0 < s.switch_interval_ms <= 1000),
    Rule("gc_young_threshold", "100 to 10000000 (0 would switch automatic collection off)",
         lambda s: 100 <= s.gc_young_threshold <= 10_000_000),
    _at_least("scorer_attempts", 1),
    # -- worker's Kafka producer --
    Rule("produce_batch_bytes", f"{PRODUCE_BATCH_BYTES_MIN} to {PRODUCE_BATCH_BYTES_MAX}",
         lambda s: PRODUCE_BATCH_BYTES_MIN <= s.produce_batch_bytes <= PRODUCE_BATCH_BYTES_MAX),
    _one_of("produce_compression", PRODUCE_COMPRESSIONS),
    # -- offset commits --
    _above("commit_interval_s", 0),
)


# -- why's baseline against the hour retention --
# `why` (CLI, API and the worker's alert hook) reads the hour term sets of its window and of the
# SENTISTREAM_WHY_BASELINE_DAYS whole days before the window's first day (stream/drivers/why.py),
# and those sets expire SENTISTREAM_RETENTION_HOUR_S after their last write. A window of up to
# WHY_MAX_WINDOW_S ending now reaches back less than (baseline days + 1) days + the window, so a
# shorter retention made the baseline silently cover fewer days than asked. Refused at start-up
# rather than reported per answer: every process that runs `why` (the worker too) holds both
# settings, and deployments give all of them one environment (docker-compose's x-app-env);
# `why` itself cannot tell an expired hour from an hour without posts, nor judge by the clock
# (replayed history is written now, dated then).
WHY_MAX_WINDOW_S = 7 * 86400  # = stream.schema.keys.MAX_WHY_WINDOW_S (tests/core pins it)


def _why_reach_s(s: Settings) -> int:
    return (s.why_baseline_days + 1) * 86400 + WHY_MAX_WINDOW_S


def _why_reach_allowed(s: Settings) -> str:
    return (f"at least {_why_reach_s(s)} s = (SENTISTREAM_WHY_BASELINE_DAYS + 1 + 7) days: "
            "`why` (window up to 7 days) reads hour term sets that far back for its baseline; "
            "raise it, or lower SENTISTREAM_WHY_BASELINE_DAYS, or set SENTISTREAM_DRIVERS=false "
            "(no term sets, no `why`)")


WHY_RULES: tuple[Rule, ...] = (
    Rule("retention_hour_s", _why_reach_allowed,
         lambda s: not s.drivers or s.retention_hour_s >= _why_reach_s(s)),
)


def check_settings(settings: Settings) -> None:
    """Raise one ConfigError naming every variable whose value breaks its rule."""
    from sentistream.redact import redact_url
    from sentistream.settings import env_name

    problems = []
    for rule in (*RULES, *WHY_RULES):
        if not rule.ok(settings):
            value = getattr(settings, rule.field)
            shown = redact_url(value) if isinstance(value, str) and "://" in value else value
            problems.append(f"{env_name(rule.field)}={shown!r}: must be {rule.allows(settings)}")
    if problems:
        raise ConfigError("bad setting(s), fix the environment variable(s):\n  "
                          + "\n  ".join(problems))
