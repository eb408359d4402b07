"""One frozen, typed settings object, read from the environment once.

No other module reads ``os.environ``: everything configurable is a field here, named
``SENTISTREAM_<FIELD>`` in the environment, so ``--help`` and the docs can list them all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ENV_PREFIX = "SENTISTREAM_"


class Secret(str):
    """A string that never shows itself in reprs, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sentistream"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sentistream"


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True, repr=False)
class Settings:
    # -- Kafka -------------------------------------------------------------------------------
    kafka_port: int = _doc("port of the local broker that `infra up` starts", default=9092)
    kafka_controller_port: int = _doc("KRaft controller port of the local broker", default=9093)
    kafka_bootstrap: str = _doc(
        "Kafka bootstrap servers (comma-separated); default localhost:<kafka_port>", default=""
    )
    kafka_version: str = _doc("Apache Kafka version fetched from Maven Central", default="4.1.1")
    kafka_heap: str = _doc("JVM heap (-Xmx/-Xms) of the local broker", default="512m")
    partitions: int = _doc("partitions of every sentistream topic", default=4)
    topic_posts: str = _doc("topic of raw posts", default="sentistream.posts")
    topic_scored: str = _doc("topic of scored posts", default="sentistream.scored")
    topic_dead_letters: str = _doc("topic of rejected input", default="sentistream.dead-letters")
    # -- Redis -------------------------------------------------------------------------------
    redis_port: int = _doc("port of the local Redis started by `infra up`", default=6379)
    redis_url: str = _doc("Redis URL; default redis://localhost:<redis_port>/0", default="")
    redis_prefix: str = _doc("prefix of every Redis key sentistream writes", default="ss")
    # -- Directories -------------------------------------------------------------------------
    state_dir: Path = _doc("data, logs and pid files of local services and workers",
                           default_factory=_default_state_dir)
    cache_dir: Path = _doc("downloaded Kafka jars (kept across restarts)",
                           default_factory=_default_cache_dir)
    # -- Stream processing -------------------------------------------------------------------
    batch_size: int = _doc("most records per scoring batch (a batch is one Kafka fetch)",
                           default=2048)
    max_text_chars: int = _doc("longer posts are dead-lettered", default=2000)
    model_threads: int = _doc("LiteRT interpreter threads", default=1)
    model_path: str = _doc("model file; default: the int8 model shipped in the package",
                           default="")
    brands_file: str = _doc("brands file (YAML/JSON); default: the packaged demo brands",
                            default="")
    retention_minute_s: int = _doc("retention of 1-minute buckets, seconds", default=2 * 86400)
    retention_hour_s: int = _doc("retention of 1-hour buckets, seconds", default=90 * 86400)
    retention_day_s: int = _doc("retention of 1-day buckets, seconds (0 = forever)",
                                default=400 * 86400)
    worker_web_port: int = _doc("worker HTTP port (metrics, health)", default=6066)
    top_posts: int = _doc("most positive/negative posts kept per brand and hour", default=10)
    live_maxlen: int = _doc("approximate length cap of the Redis live-announcement stream",
                            default=10000)
    # -- Languages ---------------------------------------------------------------------------
    languages: str = _doc("languages to score, ISO 639-1 codes separated by commas (others are "
                          "counted, marked unsupported_language, never labelled); default: "
                          "every language of the model", default="")
    # -- drivers: terms, examples, unique authors, reposts (README "Why sentiment moved") -----
    drivers: bool = _doc("write driver terms, example posts, unique authors and repost counts "
                         "(false: only the aggregates, as before)", default=True)
    driver_terms_hour: int = _doc("driver terms kept per brand, class and hour (top K)",
                                  default=128)
    driver_examples: int = _doc("newest example posts kept per brand, class and hour",
                                default=64)
    driver_fingerprints: int = _doc("most text fingerprints remembered per brand and hour for "
                                    "repost detection (later new texts count as originals)",
                                    default=100_000)
    language_id: str = _doc("on: each post's language decides how it is scored (its lang field, "
                            "else detection); off: every post is scored by the English model "
                            "and no language is counted (as before languages existed)",
                            default="on")
    # -- Hostile input and brand limits (README "Limits") -----------------------------------
    max_post_bytes: int = _doc("larger records are dead-lettered (post_too_large)",
                               default=256 * 1024)
    future_allowance_s: int = _doc(
        "created_at may be this much later than the Kafka record time; later posts are "
        "dead-lettered (future_timestamp)", default=3600)
    max_brands_per_post: int = _doc(
        "a post naming (or matching) more distinct brands is dead-lettered (too_many_brands)",
        default=10)
    max_brands_total: int = _doc(
        "most distinct brands kept; posts about newer ones count in _all and _overflow",
        default=100_000)
    explicit_brands: str = _doc(
        "explicit brand fields: 'any' counts every name, 'file' only the brands file's brands",
        default="any")
    live_max_brands: int = _doc("most brands listed in one live announcement (the rest summed)",
                                default=50)
    # -- API ---------------------------------------------------------------------------------
    api_host: str = _doc("HTTP API/dashboard bind address", default="127.0.0.1")
    api_port: int = _doc("HTTP API/dashboard port", default=8000)
    api_token: Secret = _doc("bearer token required by the API when set", default=Secret(""))
    # -- API security and live-stream limits ---------------------------------------------------
    api_allowed_hosts: str = _doc(
        "Host names the API answers to (comma-separated; * = any); default: localhost, "
        "127.0.0.1, ::1 and api_host", default="")
    api_ticket_ttl_s: int = _doc("lifetime of a live-stream ticket (POST /api/live/ticket)",
                                 default=60)
    api_live_max_streams: int = _doc("open live streams (SSE) per server", default=256)
    api_live_max_streams_per_client: int = _doc("open live streams per client address",
                                                 default=8)
    api_live_queue_bytes: int = _doc(
        "bytes of events queued for one live client; a client past it is dropped",
        default=256 * 1024)
    api_live_event_max_bytes: int = _doc(
        "larger announcements reach live clients as a compact 'changed' hint", default=64 * 1024)
    api_live_replay_max: int = _doc("most events a reconnecting client is sent (Last-Event-ID)",
                                    default=200)
    api_live_write_timeout_s: float = _doc(
        "a live client that takes longer to accept one write is dropped", default=30.0)
    # -- Alerts (z-score of the newest 1-minute bucket against the buckets before it) --------
    alert_baseline_buckets: int = _doc("trailing 1-minute buckets that form an alert's baseline",
                                       default=30)
    alert_min_baseline: int = _doc("baseline buckets with posts needed before a brand alerts",
                                   default=3)
    alert_min_volume: int = _doc("posts the current bucket needs before it can alert", default=30)
    alert_z: float = _doc("|z| that raises a sentiment drop/rise alert", default=4.0)
    alert_volume_z: float = _doc("z that raises a volume-spike alert", default=4.0)
    alert_metric: str = _doc("sentiment measure the alerts watch: nss or intensity",
                             default="nss")
    alert_keep: int = _doc("alerts kept in Redis; the oldest are dropped first", default=1000)
    # -- Alert webhook (stream/worker/alerts/webhook.py) -------------------------------------------
    alert_webhook_url: str = _doc("POST each new alert here as JSON (Slack-compatible `text`); "
                                  "empty: no webhook", default="")
    alert_webhook_secret: Secret = _doc(
        "HMAC-SHA256 key: when set, each POST carries X-Sentistream-Signature",
        default=Secret(""))
    alert_webhook_timeout_s: float = _doc("seconds one webhook POST may take", default=5.0)
    alert_webhook_attempts: int = _doc("POSTs of one alert before it is given up", default=6)
    alert_webhook_backoff_s: float = _doc("delay before the first retry; doubles per retry",
                                          default=0.5)
    alert_webhook_backoff_max_s: float = _doc(
        "cap of the delay between retries, also of one a Retry-After asks for", default=30.0)
    alert_webhook_queue: int = _doc("alerts waiting for the webhook in its Redis outbox at "
                                    "most; beyond it the oldest waiting alert is dropped",
                                    default=100)
    # -- Why sentiment moved: read side (stream/drivers/why.py, README "Why sentiment moved") --
    count_reposts: bool = _doc("NSS, mean intensity and class counts of query/brands/timeline/"
                               "API/dashboard include reposts (false: computed without them)",
                               default=True)
    why_baseline_days: int = _doc("days before a `why` window that form its baseline (1..60)",
                                  default=7)
    why_terms: int = _doc("driver terms per class that `why` returns (1..50)", default=10)
    # -- Kafka security: SASL/TLS passed to every Kafka client (producers, worker, admin) -----
    kafka_security_protocol: str = _doc("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                                        default="PLAINTEXT")
    kafka_sasl_mechanism: str = _doc("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)",
                                     default="SCRAM-SHA-256")
    kafka_sasl_username: str = _doc("SASL user name", default="")
    kafka_sasl_password: Secret = _doc("SASL password", default=Secret(""))
    kafka_ssl_cafile: str = _doc("CA bundle (PEM) of the brokers' certificates; default: the "
                                 "system's CAs", default="")
    kafka_ssl_certfile: str = _doc("client certificate (PEM) for mutual TLS", default="")
    kafka_ssl_keyfile: str = _doc("private key (PEM) of the client certificate", default="")
    kafka_ssl_key_password: Secret = _doc("password of the client key file", default=Secret(""))
    kafka_sasl_port: int = _doc("SASL_PLAINTEXT listener of the local broker under `infra up "
                                "--sasl`; default <kafka_port>+2", default=0)
    kafka_tls_port: int = _doc("SASL_SSL listener of the local broker under `infra up --sasl` "
                               "(CA: <state_dir>/kafka/tls/ca.pem); default <kafka_port>+3",
                               default=0)
    # -- Redis security and limits ------------------------------------------------------------
    redis_password: Secret = _doc("password of the local Redis (requirepass); also used for "
                                  "SENTISTREAM_REDIS_URL when that URL has none",
                                  default=Secret(""))
    redis_maxmemory: str = _doc("memory cap of the local Redis, noeviction: when full, writes "
                                "wait and nothing is dropped (0 = no cap)", default="1gb")
    # -- Worker web server ---------------------------------------------------------------------
    worker_web_bind: str = _doc("address the worker's HTTP server (/metrics, /health) listens "
                                "on; 0.0.0.0 exposes it to the network", default="127.0.0.1")
    # -- Worker hot path (README "Throughput of one worker") ---------------------------------
    overlap_writes: int = _doc(
        "1: a batch's Redis write and produces run while the next batch is parsed and scored "
        "(each batch is still acked only after its own writes); 0: one batch at a time",
        default=1)
    produce_scored: int = _doc(
        "1: every scored post also goes to the scored topic; 0: it does not (the aggregates in "
        "Redis are then the only output, and the worker skips a JSON record per post)",
        default=1)
    # -- Worker's Kafka producer: scored and dead-letter topics (stream/worker/app.py) ------
    produce_batch_bytes: int = _doc(
        "largest record batch the worker sends to the scored and dead-letter topics, in bytes "
        "(aiokafka's max_batch_size, 16384 by default there): a worker batch's records of one "
        "partition then go as one record batch in one produce request instead of ~16 KB "
        "pieces one request after another, which costs the broker CPU per request (README "
        "\"Throughput of one worker\"); 16384 to 1000000, capped at start-up to the topics' "
        "max.message.bytes",
        default=1_000_000)
    produce_compression: str = _doc(
        "compression of those record batches: none, gzip, snappy, lz4 or zstd (fewer bytes on "
        "disk and the wire for worker and broker CPU)", default="none")
    # -- Scoring process (stream/worker/scoring.py, README "Throughput of one worker") -------
    scorer_process: int = _doc(
        "1: tokenizing, language detection and the models run in a child process of the worker "
        "(started with it; replaced if it dies or hangs), while the worker parses, builds and "
        "writes the batches around it; 0: in a thread of the worker, under its one GIL",
        default=0)
    scorer_timeout_s: float = _doc(
        "a scoring process that has not answered a batch after this long is deemed hung: it "
        "is killed, a new one started and the batch scored again (the new one's start-up is "
        "waited for apart, up to 120 s)", default=60.0)
    scorer_attempts: int = _doc(
        "tries of one batch on a fresh scoring process before the worker gives up and exits "
        "70 with the batch unacked (a supervisor restarts it)", default=3)
    switch_interval_ms: float = _doc(
        "the worker's GIL switch interval (sys.setswitchinterval), milliseconds: how long a "
        "thread that wants the GIL (the event loop, the scoring thread, the Kafka consumer's "
        "thread) waits for another that holds it to let go; CPython's default is 5",
        default=5.0)
    gc_young_threshold: int = _doc(
        "the worker's garbage-collector threshold of its youngest generation "
        "(gc.set_threshold's first number: container allocations between two young "
        "collections); CPython's default is 700, the older generations keep theirs; 100 to "
        "10000000", default=700)
    fetch_max_wait_ms: int = _doc(
        "longest the broker holds a worker's fetch that finds no records (fetch.max.wait.ms); "
        "a fetch sent for idle partitions alone holds back the busy ones that long "
        "(stream/worker/batch_consumer.py)", default=50)
    # -- Offset commits (README "Running and scaling workers") -------------------------------
    commit_interval_s: float = _doc(
        "seconds between a worker's periodic offset commits (Faust's broker_commit_interval); "
        "a killed worker's next owner scores up to this much of its work again", default=2.8)
    # -- Latency tracing (ops/bench/drain.py joins it with the slowest posts) ---------------
    stage_trace: int = _doc(
        "timings the worker keeps for its /stages/trace page (each step of each batch, GC "
        "pauses, the alert check), newest last; 0: none kept", default=0)
    # -- Batch write transaction (stream/worker/sink.py; ROUNDS.md "The tail, attributed") --
    write_transaction: int = _doc(
        "1: on a single Redis, a batch's writes go in one MULTI/EXEC (one fsync under "
        "appendfsync always; readers see the batch whole) with a fresh batch's live "
        "announcement inside; 0: a plain pipeline and the announcement after it (off until a "
        "quiet A/B shows it lowers p99)", default=0)
    # -- Replay input bounds (hostile or huge files cost bounded memory) ---------------------
    replay_max_row_bytes: int = _doc(
        "longest row `replay` or `produce` reads (a line, a JSON array item); longer: bad rows",
        default=1 << 20)
    replay_max_decompressed_mib: int = _doc(
        "a gzipped `replay` input that inflates past this many MiB stops the replay",
        default=4096)
    replay_sort_max_mib: int = _doc(
        "`replay --order auto` sorts inputs up to this many MiB in memory, streams larger ones",
        default=16)

    def __post_init__(self) -> None:
        # Derived defaults keep a single source of truth for ports.
        if not self.kafka_bootstrap:
            object.__setattr__(self, "kafka_bootstrap", f"localhost:{self.kafka_port}")
        if not self.redis_url:
            object.__setattr__(self, "redis_url", f"redis://localhost:{self.redis_port}/0")
        if self.redis_password and urlsplit(self.redis_url).password is None:
            object.__setattr__(self, "redis_url",
                               _with_password(self.redis_url, self.redis_password.reveal()))
        if not self.kafka_sasl_port:
            object.__setattr__(self, "kafka_sasl_port", self.kafka_port + 2)
        if not self.kafka_tls_port:
            object.__setattr__(self, "kafka_tls_port", self.kafka_port + 3)
        _check_kafka_security(self)
        from sentistream.settings_check import check_settings

        check_settings(self)  # every value in range, or one error naming each bad variable

    def __repr__(self) -> str:
        # Secrets mask themselves; a password inside a URL setting (redis_url) must be masked too.
        from sentistream.redact import redact_text

        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return redact_text(f"Settings({shown})", self.secrets())

    def secrets(self) -> list[str]:
        """The revealed values of every secret setting, for log redaction; and the webhook URL
        when it has a path or query: a Slack-style URL's path is its credential, and aiohttp's
        errors name the whole URL (the webhook's own log lines show scheme and host only)."""
        found = [getattr(self, f.name).reveal() for f in fields(self)
                 if isinstance(getattr(self, f.name), Secret) and getattr(self, f.name)]
        hook = urlsplit(self.alert_webhook_url)
        if hook.path.strip("/") or hook.query:
            found.append(self.alert_webhook_url)
        return found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        from sentistream.settings_unknown import warn_unknown

        env = os.environ if environ is None else environ
        warn_unknown(env, ENV_PREFIX, [env_name(f.name) for f in fields(cls)])
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The ``SENTISTREAM_*`` variables that make a child process read these same settings."""
        return {env_name(f.name): _unparse(getattr(self, f.name)) for f in fields(self)}


KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _with_password(url: str, password: str) -> str:
    """``url`` with ``password`` (percent-encoded) as its userinfo's password."""
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def _check_kafka_security(s: Settings) -> None:
    from sentistream.errors import ConfigError

    if s.kafka_security_protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise ConfigError(f"SENTISTREAM_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol!r} "
                          f"is not one of {', '.join(KAFKA_SECURITY_PROTOCOLS)}")
    if not s.kafka_security_protocol.startswith("SASL_"):
        return
    if s.kafka_sasl_mechanism not in KAFKA_SASL_MECHANISMS:
        raise ConfigError(f"SENTISTREAM_KAFKA_SASL_MECHANISM={s.kafka_sasl_mechanism!r} is not "
                          f"one of {', '.join(KAFKA_SASL_MECHANISMS)}")
    if not s.kafka_sasl_username or not s.kafka_sasl_password:
        raise ConfigError(f"SENTISTREAM_KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol} needs "
                          "SENTISTREAM_KAFKA_SASL_USERNAME and SENTISTREAM_KAFKA_SASL_PASSWORD")


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _unparse(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _parse_bool(raw)
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "Secret":
            return Secret(raw)
        return raw
    except ValueError as exc:
        from sentistream.errors import ConfigError

        raise ConfigError(f"{env_name(f.name)}={raw!r} is not a valid {kind}: {exc}") from exc


_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError("expected one of true/false, 1/0, yes/no, on/off")
    return word in _TRUE


def describe_environment(width: int = 100) -> str:
    """The environment variables and their defaults, one per line, for --help and the README.

    Starts with click's no-rewrap marker (a line of ``\\b``): without it click joins the list
    into one paragraph. Long descriptions wrap under themselves, never under the name.
    """
    import textwrap

    defaults = Settings()
    lines = ["\b"]
    for f in fields(Settings):
        default = getattr(defaults, f.name)
        shown = "(unset)" if isinstance(default, Secret) else str(default)
        name = f"  {env_name(f.name):<38} "
        text = f"{f.metadata['doc']} [{shown}]"
        lines += textwrap.wrap(text, width, initial_indent=name,
                               subsequent_indent=" " * len(name))
    return "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings.from_env()
