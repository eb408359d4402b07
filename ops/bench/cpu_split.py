"""A worker's CPU per post split by what it was doing: py-spy's on-CPU samples of each thread,
scaled to that thread's CPU seconds measured in /proc (``ops.bench.proc_cpu``).

py-spy (``record --threads --format raw`` without ``--idle``) counts a sample for a thread only
while it is running, and names each thread with its OS id; so within one thread the samples'
shares are its CPU's shares, and multiplying them by the thread's measured CPU seconds turns
them into seconds that add up to the worker's own. A sample's part is the first of ``PARTS``
whose markers appear anywhere in its stack: the order puts the inner work first (the model's
``invoke`` under the router, the producer's record encoding under the event loop).
Garbage collection runs inside whatever frame allocated, so py-spy cannot see it; the
collector's CPU is measured apart (``ops.bench.gc_worker``) and taken out of every part in
proportion.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (part, markers in a frame "function (path:line)"); the first part with a match wins.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Faust's consumer thread (mode's ServiceThread): aiokafka's fetches, record decoding,
    # heartbeats and commits, and its own event loop.
    ("Kafka consumer thread (fetch, decode, its event loop)", ("ServiceThread._start_thread (",)),
    ("scoring: LiteRT invoke (releases the GIL)", ("Interpreter.invoke (", "_invoke (")),
    ("scoring: tokenize", ("model/tokenizer.py", "model/token_table.py")),
    ("language detection", ("model/languages.py", "model/langid_batch.py", "py3langid",
                            "pycld2")),
    ("scoring: other (normalize, routing)", ("model/", "stream/worker/scoring.py",
                                             "stream/worker/languages.py")),
    ("drivers", ("stream/drivers/", "stream/worker/driver_deltas.py")),
    ("Redis calls (script args, redis-py)", ("(redis/", "stream/scripts.py",
                                             "stream/worker/sink.py")),
    # py-spy writes site-packages paths from the package down: "(aiokafka/producer/sender.py".
    ("scored/dead-letter produce (records, aiokafka)", (
        "(aiokafka/producer/", "_scored_records (", "_dumps (", "create_app.<locals>.produce (",
        "BatchProcessor._send (")),
    ("Kafka fetch + record decoding (main thread)", (
        "(aiokafka/", "(kafka/", "stream/worker/batch_consumer.py", "(faust/transport/")),
    ("parse + brands", ("stream/worker/posts.py", "stream/worker/brands.py", "validate (")),
    ("aggregate deltas", ("stream/worker/aggregates.py",)),
    ("alert checks", ("stream/worker/alerts/",)),
    ("other worker code (pipeline, write chain, heap, metrics)", ("stream/", "sentistream/")),
)
# Frames every main-thread stack has (the CLI, run_worker): no part of their own.
ENTRY = ("sentistream/cli.py", "sentistream/cli_errors.py", "stream/worker/cli.py",
         "stream/worker/main.py", "gc_worker.py")
EVENT_LOOP = "event loop, Faust, asyncio, threads (no part above)"
GC = "garbage collection (gc callbacks, thread CPU)"
UNSAMPLED = "threads without Python samples (native)"


def part_of(stack: list[str]) -> str:
    """The part one sampled stack (frames outermost first, thread frame excluded) belongs to."""
    frames = [f for f in stack if not any(e in f for e in ENTRY)]
    for part, markers in PARTS:
        if any(m in frame for frame in frames for m in markers):
            return part
    return EVENT_LOOP


def read_samples(raw: Path) -> dict[int, tuple[str, Counter[str]]]:
    """py-spy raw output -> per thread id: (thread name, samples per part)."""
    out: dict[int, tuple[str, Counter[str]]] = {}
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        head = frames[0]  # "thread (12345): MainThread" (py-spy --threads)
        if not head.startswith("thread ("):
            continue
        tid_text, _, name = head[len("thread ("):].partition("): ")
        if not tid_text.isdigit():
            continue
        _, parts = out.setdefault(int(tid_text), (name, Counter()))
        parts[part_of(frames[1:])] += int(count)
    return out


def split(thread_cpu_s: dict[int, float], samples: dict[int, tuple[str, Counter[str]]],
          gc_s: float) -> dict[str, float]:
    """CPU seconds per part: each thread's seconds shared out by its samples, threads without
    samples as UNSAMPLED, then ``gc_s`` taken out of the parts in proportion and shown as GC."""
    out: dict[str, float] = {}
    for tid, seconds in thread_cpu_s.items():
        if seconds <= 0:
            continue
        _, parts = samples.get(tid, ("", Counter()))
        total = sum(parts.values())
        if not total:
            out[UNSAMPLED] = out.get(UNSAMPLED, 0.0) + seconds
            continue
        for part, n in parts.items():
            out[part] = out.get(part, 0.0) + seconds * n / total
    whole = sum(out.values())
    gc_s = min(max(gc_s, 0.0), whole)
    scale = (whole - gc_s) / whole if whole else 0.0
    result = {part: s * scale for part, s in out.items()}
    if gc_s:
        result[GC] = gc_s
    return result


def total_samples(samples: dict[int, tuple[str, Counter[str]]]) -> int:
    return sum(sum(parts.values()) for _, parts in samples.values())
