"""`sentistream score` and `sentistream model train|quantize|evaluate`: thin click commands.

They parse, delegate and print. Model code never reads the environment; the defaults for the
model file and thread count come from sentistream's settings, read here at the CLI edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from sentistream.cli_errors import reported

STDIN_CHUNK = 512


def _defaults() -> tuple[str, int, str]:
    from sentistream.settings import get_settings

    settings = get_settings()
    return settings.model_path, settings.model_threads, settings.languages


def _lines(stream: Any) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in stream:
        text = line.rstrip("\r\n")
        if text.strip():
            chunk.append(text)
        if len(chunk) >= STDIN_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per post.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="A .tflite model (tokenizer.json beside it). [SENTISTREAM_MODEL_PATH]")
@click.option("--threads", type=int, help="LiteRT threads. [SENTISTREAM_MODEL_THREADS]")
@click.option("--lang", "lang", default=None,
              help="The posts' language (ISO 639-1), instead of detecting it.")
@click.option("--languages", default=None,
              help="Languages to score, comma-separated. [SENTISTREAM_LANGUAGES; default: all "
                   "of the model's]")
@reported
def score(texts: Sequence[str], as_json: bool, model_path: str | None, threads: int | None,
          lang: str | None, languages: str | None) -> None:
    """Score TEXTS (or stdin, one post per line): language, label, intensity, probabilities.

    Posts in a language the model does not score are marked unsupported_language."""
    from model.languages import parse_languages
    from model.scorer import ScoreBatch, SentimentScorer

    default_path, default_threads, default_languages = _defaults()
    scorer = SentimentScorer(model_path or default_path or None, threads or default_threads,
                             parse_languages(languages or default_languages))
    batches = [list(texts)] if texts else _lines(click.get_text_stream("stdin"))
    for batch in batches:
        result = scorer.score_posts(batch, [lang] * len(batch) if lang else None)
        names = result.label_names()
        for i, text in enumerate(batch):
            language = result.languages[i]
            if not result.supported[i]:
                click.echo(json.dumps({"text": text, "language": language, "label": names[i],
                                       "model": scorer.version}, ensure_ascii=False)
                           if as_json else f"{names[i]:<8} [{language}]  {text}")
                continue
            p = result.probs[i].tolist()
            if as_json:
                click.echo(json.dumps({
                    "text": text, "language": language, "label": names[i],
                    "intensity": round(float(result.intensity[i]), 4),
                    "probs": {k: round(v, 4) for k, v in zip(ScoreBatch.LABELS, p, strict=True)},
                    "model": scorer.version,
                }, ensure_ascii=False))
            else:
                click.echo(f"{names[i]:<8} {result.intensity[i]:+.3f}  neg={p[0]:.3f} "
                           f"neu={p[1]:.3f} pos={p[2]:.3f}  [{language}] {text}")


@click.group(name="model")
def model_group() -> None:
    """Train, quantize and evaluate the sentiment model (train/quantize need the `train` extra)."""


def _languages(value: str) -> tuple[str, ...]:
    from model.data import UMSAB

    codes = tuple(sorted({c.strip().lower() for c in value.split(",") if c.strip()}))
    unknown = [c for c in codes if c not in UMSAB]
    if not codes or unknown:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}: choose among "
                                 f"{','.join(UMSAB)}")
    return codes


@model_group.command("train")
@click.option("--languages", default="ar,de,en,es,fr,hi,it,pt", show_default=True,
              help="Languages to train for: TweetEval for en, UMSAB for the others.")
@click.option("--language-weight", type=float, default=1.0, show_default=True,
              help="Weight of each UMSAB row beside TweetEval's (English) rows.")
@click.option("--train", "train_csvs", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with text,label (repeatable); replaces the --languages recipe.")
@click.option("--val", "val_csvs", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Validation CSV for early stopping (repeatable). [the recipe's val splits]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/model"), show_default=True)
@click.option("--arch", type=click.Choice(["bag", "simplernn"]), default="bag", show_default=True)
@click.option("--epochs", type=int, default=8, show_default=True)
@click.option("--patience", type=int, default=2, show_default=True,
              help="Epochs without a better validation macro-recall before stopping.")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--dim", type=int, default=16, show_default=True, help="Embedding width.")
@click.option("--members", default="all,no-chars,all", show_default=True,
              help="The ensemble's members, comma-separated: all (every feature), no-chars, or "
                   "a linear one over the same features: nblr (NB-scaled logistic regression) "
                   "or lr.")
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--extra", "extra_csv", default="", help="Extra training CSV, down-weighted.")
@click.option("--fold-val", is_flag=True,
              help="Also train on UMSAB val of the non-English languages; early stopping then "
                   "looks at TweetEval val only (needs en).")
@click.option("--keep-val", default="",
              help="With --fold-val: languages (comma-separated) whose UMSAB val is not folded.")
@click.option("--folds", type=int, default=0, show_default=True,
              help="k-fold members: also train on UMSAB val (as --fold-val); member i holds out "
                   "fold i mod K of the UMSAB rows and stops early on it (with TweetEval val).")
@click.option("--max-vocab", type=int, default=None,
              help="Words in the vocabulary (the rest are hashed). [TokenizerConfig]")
@click.option("--char-buckets", type=int, default=None,
              help="Hash buckets of character n-grams. [TokenizerConfig]")
@click.option("--emoji-ranking", is_flag=True,
              help="Emoji valences from the Emoji Sentiment Ranking (tweets in 13 languages) "
                   "instead of VADER's. [TokenizerConfig]")
@click.option("--class-weights-per-source", is_flag=True,
              help="Balance the classes within each training CSV instead of over the pooled "
                   "rows. [TrainConfig]")
@click.option("--label-smoothing", type=float, default=0.0, show_default=True,
              help="Cross-entropy against (1 - s) * one-hot + s / 3. [TrainConfig]")
@reported
def train_command(languages: str, language_weight: float, train_csvs: tuple[Path, ...],
                  val_csvs: tuple[Path, ...], out_dir: Path, arch: str, epochs: int,
                  patience: int, learning_rate: float, dim: int, members: str, seed: int,
                  extra_csv: str, fold_val: bool, keep_val: str, folds: int, max_vocab: int | None,
                  char_buckets: int | None, emoji_ranking: bool,
                  class_weights_per_source: bool, label_smoothing: float) -> None:
    """Fit the tokenizer and the model; writes tokenizer.json, model.keras, history.json."""
    from dataclasses import replace

    from model.architectures import ArchConfig
    from model.data import training_recipe
    from model.tokenizer import TokenizerConfig
    from model.train import TrainConfig, train

    codes = _languages(languages)
    if folds and (folds < 2 or train_csvs):
        raise click.BadParameter("use 2 or more folds, with the --languages recipe (not --train)",
                                 param_hint="--folds")
    # The recipe's CSVs (../shared/data) only when they are used: --train and --val replace them.
    recipe_train, weights, recipe_val = (
        training_recipe(codes, language_weight, fold_val or bool(folds),
                        _languages(keep_val) if keep_val else ())
        if not (train_csvs and val_csvs) else ([], (), []))
    train_paths = list(train_csvs) or recipe_train
    default = TokenizerConfig()
    tokenizer = replace(default, max_vocab=max_vocab or default.max_vocab,
                        char_buckets=char_buckets or default.char_buckets,
                        emoji_ranking=emoji_ranking)
    kinds = tuple(m.strip() for m in members.split(",") if m.strip())
    if not kinds or set(kinds) - {"all", "no-chars", "nblr", "lr"}:
        raise click.BadParameter(f"{members!r}: list all, no-chars, nblr or lr",
                                 param_hint="--members")
    config = TrainConfig(arch=ArchConfig(name=arch, dim=dim, members=kinds), epochs=epochs,
                         patience=patience, learning_rate=learning_rate, seed=seed,
                         tokenizer=tokenizer, extra_csv=extra_csv, languages=codes,
                         source_weights=() if train_csvs else weights, folds=folds,
                         class_weights_per_source=class_weights_per_source,
                         label_smoothing=label_smoothing,
                         # the UMSAB CSVs: every training CSV after TweetEval's
                         fold_sources=tuple(range(1, len(recipe_train))) if folds else ())
    summary = train(train_paths, list(val_csvs) or recipe_val, out_dir, config)
    click.echo(json.dumps({k: summary[k] for k in ("best_val_macro_recall", "bias_offsets",
                                                   "val_after_offsets", "seconds")}))


@model_group.command("merge")
@click.argument("model_dirs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build/merged"), show_default=True)
@reported
def merge_command(model_dirs: tuple[Path, ...], out_dir: Path) -> None:
    """Average the members of MODEL_DIRS (runs of one recipe, e.g. two seeds) in one model."""
    from model.ensemble import merge

    summary = merge(list(model_dirs), out_dir)
    click.echo(json.dumps({"out": str(out_dir), "members": summary["config"]["arch"]["members"],
                           "seeds": summary["seeds"]}))


@model_group.command("quantize")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("build/model"), show_default=True)
@click.option("--train", "train_csvs", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Representative data for full-integer calibration (repeatable). "
                   "[the training recipe of the model's languages]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the .tflite files go. [the model dir]")
@click.option("--calibration-rows", type=int, default=1000, show_default=True)
@reported
def quantize_command(model_dir: Path, train_csvs: tuple[Path, ...], out_dir: Path | None,
                     calibration_rows: int) -> None:
    """Write float32, float16, int8-dynamic and int8-full .tflite variants."""
    from model.data import recipe
    from model.quantize import quantize, trained_languages

    paths = list(train_csvs) or recipe(trained_languages(model_dir), "train")
    written = quantize(model_dir, paths, out_dir,
                       calibration_rows=calibration_rows)
    for variant, path in written.items():
        click.echo(f"{variant:<13} {path.stat().st_size:>10,d} B  {path}")


@model_group.command("ship")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("build/model"), show_default=True)
@click.option("--variant", type=click.Choice(["float32", "float16", "int8-dynamic", "int8-full"]),
              default="int8-full", show_default=True)
@click.option("--companion", default="",
              help="Ship as a companion model of this name (model/shipped/NAME), which scores "
                   "the languages it was trained for that the main model does not list.")
@reported
def ship_command(model_dir: Path, variant: str, companion: str) -> None:
    """Make VARIANT the packaged model (model/shipped). Shipping does not touch the tests: re-pin
    their golden outputs afterwards with `python tests/model/fixtures/make_golden.py`."""
    from model.quantize import ship
    from model.scorer import SHIPPED_DIR

    if companion and (not companion.isidentifier() or companion.startswith("_")):
        raise click.BadParameter(f"{companion!r}: use a plain name such as 'multilingual'")
    click.echo(str(ship(model_dir, variant, SHIPPED_DIR, companion)))
    click.echo("next: python tests/model/fixtures/make_golden.py (re-pins the golden outputs)")


@model_group.command("evaluate")
@click.option("--data", "data_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled CSV. [../shared/data/tweeteval-sentiment/test.csv]")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Model to score with. [the shipped int8 model]")
@click.option("--variants-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Full report: every variant in this directory, weight errors, baselines.")
@click.option("--report", "report_stem", type=click.Path(dir_okay=False, path_type=Path),
              help="With --variants-dir: write <REPORT>.json and <REPORT>.md.")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="With --variants-dir: also score VADER and TextBlob.")
@click.option("--umsab/--no-umsab", default=None,
              help="Also macro-F1 per language on UMSAB test, beside the published baselines. "
                   "[on unless --data is given]")
@click.option("--umsab-split", type=click.Choice(["test", "val"]), default="test",
              show_default=True, help="UMSAB split to score per language (choose on val).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reported
def evaluate_command(data_csv: Path | None, model_path: Path | None, variants_dir: Path | None,
                     report_stem: Path | None, baselines: bool, umsab: bool | None,
                     umsab_split: str, as_json: bool) -> None:
    """Score a labelled CSV: macro-recall, accuracy, macro-F1, n, posts/s (or the full report);
    and, per language, macro-F1 on UMSAB test."""
    from model.data import tweeteval

    umsab = data_csv is None if umsab is None else umsab
    data_csv = data_csv or tweeteval("test")
    if variants_dir is None:
        from model.evaluate import evaluate_languages, evaluate_model, languages_markdown

        result = evaluate_model(model_path, data_csv)
        languages = evaluate_languages(model_path, split=umsab_split) if umsab else None
        if as_json:
            click.echo(json.dumps({**result, **({"umsab": languages} if languages else {})}))
            return
        click.echo("\n".join(f"{k:<16} {v}" for k, v in result.items()))
        if languages:
            click.echo(f"\nUMSAB {umsab_split}, macro-F1 per language:\n"
                       + languages_markdown(languages))
        return
    from model.evaluate import evaluate_languages, languages_markdown
    from model.report import VARIANT_FILES, full_report, write_report

    report = full_report(variants_dir, data_csv, baselines=baselines)
    int8 = variants_dir / VARIANT_FILES["int8-full"]
    if umsab and int8.exists():
        report["umsab"] = evaluate_languages(int8, split=umsab_split)
        report["markdown"] += (f"\nUMSAB {umsab_split}, macro-F1 per language (int8-full):\n\n"
                               + languages_markdown(report["umsab"]) + "\n")
    if report_stem:
        write_report(report, report_stem)
    if as_json:
        click.echo(json.dumps({k: v for k, v in report.items() if k != "markdown"}))
    else:
        click.echo(report["markdown"])
