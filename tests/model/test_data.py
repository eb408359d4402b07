"""The training recipe: which CSVs train, with which weights, and which decide early stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

import model.data as data
from model.errors import DataError


@pytest.fixture()
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for ../shared/data with one-row CSVs of TweetEval and two UMSAB languages."""
    for split in ("train", "val", "test"):
        folder = tmp_path / "tweeteval-sentiment"
        folder.mkdir(exist_ok=True)
        (folder / f"{split}.csv").write_text("text,label\ngood,positive\n", encoding="utf-8")
        for name in ("german", "spanish"):
            folder = tmp_path / "umsab-multilingual" / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{split}.csv").write_text("text,label\ngut,positive\n", encoding="utf-8")
    monkeypatch.setattr(data, "shared_data_dir", lambda: tmp_path)
    return tmp_path


def test_recipe_trains_on_train_and_stops_on_every_val(shared: Path) -> None:
    train, weights, val = data.training_recipe(["es", "en", "de"], 3.0)
    assert [p.relative_to(shared).as_posix() for p in train] == [
        "tweeteval-sentiment/train.csv", "umsab-multilingual/german/train.csv",
        "umsab-multilingual/spanish/train.csv"]
    assert weights == (1.0, 3.0, 3.0)
    assert [p.parent.name + "/" + p.name for p in val] == [
        "tweeteval-sentiment/val.csv", "german/val.csv", "spanish/val.csv"]


def test_fold_val_trains_on_umsab_val_and_stops_on_tweeteval_val_only(shared: Path) -> None:
    train, weights, val = data.training_recipe(["de", "en", "es"], 3.0, fold_val=True)
    assert [p.parent.name + "/" + p.name for p in train] == [
        "tweeteval-sentiment/train.csv", "german/train.csv", "spanish/train.csv",
        "german/val.csv", "spanish/val.csv"]
    assert weights == (1.0, 3.0, 3.0, 3.0, 3.0)  # one weight per CSV, UMSAB val like its train
    assert val == [shared / "tweeteval-sentiment" / "val.csv"]  # nothing trained on decides
    assert not set(train) & set(val)
    assert not any(p.name == "test.csv" for p in train + val)


def test_fold_val_keeps_the_val_split_of_the_languages_asked_out_of_training(
        shared: Path) -> None:
    train, weights, val = data.training_recipe(["de", "en", "es"], 8.0, fold_val=True,
                                               keep_val=["de"])
    assert [p.parent.name + "/" + p.name for p in train] == [
        "tweeteval-sentiment/train.csv", "german/train.csv", "spanish/train.csv",
        "spanish/val.csv"]
    assert weights == (1.0, 8.0, 8.0, 8.0)
    assert val == [shared / "tweeteval-sentiment" / "val.csv"]


def test_fold_val_without_english_says_what_to_add(shared: Path) -> None:
    with pytest.raises(DataError, match="add en"):
        data.training_recipe(["de", "es"], 1.0, fold_val=True)
