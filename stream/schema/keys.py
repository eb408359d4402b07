"""The Redis key scheme: the one place that names every key the worker writes and readers read.

Every key of one brand carries the same Redis Cluster hash tag ``{<prefix>:b:<brand>}``, so one
brand's buckets, totals, top posts and dedupe offsets live in one slot and are updated by one
atomic script. Global keys (the brand index, the live stream) have tags of their own. Brand names
are escaped (``escape_brand``) so that no brand can break out of its tag or clash with another.
See the README section "Redis key scheme" for the layout with examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

# Bucket resolutions: key code -> width in seconds. Buckets start at multiples of the width in
# UTC epoch seconds, from the post's EVENT time (created_at), never the processing time.
RESOLUTIONS: dict[str, int] = {"m": 60, "h": 3600, "d": 86400}

# The global aggregate: every valid post counts here, whatever its brands.
ALL_BRANDS = "_all"
# Posts that named a brand refused because SENTISTREAM_MAX_BRANDS_TOTAL brands exist already
# (each such post once). Not in the brand index, so lists of brands never show it.
OVERFLOW = "_overflow"
RESERVED_BRANDS = frozenset({ALL_BRANDS, OVERFLOW})

# Fields of a bucket hash (and of a brand's all-time total hash). Intensity is summed as integer
# millionths so sums are exact and independent of the order in which batches are applied.
BUCKET_FIELDS: tuple[str, ...] = ("n", "neg", "neu", "pos", "isum_e6")
INTENSITY_SCALE = 1_000_000

# The longest window `why` reads: driver terms are kept per hour, so a week is 168 term sets per
# class. A bound of the key scheme, shared by `why` and the parameters that validate it.
MAX_WHY_WINDOW_S = 7 * 86400

# Extra field of the ``_all`` bucket hashes: brand mentions in the bucket (the sum of every brand's
# ``n``), the denominator of share of voice. A post naming two brands adds 2 here and 1 to ``n``.
MENTIONS_FIELD = "mentions"

# Per-language fields of a bucket hash (stream.worker.languages): ``lang:<code>`` counts the
# bucket's posts in that language, ``lang:<code>:neg|neu|pos|isum_e6`` the scored ones among them.
FIELD_PREFIX = "lang:"


def language_fields(code: str) -> tuple[str, str, str, str, str]:
    """The hash fields of one language, in the order of ``BUCKET_FIELDS``."""
    base = FIELD_PREFIX + code
    return (base, f"{base}:neg", f"{base}:neu", f"{base}:pos", f"{base}:isum_e6")


# Top-post sets: members are JSON posts, scores are their intensity.
POLARITIES: tuple[str, ...] = ("pos", "neg")

# Repost fields of a bucket hash and total hash (README "Why sentiment moved"): posts that are a
# retweet or a copy of a text seen for the brand this hour or the previous one, and the class
# counts and intensity sum of those posts, so readers can leave reposts out of NSS.
REPOST_FIELDS: tuple[str, ...] = ("reposts", "rp_neg", "rp_neu", "rp_pos", "rp_isum_e6")
# Classes with driver terms and example posts (the bucket fields of their n_a / n_b).
DRIVER_CLASSES: tuple[str, ...] = ("neg", "pos")
# Resolutions with driver term sets (authors have every resolution of RESOLUTIONS): hours only;
# a reader sums a day's 24 hour sets (stream/drivers/why.py).
DRIVER_RESOLUTIONS: tuple[str, ...] = ("h",)

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@lru_cache(maxsize=16384)
def escape_brand(brand: str) -> str:
    """Percent-encode every byte outside ``[A-Za-z0-9_.-]``: reversible, and never ``{ } :``.

    Cached (bounded): the worker names ~20 keys per (brand, partition) group of each batch, and
    on real tweets (~430 small groups per batch) the escaping alone was ~4 us per post."""
    out = []
    for ch in brand:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def unescape_brand(escaped: str) -> str:
    """Inverse of ``escape_brand``."""
    raw = bytearray()
    i = 0
    while i < len(escaped):
        if escaped[i] == "%":
            raw.append(int(escaped[i + 1:i + 3], 16))
            i += 3
        else:
            raw.extend(escaped[i].encode("ascii"))
            i += 1
    return raw.decode("utf-8")


def brand_ttl_s(retentions: dict[str, int]) -> int:
    """Expiry of a brand's long-lived keys (total, offsets, indexes), refreshed by each write:
    the longest bucket retention, so they go when the brand has been silent longer than every
    retention; 0 (never) when some resolution is kept for ever."""
    return 0 if any(r <= 0 for r in retentions.values()) else max(retentions.values())


def index_keep(retention_s: int, resolution: str) -> int:
    """Members a bucket index keeps (its newest): as many buckets as the retention spans, +1
    for a partly expired one; 0 (all) when kept for ever. A count, not a time cutoff, so a post
    dated far ahead takes one slot instead of trimming every real bucket."""
    return 0 if retention_s <= 0 else -(-retention_s // RESOLUTIONS[resolution]) + 1


def bucket_start(epoch_s: float, resolution: str) -> int:
    """Start (epoch seconds) of the bucket of ``resolution`` that holds ``epoch_s``."""
    width = RESOLUTIONS[resolution]
    return math.floor(epoch_s / width) * width


def window_buckets(now_s: float, seconds: int, resolution: str) -> list[int]:
    """Bucket starts covering the rolling window (now - seconds, now], oldest first.

    The oldest bucket may start before the window: rolling views are bucket-granular.
    """
    width = RESOLUTIONS[resolution]
    last = bucket_start(now_s, resolution)
    first = bucket_start(now_s - seconds + 1e-9, resolution) if seconds > 0 else last
    return list(range(first, last + width, width))


@dataclass(frozen=True)
class KeyScheme:
    """Key names under one prefix (``settings.redis_prefix``)."""

    prefix: str = "ss"

    def brand_tag(self, brand: str) -> str:
        return f"{{{self.prefix}:b:{escape_brand(brand)}}}"

    def bucket(self, brand: str, resolution: str, start: int) -> str:
        """Hash with BUCKET_FIELDS for one brand and bucket; expires after the retention."""
        return f"{self.brand_tag(brand)}:{resolution}:{start}"

    def bucket_index(self, brand: str, resolution: str) -> str:
        """Sorted set of the brand's newest bucket starts (member and score = start), at most
        ``index_keep`` of them; expires with the brand (``brand_ttl_s``)."""
        return f"{self.brand_tag(brand)}:idx:{resolution}"

    def total(self, brand: str) -> str:
        """Hash with BUCKET_FIELDS over all time; expires with the brand (``brand_ttl_s``)."""
        return f"{self.brand_tag(brand)}:total"

    def top(self, brand: str, polarity: str, hour_start: int) -> str:
        """Bounded sorted set of the most positive/negative posts of one brand and hour."""
        return f"{self.brand_tag(brand)}:top:{polarity}:{hour_start}"

    # -- drivers, unique authors, reposts (issue 15): written by the brand's apply script --

    def authors(self, brand: str, resolution: str, start: int) -> str:
        """HyperLogLog of the authors of the brand's posts in one bucket (PFCOUNT over a
        window's keys: one slot); expires with the buckets of ``resolution``."""
        return f"{self.brand_tag(brand)}:authors:{resolution}:{start}"

    def terms(self, brand: str, cls: str, resolution: str, start: int) -> str:
        """Sorted set term -> posts of class ``cls`` ("neg"/"pos") in one bucket that use it,
        kept to the top K by Space-Saving (``fightin_words.merge_top_k``); expires with the
        buckets of ``resolution``. The worker writes hour sets only (``DRIVER_RESOLUTIONS``)."""
        return f"{self.brand_tag(brand)}:terms:{cls}:{resolution}:{start}"

    def examples(self, brand: str, cls: str, hour_start: int) -> str:
        """List of the newest posts of class ``cls`` in one hour (head = newest), JSON
        ``{"id", "text"}``, at most SENTISTREAM_DRIVER_EXAMPLES; expires with hour buckets."""
        return f"{self.brand_tag(brand)}:ex:{cls}:h:{hour_start}"

    def fingerprints(self, brand: str, hour_start: int) -> str:
        """Set of the text fingerprints (16 hex digits) of the brand's posts in one hour, at
        most SENTISTREAM_DRIVER_FINGERPRINTS; expires 2 h after its last write."""
        return f"{self.brand_tag(brand)}:fp:h:{hour_start}"

    def offsets(self, brand: str) -> str:
        """Hash ``<topic>:<partition>`` -> last Kafka offset applied to this brand's keys;
        expires with the brand (``brand_ttl_s``)."""
        return f"{self.brand_tag(brand)}:offsets"

    # -- brand ranking (read side: top-N brands without reading every brand) --
    # Written by the ``_all`` group's apply script, so they share ``_all``'s hash tag: one slot
    # holds a window's ranking sets (ZUNIONSTORE needs them together) and the increments are
    # deduplicated by ``_all``'s offsets, atomically with ``_all``'s own buckets.

    def rank(self, resolution: str, start: int) -> str:
        """Sorted set brand -> posts about it in one bucket (``_all`` excluded); expires with the
        buckets of ``resolution``. At most one member per brand with posts in that bucket."""
        return f"{self.brand_tag(ALL_BRANDS)}:rank:{resolution}:{start}"

    def rank_scratch(self, resolution: str) -> str:
        """Scratch sorted set of a read: a window's rankings summed, deleted by the same script."""
        return f"{self.brand_tag(ALL_BRANDS)}:rank:{resolution}:sum"

    @property
    def brands(self) -> str:
        """Sorted set of every brand kept (at most SENTISTREAM_MAX_BRANDS_TOTAL, plus ``_all``);
        score = newest event time (epoch s) of that brand, never later than its last write."""
        return f"{{{self.prefix}}}:brands"

    @property
    def brands_written(self) -> str:
        """Sorted set brand -> wall time (epoch s) of its last write: brands silent longer than
        ``brand_ttl_s`` (whose keys have expired) are swept from both brand sets."""
        return f"{{{self.prefix}}}:brands:written"

    @property
    def live(self) -> str:
        """Capped stream (XADD MAXLEN ~) and pub/sub channel announcing applied changes."""
        return f"{{{self.prefix}}}:live"

    @property
    def alerts(self) -> str:
        """Hash alert id (``<escaped brand>:<kind>:<bucket start>``) -> alert JSON, set once."""
        return f"{{{self.prefix}}}:alerts"

    @property
    def alerts_index(self) -> str:
        """Sorted set of alert ids; score = start of the bucket that raised the alert."""
        return f"{{{self.prefix}}}:alerts:idx"

    @property
    def alert_outbox(self) -> str:
        """Stream of new alerts the webhook has not yet delivered (consumer group ``webhook``):
        written by the alert save script, so an alert is in it exactly when it was new."""
        return f"{{{self.prefix}}}:alerts:outbox"

    @property
    def dead_letters(self) -> str:
        """Hash reason -> count of dead-lettered records (exact, deduplicated like buckets)."""
        return f"{{{self.prefix}:dl}}:counts"

    @property
    def dead_letter_offsets(self) -> str:
        return f"{{{self.prefix}:dl}}:offsets"
