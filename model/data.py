"""Labelled CSVs (`text,label`) and where the shared data sets live."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.errors import DataError

LABELS = ("negative", "neutral", "positive")
# The languages of UMSAB (ISO 639-1 -> its folder): the multilingual model's training languages.
UMSAB = {"ar": "arabic", "de": "german", "en": "english", "es": "spanish", "fr": "french",
         "hi": "hindi", "it": "italian", "pt": "portuguese"}
_LABEL_IDS = {name: i for i, name in enumerate(LABELS)} | {"0": 0, "1": 1, "2": 2}


@dataclass(frozen=True)
class Labelled:
    """Texts with their label ids (0=negative, 1=neutral, 2=positive)."""

    texts: list[str]
    labels: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.texts)


def shared_data_dir() -> Path:
    """``<repo>/../shared/data``: the data sets next to the checkout (never copied into it)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def tweeteval(split: str) -> Path:
    path = shared_data_dir() / "tweeteval-sentiment" / f"{split}.csv"
    if not path.exists():
        raise DataError(f"{path} is missing: put the TweetEval sentiment CSVs in "
                        f"{path.parent} or pass --data/--train/--val explicitly")
    return path


def umsab(language: str, split: str) -> Path:
    """UMSAB's CSV of one language (ISO 639-1 code) and split (train, val, test)."""
    if language not in UMSAB:
        raise DataError(f"UMSAB has no language {language!r}; it has {', '.join(UMSAB)}")
    path = shared_data_dir() / "umsab-multilingual" / UMSAB[language] / f"{split}.csv"
    if not path.exists():
        raise DataError(f"{path} is missing: put UMSAB (cardiffnlp/xlm-t data/sentiment) in "
                        f"{path.parents[1]} or pass --train/--val explicitly")
    return path


def recipe(languages: Sequence[str], split: str) -> list[Path]:
    """The CSVs of a training or validation split: TweetEval for English (UMSAB's English is a
    subset of it), UMSAB for every other language."""
    unknown = sorted(set(languages) - set(UMSAB))
    if unknown:
        raise DataError(f"no training data for {', '.join(unknown)}; "
                        f"the languages are {', '.join(UMSAB)}")
    paths = [tweeteval(split)] if "en" in languages else []
    return paths + [umsab(code, split) for code in sorted(set(languages)) if code != "en"]


def training_recipe(languages: Sequence[str], language_weight: float, fold_val: bool = False,
                    keep_val: Sequence[str] = ()
                    ) -> tuple[list[Path], tuple[float, ...], list[Path]]:
    """Training CSVs, their row weights (TweetEval 1.0, each UMSAB CSV ``language_weight``) and
    the validation CSVs for early stopping.

    ``fold_val`` also trains on UMSAB's val split of the non-English languages (324 tweets each,
    +18% data where data is the limit); early stopping then looks at TweetEval val only, so no
    row it trained on decides the epoch, and UMSAB test stays unseen. The languages of
    ``keep_val`` keep their val split out of training (Italian: SENTIPOLC's val looks unlike its
    train, and folding it cost Italian 3.5-4.7 points on the selection split)."""
    codes = sorted(set(languages))
    train = recipe(codes, "train")
    val = recipe(codes, "val")
    if fold_val:
        if "en" not in codes:
            raise DataError("folding UMSAB val into training needs English (TweetEval val) "
                            "for early stopping: add en to the languages")
        train += [umsab(code, "val") for code in codes
                  if code != "en" and code not in keep_val]
        val = [tweeteval("val")]
    english = int("en" in codes)
    return train, (1.0,) * english + (language_weight,) * (len(train) - english), val


def load_csvs(paths: Sequence[Path]) -> tuple[Labelled, list[int]]:
    """Several labelled CSVs as one, and the number of rows each contributed."""
    parts = [load_csv(path) for path in paths]
    texts = [text for part in parts for text in part.texts]
    return Labelled(texts, np.concatenate([p.labels for p in parts])), [len(p) for p in parts]


def load_csv(path: Path) -> Labelled:
    """Read a CSV with a `text` column and a `label` column (names or 0/1/2)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise DataError(f"{path} needs a header with `text` and `label` columns "
                                f"(found {reader.fieldnames})")
            texts, labels = [], []
            for line, row in enumerate(reader, start=2):
                label = _LABEL_IDS.get((row["label"] or "").strip().lower())
                if label is None:
                    raise DataError(f"{path}:{line}: label {row['label']!r} is not one of "
                                    f"{', '.join(LABELS)}")
                texts.append(row["text"] or "")
                labels.append(label)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a UTF-8 CSV: {exc}") from exc
    if not texts:
        raise DataError(f"{path} has no rows")
    return Labelled(texts, np.asarray(labels, dtype=np.int64))
