"""`sentistream score` from arguments and stdin, JSON lines, errors; scoring never imports TF."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sentistream.cli import cli


def test_score_arguments_print_label_intensity_and_probs() -> None:
    result = CliRunner().invoke(cli, ["score", "I love this", "I hate this"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("positive") and "neg=" in lines[0] and "I love this" in lines[0]
    assert lines[1].startswith("negative")


def test_score_stdin_one_post_per_line_as_json() -> None:
    posts = "great day\n\nterrible service\nthe shop opens at 9\n"
    result = CliRunner().invoke(cli, ["score", "--json"], input=posts)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["text"] for r in rows] == ["great day", "terrible service", "the shop opens at 9"]
    for row in rows:
        assert row["label"] in ("negative", "neutral", "positive")
        assert -1.0 <= row["intensity"] <= 1.0
        assert abs(sum(row["probs"].values()) - 1.0) < 1e-2
        assert row["model"]


def test_score_with_a_missing_model_fails_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tflite"
    result = CliRunner().invoke(cli, ["score", "--model", str(missing), "hi"])
    assert result.exit_code == 2
    assert str(tmp_path) in result.output and "Traceback" not in result.output


def test_scoring_never_imports_tensorflow() -> None:
    code = ("import sys; from model.scorer import SentimentScorer; "
            "SentimentScorer().score(['ok']); from model import cli; "
            "bad = [m for m in ('tensorflow', 'keras', 'vaderSentiment', 'textblob') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_evaluate_rejects_a_csv_without_labels(tmp_path: Path) -> None:
    data = tmp_path / "posts.csv"
    data.write_text("text\nhello\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["model", "evaluate", "--data", str(data), "--json"])
    assert result.exit_code == 2
    assert "label" in result.output and str(data) in result.output


def test_evaluate_names_an_unknown_label(tmp_path: Path) -> None:
    data = tmp_path / "posts.csv"
    data.write_text("text,label\nhello,happy\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["model", "evaluate", "--data", str(data)])
    assert result.exit_code == 2 and "happy" in result.output and ":2" in result.output


def test_score_shows_languages_and_never_labels_an_unsupported_one() -> None:
    result = CliRunner().invoke(cli, ["score", "--json", "ich liebe dieses Handy",
                                      "この製品は最悪です"])
    assert result.exit_code == 0, result.output
    german, japanese = [json.loads(line) for line in result.output.strip().splitlines()]
    assert german["language"] == "de" and german["label"] == "positive"
    assert japanese == {"text": "この製品は最悪です", "language": "ja",
                        "label": "unsupported_language", "model": german["model"]}


def test_score_languages_and_lang_options() -> None:
    only_en = CliRunner().invoke(cli, ["score", "--languages", "en", "ich liebe dieses Handy"])
    assert only_en.output.startswith("unsupported_language [de]")
    forced = CliRunner().invoke(cli, ["score", "--lang", "ja", "I love it"])
    assert forced.output.startswith("unsupported_language [ja]")
    unknown = CliRunner().invoke(cli, ["score", "--languages", "en,ja", "hi"])
    assert unknown.exit_code == 2 and "cannot score ja" in unknown.output
