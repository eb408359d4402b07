"""The pre-screen (``model.languages.plain_language``): what it changes and saves.

Usage: .venv/bin/python -m ops.bench.language_prescreen [--rounds 8] [--train] [--against TREE]
       [--out FILE.md]

For TweetEval test (English), each UMSAB test language and the 55 posts in 16 other languages
(tests/model/fixtures/other_languages.csv), and with ``--train`` each UMSAB train language
(the texts the pre-screen's word lists were checked on): the share of posts the pre-screen
names, by language (CLD2 not asked), and every post whose language differs from the detector
without it (CLD2, then py3langid): the routing changes. Then detection time per post with and
without it (``LanguageDetector.detect`` on batches of 2,048 distinct texts, this thread's CPU clock,
alternating rounds, best and median), on TweetEval and on the UMSAB mix. ``--against TREE``
also loads TREE's ``model/languages.py`` (another checkout: the tree before a change) and
compares with its detector (its pre-screen on): the changes, and its time in the same rounds.
"""

from __future__ import annotations

import argparse
import collections
import csv
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

from model.data import UMSAB, shared_data_dir, tweeteval
from model.languages import MAX_DETECT_CHARS, LanguageDetector, plain_language
from ops.bench.machine import cpu_model

ROOT = Path(__file__).resolve().parents[2]
OTHER = ROOT / "tests" / "model" / "fixtures" / "other_languages.csv"
BATCH = 2048


def _texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def inputs(train: bool = False) -> dict[str, list[str]]:
    root = shared_data_dir() / "umsab-multilingual"
    out = {"tweeteval": _texts(tweeteval("test"))}
    out.update({code: _texts(root / folder / "test.csv") for code, folder in UMSAB.items()})
    if train:
        out.update({f"{code} (train)": _texts(root / folder / "train.csv")
                    for code, folder in UMSAB.items()})
    out["other (16 languages)"] = _texts(OTHER)
    return out


def detect_all(detector: LanguageDetector, texts: list[str]) -> list[str]:
    return [c for i in range(0, len(texts), BATCH) for c in detector.detect(texts[i:i + BATCH])]


def detector_of(tree: Path, focus: tuple[str, ...]) -> LanguageDetector:
    """``LanguageDetector(focus)`` from another checkout's ``model/languages.py``."""
    spec = importlib.util.spec_from_file_location("languages_against",
                                                  tree / "model" / "languages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    detector: LanguageDetector = module.LanguageDetector(focus)
    return detector


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--train", action="store_true")
    p.add_argument("--against", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    data = inputs(args.train)
    focus = tuple(UMSAB)
    with_it, without = LanguageDetector(focus), LanguageDetector(focus, prescreen=False)
    sides = {"without pre-screen": without, "with": with_it}
    if args.against:
        sides = {"without pre-screen": without, "against": detector_of(args.against, focus),
                 "with": with_it}
    for detector in sides.values():
        detector.load()
    base = sides.get("against", without)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# The pre-screen before CLD2 ({date})", "",
             f"{cpu_model()} ({os.cpu_count()} vCPUs, load average "
             f"{os.getloadavg()[0]:.1f} at start), `python -m ops.bench.language_prescreen "
             f"--rounds {args.rounds}{' --train' if args.train else ''}"
             f"{f' --against {args.against}' if args.against else ''}`. Changes: against "
             f"{'that tree' if args.against else 'no pre-screen'}.", "",
             "| input | posts | named by the pre-screen | language changed | changes |",
             "|---|---|---|---|---|"]
    for name, texts in data.items():
        named = collections.Counter(plain_language(t[:MAX_DETECT_CHARS]) for t in texts)
        named.pop(None, None)
        passed = ", ".join(f"{k} {v / len(texts):.1%}" for k, v in named.most_common())
        new, old = detect_all(with_it, texts), detect_all(base, texts)
        changed = collections.Counter(f"{o} -> {n}" for n, o in zip(new, old, strict=True)
                                      if n != o)
        changes = ", ".join(f"{k}: {v}" for k, v in changed.most_common())
        lines.append(f"| {name} | {len(texts):,} | {passed or '-'} | "
                     f"{sum(changed.values())} | {changes} |")
    mix = [t for code in UMSAB for t in data[code]]
    names = list(sides)
    lines += ["", "Detection, us of CPU per post (best / median of the rounds):", "",
              "| input | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name, texts in (("tweeteval", data["tweeteval"]), ("UMSAB, 8 languages", mix)):
        spent: dict[str, list[float]] = {side: [] for side in names}
        batches = [texts[i:i + BATCH] for i in range(0, len(texts), BATCH)]
        for r in range(args.rounds + 1):
            for side in names if r % 2 == 0 else names[::-1]:
                detector = sides[side]
                t0 = time.thread_time()
                for batch in batches:
                    detector.detect(batch)
                if r:  # the first round warms up
                    spent[side].append((time.thread_time() - t0) * 1e6 / len(texts))
        lines.append(f"| {name} | " + " | ".join(
            f"{min(spent[side]):.2f} / {statistics.median(spent[side]):.2f}"
            for side in names) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
