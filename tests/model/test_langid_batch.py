"""The batched py3langid walk gives py3langid's own labels (no server, no shared data)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from model.langid_batch import BatchClassifier
from model.languages import strip_noise

FIXTURES = Path(__file__).parent / "fixtures"
EXTRA = ["", " ", "😀😀", "12345", "OK", "ÇA VA TRÈS BIEN MERCI", "a", "x" * 700,
         "Ich liebe dieses Handy", "odio este producto, es una basura", "この製品は最悪です",
         "أنا أحب هذا الهاتف كثيرا", "मुझे यह फोन बहुत पसंद है", "adoro questo telefono",
         "eu amo este telefone", "j'adore ce téléphone", "lone \ud800 surrogate"]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE)


def texts() -> list[str]:
    with (FIXTURES / "other_languages.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    with (FIXTURES / "tiny_test.csv").open(encoding="utf-8", newline="") as handle:
        rows += [row["text"] for row in csv.DictReader(handle)][:200]
    return rows + EXTRA + [strip_noise(t) for t in rows]


def test_labels_equal_py3langid_one_by_one(identifier: LanguageIdentifier) -> None:
    batch = texts()
    assert BatchClassifier(identifier).classify(batch) == [
        identifier.classify(text)[0] for text in batch]


def test_any_batch_order_and_size(identifier: LanguageIdentifier) -> None:
    batch = texts()[:40]
    fast = BatchClassifier(identifier)
    assert fast.classify(batch[::-1]) == fast.classify(batch)[::-1]
    assert [fast.classify([t])[0] for t in batch] == fast.classify(batch)
    assert fast.classify([]) == []
