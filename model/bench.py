"""Benchmark of the shipped model: quality on TweetEval test and speed on ONE core.

Usage: .venv/bin/python -m model.bench [--model FILE] [--data CSV] [--seconds S] [--cpu N] [--json]

The process is pinned to one CPU and the interpreter uses one thread. Speeds include
tokenization. "cold" is the first pass over the data, when every distinct token is new to the
tokenizer's cache; "warm" is the steady state of a long-running stream (tokens seen before).
Wall-clock figures drop when other processes share the core; the posts_per_cpu_s figures count
this process's own CPU time and do not. "routed" is what a stream runs: ``score_posts``, i.e.
language identification, then the model on the supported posts; on TweetEval test (English)
and on the 8 x 870 posts of UMSAB test (8 languages, shuffled). "companion" is the model of the
non-English languages alone (``score_as``, no language ID), batches of one language at a time
over UMSAB test of the languages it serves.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from model.data import UMSAB, load_csv, load_csvs, tweeteval, umsab
from model.metrics import scores
from model.scorer import SentimentScorer
from model.throughput import posts_per_second
from model.tokenizer import Tokenizer


def run(model: Path | None, data_csv: Path, seconds: float, cpu: int | None = None
        ) -> dict[str, Any]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0] if cpu is None else cpu})
    data = load_csv(data_csv)
    scorer = SentimentScorer(model, num_threads=1)
    started = time.perf_counter()
    labels = np.concatenate([scorer.score(data.texts[i : i + 256]).labels
                             for i in range(0, len(data), 256)])
    cold = len(data) / (time.perf_counter() - started)
    fresh = Tokenizer.load(scorer.model_path.parent)
    started = time.perf_counter()
    for i in range(0, len(data), 256):
        fresh.encode(data.texts[i : i + 256])
    tokenizer_cold = len(data) / (time.perf_counter() - started)
    return {
        "model": str(scorer.model_path), "version": scorer.version, "data": str(data_csv),
        "n": len(data), **scores(data.labels, labels),
        "size_bytes": scorer.model_path.stat().st_size,
        "cpu": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "posts_per_s_b256_cold": round(cold),
        "posts_per_s_b256": round(posts_per_second(scorer.score, data.texts, 256, seconds)),
        "posts_per_s_b1": round(posts_per_second(scorer.score, data.texts, 1, seconds)),
        "tokenizer_posts_per_s_b256_cold": round(tokenizer_cold),
        "tokenizer_posts_per_s_b256": round(
            posts_per_second(fresh.encode, data.texts, 256, seconds)),
        # Per CPU-second of this single-threaded process: robust to other load on the machine.
        "posts_per_cpu_s_b256": round(posts_per_second(scorer.score, data.texts, 256, seconds,
                                                       clock=time.process_time)),
        "posts_per_cpu_s_b1": round(posts_per_second(scorer.score, data.texts, 1, seconds,
                                                     clock=time.process_time)),
        **_routed(scorer, data.texts, seconds),
    }


def _routed(scorer: SentimentScorer, english: list[str], seconds: float) -> dict[str, Any]:
    """Posts per CPU-second of score_posts (language ID + model), English and mixed."""
    mixed = load_csvs([umsab(code, "test") for code in UMSAB])[0].texts
    mixed = [mixed[i] for i in np.random.default_rng(0).permutation(len(mixed))]
    detect = scorer.router.detector.detect
    return {
        **_companion(scorer, seconds),
        "routed_posts_per_cpu_s_b256_english": round(posts_per_second(
            scorer.score_posts, english, 256, seconds, clock=time.process_time)),
        "routed_posts_per_cpu_s_b256_umsab_mix": round(posts_per_second(
            scorer.score_posts, mixed, 256, seconds, clock=time.process_time)),
        "langid_posts_per_cpu_s_b256_umsab_mix": round(posts_per_second(
            detect, mixed, 256, seconds, clock=time.process_time)),
    }


def _companion(scorer: SentimentScorer, seconds: float) -> dict[str, Any]:
    """Posts per CPU-second of the model serving the non-English languages, tokenization
    included, each language's test posts in turn (the languages the main model does not list)."""
    served = [code for code in UMSAB if code in scorer.model_languages and code != "en"]
    if not served:
        return {}
    posts = {code: load_csv(umsab(code, "test")).texts for code in served}
    done, elapsed = 0, 0.0
    for code in served:
        rate = posts_per_second(partial(scorer.score_as, language=code),
                                posts[code], 256, seconds / len(served),
                                clock=time.process_time)
        done, elapsed = done + len(posts[code]), elapsed + len(posts[code]) / rate
    return {"companion_posts_per_cpu_s_b256_umsab_7": round(done / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to [the first]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.model, args.data or tweeteval("test"), args.seconds, args.cpu)
    print(json.dumps(result) if args.json else
          "\n".join(f"{k:<32} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
