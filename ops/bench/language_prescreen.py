"""The English pre-screen (``model.languages.plainly_english``): what it changes and saves.

Usage: .venv/bin/python -m ops.bench.language_prescreen [--rounds 8] [--out FILE.md]

For TweetEval test (English), each UMSAB test language and the 55 posts in 16 other languages
(tests/model/fixtures/other_languages.csv): the share of posts the pre-screen calls English
(CLD2 not asked), and every post whose language differs from the detector without it (CLD2,
then py3langid): the routing changes. Then detection time per post with and without it
(``LanguageDetector.detect`` on batches of 2,048 distinct texts, this thread's CPU clock,
alternating rounds, best and median), on TweetEval and on the UMSAB mix.
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import statistics
import time
from pathlib import Path

from model.data import UMSAB, shared_data_dir, tweeteval
from model.languages import MAX_DETECT_CHARS, LanguageDetector, plainly_english
from ops.bench.machine import cpu_model

ROOT = Path(__file__).resolve().parents[2]
OTHER = ROOT / "tests" / "model" / "fixtures" / "other_languages.csv"
BATCH = 2048


def _texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def inputs() -> dict[str, list[str]]:
    root = shared_data_dir() / "umsab-multilingual"
    out = {"tweeteval": _texts(tweeteval("test"))}
    out.update({code: _texts(root / folder / "test.csv") for code, folder in UMSAB.items()})
    out["other (16 languages)"] = _texts(OTHER)
    return out


def detect_all(detector: LanguageDetector, texts: list[str]) -> list[str]:
    return [c for i in range(0, len(texts), BATCH) for c in detector.detect(texts[i:i + BATCH])]


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    data = inputs()
    focus = tuple(UMSAB)
    with_it, without = LanguageDetector(focus), LanguageDetector(focus, prescreen=False)
    with_it.load()
    without.load()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# English pre-screen before CLD2 ({date})", "",
             f"{cpu_model()} ({os.cpu_count()} vCPUs, load average "
             f"{os.getloadavg()[0]:.1f} at start), `python -m ops.bench.language_prescreen "
             f"--rounds {args.rounds}`.", "",
             "| input | posts | called English by the pre-screen | language changed | changes |",
             "|---|---|---|---|---|"]
    for name, texts in data.items():
        passed = sum(plainly_english(t[:MAX_DETECT_CHARS]) for t in texts)
        new, old = detect_all(with_it, texts), detect_all(without, texts)
        changed = collections.Counter(f"{o} -> {n}" for n, o in zip(new, old, strict=True)
                                      if n != o)
        changes = ", ".join(f"{k}: {v}" for k, v in changed.most_common())
        lines.append(f"| {name} | {len(texts):,} | {passed / len(texts):.1%} | "
                     f"{sum(changed.values())} | {changes} |")
    mix = [t for code in UMSAB for t in data[code]]
    lines += ["", "Detection, us of CPU per post (best / median of the rounds):", "",
              "| input | without pre-screen | with | saved |", "|---|---|---|---|"]
    for name, texts in (("tweeteval", data["tweeteval"]), ("UMSAB, 8 languages", mix)):
        spent: dict[str, list[float]] = {"without": [], "with": []}
        batches = [texts[i:i + BATCH] for i in range(0, len(texts), BATCH)]
        for r in range(args.rounds + 1):
            sides = (("without", without), ("with", with_it))
            for side, detector in sides if r % 2 == 0 else sides[::-1]:
                t0 = time.thread_time()
                for batch in batches:
                    detector.detect(batch)
                if r:  # the first round warms up
                    spent[side].append((time.thread_time() - t0) * 1e6 / len(texts))
        best = {k: min(v) for k, v in spent.items()}
        med = {k: statistics.median(v) for k, v in spent.items()}
        lines.append(f"| {name} | {best['without']:.2f} / {med['without']:.2f} | "
                     f"{best['with']:.2f} / {med['with']:.2f} | "
                     f"{best['without'] - best['with']:.2f} / "
                     f"{med['without'] - med['with']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
