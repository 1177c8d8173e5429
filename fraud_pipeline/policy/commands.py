"""`fraud-pipeline policy ...`: validate, push, diff and calibrate the detection policy."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from fraud_pipeline.cli_options import echo_json, settings_options
from fraud_pipeline.policy.loader import Policy, PolicyError, load_policy
from fraud_pipeline.policy.source import (
    FolderPolicySource,
    ObjectStorePolicySource,
    PolicySourceError,
    default_policy_dir,
)
from fraud_pipeline.settings import Settings

DIR = click.Path(path_type=Path, file_okay=False)


def _load_folder(folder: Path) -> Policy:
    try:
        return load_policy(FolderPolicySource(folder).read())
    except PolicySourceError as exc:
        raise click.ClickException(str(exc)) from exc
    except PolicyError as exc:
        click.echo(str(exc), err=True)
        raise click.exceptions.Exit(1) from exc


@click.group()
def policy() -> None:
    """The detection policy (policy/*.yaml): thresholds, rules, lists, windows."""


@policy.command()
@click.argument("folder", type=DIR, required=False)
def validate(folder: Path | None) -> None:
    """Check a policy folder (default: the project's policy/); exit 1 listing every problem."""
    folder = folder or default_policy_dir()
    loaded = _load_folder(folder)
    spec = loaded.spec
    echo_json(
        {
            "folder": str(folder),
            "version": loaded.version,
            "files": sorted(loaded.files),
            "rules": len(spec.rules),
            "shadow_rules": sorted(r.name for r in spec.rules if r.mode == "shadow"),
            "valid": True,
        }
    )


@policy.command()
@settings_options
@click.argument("folder", type=DIR, required=False)
def push(settings: Settings, folder: Path | None) -> None:
    """Validate a policy folder and write it to the bucket's policy prefix; running scorers
    pick it up within `policy_reload_seconds`. An invalid policy is never pushed."""
    from fraud_pipeline.objects import ObjectStore

    folder = folder or default_policy_dir()
    loaded = _load_folder(folder)
    target = ObjectStorePolicySource(ObjectStore.from_settings(settings), settings.policy_prefix)
    target.write(dict(loaded.files))
    echo_json({"pushed": target.describe(), "version": loaded.version, "files": sorted(loaded.files)})


@policy.command()
@settings_options
@click.argument("old", type=DIR)
@click.argument("new", type=DIR)
@click.option(
    "--capture",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Jetstream capture (JSONL or JSONL.zst) to score under both policies.",
)
@click.option("--limit", type=int, default=None, help="Score at most this many posts.")
def diff(settings: Settings, old: Path, new: Path, capture: Path, limit: int | None) -> None:
    """Print the posts of a capture whose verdict or action differs between two policies
    (one JSON object per line), then a summary line."""
    import itertools

    from fraud_pipeline.policy.diff import capture_posts, diff_policies
    from fraud_pipeline.scoring.handler import MediaScorer
    from fraud_pipeline.serving.clients import open_text_scorer

    old_policy, new_policy = _load_folder(old), _load_folder(new)
    text = open_text_scorer(settings)
    posts = capture_posts(capture)
    if limit is not None:
        posts = itertools.islice(posts, limit)
    result = diff_policies(old_policy, new_policy, posts, text, MediaScorer(text))
    out = sys.stdout.buffer
    for change in result.changed:
        out.write(orjson.dumps(change) + b"\n")
    out.write(orjson.dumps({"summary": result.summary()}) + b"\n")
    out.flush()


@policy.command()
@settings_options
@click.option(
    "--data",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=Path("data/labeled/train.jsonl"),
    show_default=True,
)
@click.option("--folder", type=DIR, default=None, help="Policy folder (default: the project's policy/).")
@click.option("--folds", type=int, default=5, show_default=True)
@click.option(
    "--label-fpr", type=float, default=0.002, show_default=True, help="Benign posts auto-labelled, at most."
)
@click.option(
    "--review-fpr", type=float, default=0.01, show_default=True, help="Benign posts flagged, at most."
)
@click.option("--write", is_flag=True, help="Rewrite the thresholds and calibration in verdict.yaml.")
def calibrate(
    settings: Settings,
    data: Path,
    folder: Path | None,
    folds: int,
    label_fpr: float,
    review_fpr: float,
    write: bool,
) -> None:
    """Choose the label and review points on held-out labelled posts (re-run after retraining)."""
    from fraud_pipeline.policy.calibrate import calibrate as run_calibration
    from fraud_pipeline.policy.calibrate import write_into_verdict_file
    from fraud_pipeline.scoring.text_model import LinearTextModel, default_artifact_path
    from fraud_pipeline.scoring.training import load_labeled

    folder = folder or default_policy_dir()
    loaded = _load_folder(folder)
    version = LinearTextModel.load(default_artifact_path(settings.text_model_path)).version
    result = run_calibration(
        load_labeled(data),
        loaded,
        folds,
        13,
        label_fpr,
        review_fpr,
        version,
        Path(settings.home) / "calibration",
    )
    if write:
        write_into_verdict_file(folder / "verdict.yaml", result)
        _load_folder(folder)  # what was written must still be a valid policy
    echo_json(result)
