"""A brand the brands file does not define (a post's own ``brand`` field) is left out of its own
driver terms, like a defined one: through the batch processor and the real Redis.

Before the fix only the brands file's names were excluded, so `why` for such a brand listed its
own name ("zorblax", "zorblax phone", "#zorblax") among its drivers (found by the fuzz, README
"Benchmarks, fault injection and fuzzing").
"""

from __future__ import annotations

import json

import pytest
import redis

from sentistream.settings import Settings
from stream.schema.keys import KeyScheme
from stream.worker.posts import RawRecord
from tests.stream.test_sink import processor

pytestmark = pytest.mark.integration
HOUR = 1_600_000_000 // 3600 * 3600
WORDS = ["battery", "screen", "refund", "shipping", "support", "price"]


def records(start: int, n: int) -> list[RawRecord]:
    out = []
    for i in range(start, start + n):
        brand = "Zorblax" if i % 2 else "Quux Labs"
        text = (f"zorblax phone {WORDS[i % 6]} awful #zorblax @zorblax {i}" if i % 2 else
                f"quux labs {WORDS[i % 6]} awful #quuxlabs quux {i}")
        doc = {"id": f"u{i}", "text": text, "brand": brand, "created_at": HOUR + i}
        out.append(RawRecord(json.dumps(doc).encode(), "t.posts", 0, i, 1.7e9))
    return out


async def test_an_explicit_brand_outside_the_brands_file_is_not_its_own_driver(
        isolated: Settings) -> None:
    proc = processor(isolated, [])
    # Two batches: the brand's words are already known terms when the second one names it.
    await proc.process(records(0, 200))
    await proc.process(records(200, 200))
    await proc.sink.close()
    client = redis.Redis.from_url(isolated.redis_url, decode_responses=True)
    keys = KeyScheme(isolated.redis_prefix)
    found: dict[str, set[str]] = {}
    for brand in ("zorblax", "quux labs"):
        for cls in ("neg", "pos"):  # hour sets only: there are no day term sets
            terms: list[str] = client.zrange(  # type: ignore[assignment]
                keys.terms(brand, cls, "h", HOUR), 0, -1)
            found.setdefault(brand, set()).update(terms)
    assert "screen" in found["zorblax"] and "battery" in found["quux labs"]  # terms are there
    # Its name, #name, @name and any bigram with its (joined) name: none is its own driver.
    own = {"zorblax": {"zorblax", "#zorblax", "@zorblax"},
           "quux labs": {"quux labs", "quuxlabs", "#quuxlabs", "@quuxlabs"}}
    word = {"zorblax": "zorblax", "quux labs": "quuxlabs"}
    leaked = {b: sorted(t for t in found[b] if t in own[b] or word[b] in t.split())
              for b in own}
    assert leaked == {"zorblax": [], "quux labs": []}
