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


def test_train_cli_passes_keep_val_and_the_training_options_to_train(
        shared: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--keep-val reaches the recipe (Spanish's val stays out of training) and the new training
    options reach TrainConfig; `train` itself is replaced: this checks the wiring only."""
    from click.testing import CliRunner

    import model.train
    from model.cli import model_group

    seen: dict[str, object] = {}

    def fake_train(train_csvs: list[Path], val_csvs: list[Path], out_dir: Path,
                   config: model.train.TrainConfig) -> dict[str, object]:
        seen.update(train=train_csvs, val=val_csvs, config=config)
        return {"best_val_macro_recall": 0.0, "bias_offsets": [], "val_after_offsets": {},
                "seconds": 0.0}

    monkeypatch.setattr(model.train, "train", fake_train)
    result = CliRunner().invoke(model_group, [
        "train", "--languages", "de,en,es", "--fold-val", "--keep-val", "es",
        "--language-weight", "8", "--class-weights-per-source", "--label-smoothing", "0.1",
        "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    names = [p.parent.name + "/" + p.name for p in seen["train"]]  # type: ignore[attr-defined]
    assert names == ["tweeteval-sentiment/train.csv", "german/train.csv", "spanish/train.csv",
                     "german/val.csv"]
    config = seen["config"]
    assert isinstance(config, model.train.TrainConfig)
    assert config.source_weights == (1.0, 8.0, 8.0, 8.0)
    assert config.class_weights_per_source and config.label_smoothing == 0.1
