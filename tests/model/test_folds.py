"""k-fold members (`sentistream model train --folds K`): which rows each member holds out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from model.cli import model_group
from model.train import TrainConfig, fold_ids


def test_each_folded_row_is_held_out_by_exactly_one_fold_stratified_per_source() -> None:
    sizes = [5, 10, 7]
    fold = fold_ids(sizes, TrainConfig(folds=3, fold_sources=(1, 2)), sum(sizes) + 4)
    assert (fold[:5] == -1).all()  # TweetEval's rows: every member trains on them
    assert (fold[22:] == -1).all()  # rows past the CSVs (--extra) are never held out
    for start, size in ((5, 10), (15, 7)):
        counts = np.bincount(fold[start:start + size], minlength=3)
        assert counts.sum() == size and counts.max() - counts.min() <= 1  # per source


def test_folds_are_seeded_and_differ_between_seeds() -> None:
    sizes = [0, 200]
    first = fold_ids(sizes, TrainConfig(folds=4, fold_sources=(1,)), 200)
    again = fold_ids(sizes, TrainConfig(folds=4, fold_sources=(1,)), 200)
    other = fold_ids(sizes, TrainConfig(folds=4, fold_sources=(1,), seed=7), 200)
    assert (first == again).all() and not (first == other).all()


def test_no_folds_holds_nothing_out_and_bad_folds_are_refused() -> None:
    assert (fold_ids([3, 4], TrainConfig(), 7) == -1).all()
    with pytest.raises(ValueError, match="folds >= 2"):
        fold_ids([3, 4], TrainConfig(folds=1, fold_sources=(1,)), 7)
    with pytest.raises(ValueError, match="source"):
        fold_ids([3, 4], TrainConfig(folds=2), 7)


def test_train_cli_refuses_one_fold_or_folds_with_explicit_csvs(tmp_path: Path) -> None:
    one = CliRunner().invoke(model_group, ["train", "--folds", "1"])
    assert one.exit_code == 2 and "--folds" in one.output
    csv = tmp_path / "rows.csv"
    csv.write_text("text,label\ngood,positive\n", encoding="utf-8")
    explicit = CliRunner().invoke(model_group, ["train", "--folds", "4", "--train", str(csv)])
    assert explicit.exit_code == 2 and "--languages recipe" in explicit.output
