"""Detection with and without the per-batch dedupe of texts, alternating in one process.

Usage: .venv/bin/python -m ops.bench.language_detect_dedupe [--input umsab|english-detect]
       [--reposts 0.3] [--posts 20480] [--rounds 10]

``LanguageDetector.detect`` (the noise regex, then CLD2 and py3langid on each distinct stripped
text) against the same without the dedupe (the regex, then ``_detect`` on every text: the code
before), on the same batches of 2,048 posts of ``ops.bench.language_throughput`` (with
``--reposts``, that share of each batch retweets of 16 of its posts, as
``ops.bench.language_breakdown``). Prints microseconds of CPU per post (this thread's clock):
best and median of the rounds, and checks that both give the same codes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from model.data import UMSAB
from model.languages import LanguageDetector, _strip_batch
from ops.bench.language_breakdown import with_reposts
from ops.bench.language_throughput import posts as bench_posts
from ops.bench.machine import cpu_model


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--input", choices=("umsab", "english-detect"), default="umsab")
    p.add_argument("--reposts", type=float, default=0.0)
    p.add_argument("--posts", type=int, default=20_480)
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    values = with_reposts(bench_posts(args.input, args.posts), args.reposts, 2048)
    texts = [json.loads(v)["text"] for v in values]
    batches = [texts[i:i + 2048] for i in range(0, len(texts), 2048)]
    detector = LanguageDetector(tuple(UMSAB))

    def without(batch: list[str]) -> list[str]:
        return detector._detect(_strip_batch(batch))

    ways = {"dedupe": detector.detect, "every_text": without}
    assert all(detector.detect(b) == without(b) for b in batches)
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(args.rounds + 1):
        for name in (list(ways) if r % 2 else list(ways)[::-1]):
            t0 = time.thread_time()
            for batch in batches:
                ways[name](batch)
            if r:  # the first round warms up
                spent[name].append((time.thread_time() - t0) * 1e6 / len(texts))
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
        "load_avg_1m": round(os.getloadavg()[0], 2), "input": args.input,
        "reposts": args.reposts, "posts": len(texts),
        "distinct_share": round(sum(len(set(_strip_batch(b))) for b in batches) / len(texts), 3),
        "us_per_post": {name: {"best": round(min(v), 2), "median": round(statistics.median(v), 2)}
                        for name, v in spent.items()}}))


if __name__ == "__main__":
    main()
