"""The scorer's contract and its clear, typed errors for bad model files and bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.errors import EmptyInputError, ModelError, ModelFileError
from model.scorer import SHIPPED_MODEL, ScoreBatch, SentimentScorer
from model.tokenizer import TOKENIZER_FILE


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    return SentimentScorer()


def test_the_batch_api(scorer: SentimentScorer) -> None:
    batch = scorer.score(["I love it", "I hate it", "it is Tuesday"])
    assert isinstance(batch, ScoreBatch) and len(batch) == 3
    assert batch.labels.dtype == np.int64 and batch.labels.shape == (3,)
    assert batch.probs.dtype == np.float32 and batch.probs.shape == (3, 3)
    assert batch.intensity.dtype == np.float32 and batch.intensity.shape == (3,)
    np.testing.assert_allclose(batch.probs.sum(axis=1), 1.0, atol=1e-3)
    assert np.all(np.abs(batch.intensity) <= 1.0)
    np.testing.assert_array_equal(batch.labels, batch.probs.argmax(axis=1))
    assert ScoreBatch.LABELS == ("negative", "neutral", "positive")
    assert scorer.version


def test_batch_sizes_reuse_one_interpreter_and_agree(scorer: SentimentScorer) -> None:
    texts = [f"post number {i} is {'great' if i % 2 else 'awful'}" for i in range(600)]
    whole = scorer.score(texts)  # 600 > one chunk: runs in chunks of 256
    for size in (1, 3, 17, 256):
        part = scorer.score(texts[:size])
        np.testing.assert_allclose(part.probs, whole.probs[:size], atol=1e-5)


def test_empty_input_is_a_typed_error(scorer: SentimentScorer) -> None:
    with pytest.raises(EmptyInputError, match="at least one text"):
        scorer.score([])
    with pytest.raises(TypeError):
        scorer.score("a single string")


def test_threads_are_configurable() -> None:
    assert SentimentScorer(num_threads=2).score(["fine"]).labels.shape == (1,)
    with pytest.raises(ValueError, match="num_threads"):
        SentimentScorer(num_threads=0)


def _copy_shipped(tmp_path: Path) -> Path:
    for path in SHIPPED_MODEL.parent.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    return tmp_path / SHIPPED_MODEL.name


def test_missing_model_file_names_the_file(tmp_path: Path) -> None:
    shutil.copy(SHIPPED_MODEL.parent / TOKENIZER_FILE, tmp_path / TOKENIZER_FILE)
    missing = tmp_path / "nope.tflite"
    with pytest.raises(ModelFileError, match=re.escape(str(missing))):
        SentimentScorer(missing)


def test_corrupt_model_file_names_the_file(tmp_path: Path) -> None:
    model = _copy_shipped(tmp_path)
    model.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelFileError, match=f"{re.escape(str(model))}.*not a valid LiteRT model"):
        SentimentScorer(model)


def test_truncated_model_file_is_a_model_error(tmp_path: Path) -> None:
    model = _copy_shipped(tmp_path)
    model.write_bytes(SHIPPED_MODEL.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match=re.escape(str(model))):
        SentimentScorer(model)


def test_model_and_tokenizer_that_do_not_fit_are_incompatible(tmp_path: Path) -> None:
    model = _copy_shipped(tmp_path)
    tok_path = tmp_path / TOKENIZER_FILE
    payload = json.loads(tok_path.read_text(encoding="utf-8"))
    payload["config"]["max_features"] += 1
    tok_path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ModelFileError, match=f"{re.escape(str(model))}.*does not fit"):
        SentimentScorer(model)


def test_missing_tokenizer_beside_the_model(tmp_path: Path) -> None:
    model = _copy_shipped(tmp_path)
    (tmp_path / TOKENIZER_FILE).unlink()
    with pytest.raises(ModelFileError, match=re.escape(TOKENIZER_FILE)):
        SentimentScorer(model)


def test_all_model_errors_share_one_root() -> None:
    assert issubclass(ModelFileError, ModelError) and issubclass(EmptyInputError, ModelError)
