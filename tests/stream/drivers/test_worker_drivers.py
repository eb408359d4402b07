"""`sentistream worker` for real, killed mid-stream and restarted: the driver keys are exact.

The input is built so that the right answer does not depend on how partitions interleave: each
copied text lives in one minute (so whichever copy comes first, the others are the reposts of
that minute, with the same label and intensity), each retweet's text is unique, and the bounds
are raised above what the input needs (the bounds and evictions are tested in
test_apply_ops.py and test_redelivery.py). Anything applied twice after the kill would show:
a second SADD marks an original as a repost, a second LPUSH duplicates an example, a second
ZINCRBY inflates a term.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from model.scorer import SentimentScorer
from sentistream.harness import Child, start_worker, wait_until
from sentistream.settings import Settings
from stream.drivers.reposts import member, retweets_and_fingerprints
from stream.drivers.terms import TermExtractor
from stream.schema.keys import ALL_BRANDS, RESERVED_BRANDS, KeyScheme
from stream.worker.aggregates import intensity_e6
from stream.worker.brands import BrandsFile
from stream.worker.pipeline import validate
from stream.worker.posts import RawRecord
from tests.stream.workers import applied_count, produce

pytestmark = pytest.mark.integration
HOUR0 = 1_500_000_000 // 3600 * 3600
BRANDS = ["apple", "iphone", "xbox", "nike", "tesla", "model 3", "google pixel"]
MOODS = ["battery died again", "love the new screen", "support never answers",
         "price hike is awful", "so fast and smooth", "shipping delay, refund please"]


def make_values(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pool = [(f"{' and '.join(rng.sample(BRANDS, rng.choice([1, 1, 2])))} {rng.choice(MOODS)} "
             f"v{j}", HOUR0 + rng.randrange(3 * 60) * 60) for j in range(400)]
    out = []
    for i in range(n):
        if rng.random() < 0.1:
            text, minute = f"RT @u{i % 7}: {rng.choice(BRANDS)} {rng.choice(MOODS)} {i}", \
                HOUR0 + rng.randrange(3 * 60) * 60
        else:
            text, minute = rng.choice(pool)
        doc: dict[str, Any] = {"id": f"w{i}", "text": text,
                               "created_at": minute + rng.randrange(60)}
        if rng.random() < 0.95:
            doc["author"] = f"a{rng.randrange(700)}"
        out.append(json.dumps(doc).encode())
    return out


def truth(settings: Settings, values: list[bytes]) -> dict[str, Any]:
    """Every driver key and repost field the worker must write, computed offline."""
    records = [RawRecord(v, "truth", 0, i, 1.7e9) for i, v in enumerate(values)]
    matcher = BrandsFile().current()
    posts, brands, _ = validate(records, settings, matcher)
    scores = SentimentScorer(num_threads=1).score(posts.texts)
    labels, ie6 = np.asarray(scores.labels), intensity_e6(scores.intensity)
    retweet, fps = retweets_and_fingerprints(posts.texts)
    terms = TermExtractor(matcher.definitions).extract(posts.texts)
    k = KeyScheme(settings.redis_prefix)
    out: dict[str, Any] = {}
    seen: set[tuple[str, int]] = set()
    members: dict[str, list[int]] = {}
    for i in range(len(posts)):
        minute = int(posts.created_s[i]) // 60 * 60
        hour, day = minute // 3600 * 3600, minute // 86400 * 86400
        label = int(labels[i])
        fp = int(fps[i])
        for b in (*brands[i], ALL_BRANDS):
            if fp:
                out.setdefault(k.fingerprints(b, hour), set()).add(member(fp).encode())
            if b not in RESERVED_BRANDS and label != 1:
                cls = ("neg", "", "pos")[label]
                members.setdefault(k.terms(b, cls, "h", hour), []).append(i)
                if not retweet[i]:
                    out.setdefault(k.examples(b, cls, hour), Counter())[posts.ids[i]] += 1
            if posts.docs[i].get("author"):
                for res, start in (("m", minute), ("h", hour), ("d", day)):
                    out.setdefault(k.authors(b, res, start), set()).add(posts.docs[i]["author"])
            copy = fp != 0 and (b, fp) in seen
            seen.add((b, fp))
            if retweet[i] or copy:
                for key in (k.bucket(b, "m", minute), k.bucket(b, "h", hour),
                            k.bucket(b, "d", day), k.total(b)):
                    fields = out.setdefault(key, Counter())
                    fields["reposts"] += 1
                    fields[("rp_neg", "rp_neu", "rp_pos")[label]] += 1
                    fields["rp_isum_e6"] += int(ie6[i])
    for key, idx in members.items():
        brand = key.split(":b:", 1)[1].split("}", 1)[0]
        out[key] = terms.counts(idx, brand)
    return out


def read(client: redis.Redis, key: str, like: Any) -> Any:
    if key.split(":")[-3] == "fp":
        return client.smembers(key)
    if ":ex:" in key:
        return Counter(json.loads(m)["id"] for m in client.lrange(key, 0, -1))
    if ":terms:" in key:
        pairs: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
        return {m.decode(): int(s) for m, s in pairs}
    if ":authors:" in key:
        return client.pfcount(key)
    got = client.hgetall(key)
    return Counter({f: int(got[f.encode()]) for f in like if f.encode() in got})


def test_driver_keys_are_exact_after_a_kill_and_restart(isolated: Settings, tmp_path: Path,
                                                        children: list[Child]) -> None:
    settings = isolated.replace(driver_terms_hour=100_000, driver_examples=100_000)
    values = make_values(20_000, seed=15)
    produce(settings, values)
    port = settings.worker_web_port + 160
    children.append(start_worker(settings, tmp_path, port))
    wait_until(lambda: applied_count(settings) >= 2_000, 180, "a part applied", children)
    children[0].kill()
    assert applied_count(settings) < len(values), "the kill came too late to test anything"
    children.append(start_worker(settings, tmp_path, port + 1))
    wait_until(lambda: applied_count(settings) >= len(values), 240, "all applied", children[1:])
    time.sleep(1.0)
    assert children[1].metric("sentistream_redelivered_groups_total") > 0

    expected = truth(settings, values)
    client = redis.Redis.from_url(settings.redis_url)
    scratch = KeyScheme(settings.redis_prefix).brand_tag("scratch") + ":hll"
    wrong = {}
    for key, want in expected.items():
        if ":authors:" in key:  # the same set of authors gives the same HyperLogLog
            client.delete(scratch)
            client.pfadd(scratch, *want)
            want = client.pfcount(scratch)
        got = read(client, key, want)
        if got != want:
            wrong[key] = (got, want)
    assert not wrong, f"{len(wrong)} of {len(expected)} keys differ, e.g. {list(wrong.items())[:2]}"
    kinds = Counter(key.split("}:", 1)[1].split(":")[0] for key in expected)
    assert min(kinds[x] for x in ("authors", "terms", "ex", "fp", "m", "h", "d", "total")) > 0
    # Term sets per hour only: a day's terms are read as the sum of its hours (why.py).
    day_sets = list(client.scan_iter(match=f"{{{settings.redis_prefix}:b:*:terms:*:d:*"))
    assert day_sets == []
