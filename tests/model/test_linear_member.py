"""Linear members (`--members ...,nblr` / `lr`): NB log-count ratios, folding, int8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.train import nb_ratios, per_source_macro_f1

FIXTURES = Path(__file__).parent / "fixtures"


def test_nb_ratios_count_a_feature_once_per_post_and_favour_its_class() -> None:
    # feature 5 is in negative posts only (twice in the first), 7 in positive ones only,
    # 3 in one negative and one neutral post
    x = np.array([[5, 5, 3, 0], [3, 0, 0, 0], [7, 0, 0, 0], [7, 5, 0, 0]], dtype=np.int32)
    y = np.array([0, 1, 2, 0])
    r = nb_ratios(x, y, np.ones(4, dtype=np.float32), 8)
    assert r.shape == (8, 3) and r.dtype == np.float32
    assert r[5, 0] > 0 > r[5, 2] and r[7, 2] > 0 > r[7, 1]
    # counted once per post: doubling feature 5 inside post 0 changes nothing
    x2 = x.copy()
    x2[0] = [5, 3, 0, 0]
    assert np.allclose(nb_ratios(x2, y, np.ones(4, dtype=np.float32), 8), r)
    # padding (id 0) is no feature; a row weight counts as that many posts
    assert np.allclose(r[0], r[1])
    heavy = nb_ratios(x, y, np.array([1, 1, 3, 1], dtype=np.float32), 8)
    assert heavy[7, 2] > r[7, 2]


def test_per_source_macro_f1_weighs_each_csv_alike() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    right = np.eye(3)[labels]
    wrong = np.eye(3)[(labels + 1) % 3]
    # the first CSV (9 rows) all right, the second (3 rows) all wrong: 50, not 75
    probs = np.concatenate([right[:9], wrong[9:]])
    assert per_source_macro_f1(labels, probs, [9, 3]) == pytest.approx(50.0)


@pytest.mark.train
def test_nblr_member_trains_folds_into_one_table_and_converts_to_int8(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="training needs the `train` extra")
    import keras

    from model.architectures import ArchConfig, build_linear, fold_linear
    from model.data import load_csv
    from model.quantize import quantize
    from model.scorer import SentimentScorer
    from model.tokenizer import Tokenizer, TokenizerConfig
    from model.train import TrainConfig, train

    tiny = TokenizerConfig(word_buckets=256, negated_buckets=256, bigram_buckets=2048,
                           char_buckets=2048, max_features=64, min_count=1)
    config = TrainConfig(arch=ArchConfig(dim=8, members=("nblr",)), tokenizer=tiny,
                         languages=("en", "de"))
    out = tmp_path / "nblr"
    train([FIXTURES / "tiny_train.csv"], [FIXTURES / "tiny_val.csv"], out, config)
    history = json.loads((out / "history.json").read_text(encoding="utf-8"))
    chosen = [e for e in history["epochs"] if "chosen_l2" in e]
    assert len(chosen) == 1 and chosen[0]["val_mean_macro_f1_per_csv"] >= 80.0
    net = keras.models.load_model(out / "model.keras", safe_mode=False)
    # served: one (features, 3) table, the NB ratios folded in
    assert not any(layer.name == "nb_ratio" for layer in net.layers)
    tokenizer = Tokenizer.load(out)
    test = load_csv(FIXTURES / "tiny_test.csv")
    ids = tokenizer.encode(test.texts)
    probs = net.predict(ids, verbose=0)
    assert float(np.mean(probs.argmax(1) == test.labels)) >= 0.8

    # folding keeps the outputs: a random trained-like member with ratios against its fold
    rng = np.random.default_rng(0)
    ratios = rng.normal(size=(tokenizer.num_features, 3)).astype(np.float32)
    unfolded = build_linear(tokenizer.num_features, ids.shape[1], ratios, 1e-5)
    unfolded.get_layer("linear").set_weights(
        [rng.normal(size=(tokenizer.num_features, 3)).astype(np.float32)])
    unfolded.get_layer("class_offset").set_weights([np.array([[0.3, -0.2, 0.1]], np.float32)])
    folded = fold_linear(unfolded, tokenizer.num_features, ids.shape[1], "folded")
    assert np.allclose(unfolded.predict(ids, verbose=0), folded.predict(ids, verbose=0),
                       atol=1e-5)

    written = quantize(out, [FIXTURES / "tiny_train.csv"], variants=("float32", "int8-full"),
                       calibration_rows=64)
    reference = SentimentScorer(written["float32"]).score(test.texts).probs
    int8 = SentimentScorer(written["int8-full"]).score(test.texts).probs
    assert float(np.mean(int8.argmax(1) == reference.argmax(1))) >= 0.95
    assert np.abs(int8 - reference).max() < 0.1


def test_train_cli_refuses_an_unknown_member(tmp_path: Path) -> None:
    pytest.importorskip("click")
    from click.testing import CliRunner

    from model.cli import model_group

    result = CliRunner().invoke(model_group, [
        "train", "--train", str(FIXTURES / "tiny_train.csv"), "--val",
        str(FIXTURES / "tiny_val.csv"), "--out", str(tmp_path / "x"), "--members", "all,svm"])
    assert result.exit_code == 2 and "nblr" in result.output
