"""Labelled CSVs (`text,label`) and where the shared data sets live."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.errors import DataError

LABELS = ("negative", "neutral", "positive")
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
