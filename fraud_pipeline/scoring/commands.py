"""`fraud-pipeline model ...`: train, evaluate, predict, package, info.

`evaluate --json` and `predict` are used by people and by later checks: their output
shapes are a contract (see docs/model.md). Both default to the model the pipeline uses
(`FRAUD_PIPELINE_TEXT_MODEL_PATH`, else the bundled artifact); `--model PATH` picks another.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from fraud_pipeline.cli_options import settings_options
from fraud_pipeline.scoring.text_model import ArtifactError, LinearTextModel, default_artifact_path
from fraud_pipeline.settings import Settings

DEFAULT_TRAINING_DATA = Path("data/labeled/train.jsonl")
MODEL_OPTION = click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Artifact to use (default: the pipeline's model).",
)


def _load_model(settings: Settings, model_path: Path | None) -> LinearTextModel:
    path = model_path or default_artifact_path(settings.text_model_path)
    try:
        return LinearTextModel.load(path)
    except ArtifactError as exc:
        raise click.ClickException(str(exc)) from exc


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=1, sort_keys=False))


@click.group()
def model() -> None:
    """Train, evaluate, run and package the text fraud model."""


@model.command()
@settings_options
@click.option(
    "--data", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=DEFAULT_TRAINING_DATA
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Artifact path to write."
)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option(
    "--c", "c_value", type=float, default=None, help="Inverse L2 strength (default: the tuned value)."
)
@click.option(
    "--neighbours",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="k of the opt-in nearest-neighbour component (0: linear model only; see docs/model.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def train(
    settings: Settings,
    data: Path,
    out: Path | None,
    seed: int,
    c_value: float | None,
    neighbours: int,
    as_json: bool,
) -> None:
    """Train on labeled JSONL (seeded), calibrate and pick the threshold out-of-fold, write the artifact."""
    import time

    from fraud_pipeline.progress import live_line
    from fraud_pipeline.scoring.training import LabeledDataError, TrainParams, load_labeled
    from fraud_pipeline.scoring.training import train as run_training

    try:
        labeled = load_labeled(data)
    except LabeledDataError as exc:
        raise click.ClickException(str(exc)) from exc
    params = TrainParams(seed=seed, neighbours_k=neighbours)
    if c_value is not None:
        params = dataclasses.replace(params, C=c_value)
    started = time.monotonic()
    with live_line(
        lambda: f"training on {data.name} ({time.monotonic() - started:.0f} s)", enabled=not as_json
    ):
        trained = run_training(labeled, params)
    path = trained.save(out or settings.models_path / f"{trained.version}.json")
    summary = {
        "version": trained.version,
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "threshold": trained.threshold,
        "validation_metrics": trained.metadata["validation_metrics"],
        "training_data_sha256": labeled.sha256,
    }
    if as_json:
        _print_json(summary)
    else:
        metrics = trained.metadata["validation_metrics"]
        shown = ", ".join(
            f"{k} {v:.3f}" for k, v in metrics.items() if k in ("precision", "recall", "f1") and v is not None
        )
        click.echo(
            f"trained {trained.version} in {time.monotonic() - started:.0f} s"
            f"{f' (validation {shown})' if shown else ''}: {path}"
        )
    click.echo(f"use it with FRAUD_PIPELINE_TEXT_MODEL_PATH={path}", err=True)


@model.command()
@settings_options
@click.option("--data", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@MODEL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--threshold", type=float, default=None, help="Override the artifact's threshold.")
@click.option("--cv", is_flag=True, help="Cross-validate the training procedure on --data instead.")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option("--baseline/--no-baseline", default=True, help="With --cv: the TF-IDF baseline beside it.")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option(
    "--rewrites",
    is_flag=True,
    help="Also recall on the scam rows rewritten as scammers do (lookalikes, invisible, "
    "full-width, spaced, leet), seeded by --seed, next to recall on them as written.",
)
def evaluate(
    settings: Settings,
    data: Path,
    model_path: Path | None,
    as_json: bool,
    threshold: float | None,
    cv: bool,
    folds: int,
    baseline: bool,
    seed: int,
    rewrites: bool,
) -> None:
    """Metrics of a model on labeled rows {"text", "label"[, "source"]} (or k-fold CV with --cv)."""
    from fraud_pipeline.scoring.evaluation import (
        cross_validate,
        hashed_procedure,
        reliability_table,
        rewrite_recall,
        tfidf_baseline_procedure,
    )
    from fraud_pipeline.scoring.evaluation import (
        evaluate as run_evaluation,
    )
    from fraud_pipeline.scoring.rewrites import REWRITES
    from fraud_pipeline.scoring.training import LabeledDataError, TrainParams, load_labeled

    try:
        labeled = load_labeled(data)
    except LabeledDataError as exc:
        raise click.ClickException(str(exc)) from exc
    if cv:
        kinds = REWRITES if rewrites else ()
        report: dict[str, Any] = {
            "data": str(data),
            "data_sha256": labeled.sha256,
            "model": cross_validate(labeled, hashed_procedure(TrainParams(seed=seed)), folds, seed, kinds),
        }
        if baseline:
            report["tfidf_baseline"] = cross_validate(
                labeled, tfidf_baseline_procedure(seed), folds, seed, kinds
            )
        _print_json(report) if as_json else _print_cv(report)
        return
    loaded = _load_model(settings, model_path)
    scores = loaded.probabilities(labeled.texts)
    cut = loaded.threshold if threshold is None else threshold
    report = run_evaluation(labeled.labels, scores, cut, labeled.sources)
    report["model_version"] = loaded.version
    report["reliability"] = reliability_table(labeled.labels, scores)
    if rewrites:
        scams = [text for text, label in zip(labeled.texts, labeled.labels.tolist(), strict=True) if label]
        report["rewrites"] = rewrite_recall(loaded.probabilities, cut, scams, REWRITES, seed)
    if as_json:
        _print_json(report)
        return
    click.echo(f"model {loaded.version} on {data} (n={report['n']}, threshold={cut:.4f})")
    for name, row in [("all", report), *report.get("by_source", {}).items()]:
        click.echo(_metrics_line(name, row))
    _print_reliability(report["reliability"])
    if rewrites:
        _print_rewrites(report["rewrites"])


def _fmt(value: float | None) -> str:
    return "  n/a " if value is None else f"{value:.4f}"


def _metrics_line(name: str, row: dict[str, Any]) -> str:
    return (
        f"  {name:<16} n={row['n']:<6} pr_auc={_fmt(row['pr_auc'])} roc_auc={_fmt(row['roc_auc'])} "
        f"f1={_fmt(row['f1'])} precision={_fmt(row['precision'])} recall={_fmt(row['recall'])}"
    )


def _print_reliability(table: dict[str, Any]) -> None:
    click.echo(f"  reliability (ece={table['ece']:.4f}, brier={table['brier']:.4f}):")
    for row in table["bins"]:
        click.echo(
            f"    {row['bin']:<11} n={row['n']:<6} "
            f"predicted={row['mean_predicted']:.3f} observed={row['observed']:.3f}"
        )


def _print_rewrites(table: dict[str, Any]) -> None:
    click.echo(f"  recall on {table['n']} scam texts, as written and rewritten:")
    for kind, row in table.items():
        if kind != "n":
            click.echo(f"    {kind:<10} recall={_fmt(row['recall'])} drop={_fmt(row['recall_drop'])}")


def _print_cv(report: dict[str, Any]) -> None:
    for name in ("model", "tfidf_baseline"):
        if name in report:
            pooled = report[name]["pooled"]
            click.echo(f"{name}: " + " ".join(f"{k}={v:.4f}" for k, v in pooled.items() if k != "n"))
            _print_reliability(report[name]["reliability"])
            if "rewrites" in report[name]:
                _print_rewrites(report[name]["rewrites"])


@model.command()
@settings_options
@click.option("--in", "in_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), required=True)
@MODEL_OPTION
def predict(settings: Settings, in_path: Path, out_path: Path, model_path: Path | None) -> None:
    """Add `score` and `is_fraud` to every row with a `text` field, keeping input order."""
    loaded = _load_model(settings, model_path)
    rows: list[dict[str, Any]] = []
    with open(in_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"{in_path}:{number}: not JSON ({exc.msg})") from exc
            except RecursionError as exc:
                raise click.ClickException(f"{in_path}:{number}: JSON nested too deeply") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise click.ClickException(f"{in_path}:{number}: needs a string 'text' field")
            rows.append(row)
    scores = loaded.probabilities([row["text"] for row in rows])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as out:
        for row, score in zip(rows, scores, strict=True):
            row["score"] = float(score)
            row["is_fraud"] = bool(score >= loaded.threshold)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    click.echo(f"scored {len(rows)} rows with {loaded.version} -> {out_path}", err=True)


@model.command()
@settings_options
@MODEL_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write model.tar.gz.",
)
@click.option("--upload/--no-upload", default=True, help="Upload to the bucket's models/ prefix.")
def package(settings: Settings, model_path: Path | None, out: Path | None, upload: bool) -> None:
    """Build the SageMaker model.tar.gz (model + code/inference.py + requirements) and upload it."""
    from fraud_pipeline.serving.package import build_tarball
    from fraud_pipeline.serving.package import upload as upload_tarball

    path = model_path or default_artifact_path(settings.text_model_path)
    loaded = _load_model(settings, path)
    result = build_tarball(path, out or settings.models_path / loaded.version / "model.tar.gz")
    if upload:
        result = upload_tarball(result, settings)
    _print_json(
        {
            "version": result.version,
            "path": str(result.path),
            "size_bytes": result.size,
            "key": result.key,
            "uri": result.uri,
        }
    )


@model.command()
@settings_options
@MODEL_OPTION
def info(settings: Settings, model_path: Path | None) -> None:
    """Version, threshold and training metadata of the artifact."""
    loaded = _load_model(settings, model_path)
    _print_json({"version": loaded.version, "threshold": loaded.threshold, "metadata": loaded.metadata})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(model())
