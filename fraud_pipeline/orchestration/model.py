"""Model domain: the text model's training, evaluation and packaging as assets.

Training fits the hashed n-gram logistic model on `data/labeled/train.jsonl` (scoring.training)
and saves the artifact under `<home>/models/text/<version>/model.json`; evaluation reports the
held-out validation metrics of that version (and the labeled set by source, marked in-sample)
as metadata, so the UI plots model quality per version; packaging builds the SageMaker
`model.tar.gz` and puts it in the bucket's models prefix (serving.package).
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from fraud_pipeline.bundled import bundled_path
from fraud_pipeline.orchestration.resources import ObjectStoreResource, PipelineResource
from fraud_pipeline.orchestration.run_logs import JSON_LOGS_RUN_CONFIG
from fraud_pipeline.settings import Settings

TRAINING_DATA = bundled_path("data/labeled/train.jsonl")
CURRENT = "text/CURRENT"  # under models_path: the version the last training produced


def _model_path(settings: Settings, version: str) -> Path:
    return settings.models_path / "text" / version / "model.json"


def current_version(settings: Settings) -> str:
    marker = settings.models_path / CURRENT
    if not marker.exists():
        raise FileNotFoundError("no trained text model yet: materialize text_model_training first")
    return marker.read_text().strip()


def _numbers(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}{k}": float(v) for k, v in metrics.items() if isinstance(v, int | float) and v is not None
    }


@asset(group_name="model", kinds={"scikitlearn"}, description="Fit and calibrate the text fraud model.")
def text_model_training(context: AssetExecutionContext, pipeline: PipelineResource) -> MaterializeResult:
    from fraud_pipeline.scoring.training import load_labeled, train

    settings = pipeline.settings()
    model = train(load_labeled(TRAINING_DATA))
    path = model.save(_model_path(settings, model.version))
    (settings.models_path / CURRENT).write_text(model.version)
    validation = model.metadata.get("validation_metrics", {})
    return MaterializeResult(
        metadata={
            "version": model.version,
            "path": MetadataValue.path(str(path)),
            "training_rows": model.metadata.get("training_data", {}).get("rows", 0),
            **_numbers(validation, "validation_"),
        }
    )


@asset(deps=[text_model_training], group_name="model", description="Quality of the current model version.")
def text_model_evaluation(pipeline: PipelineResource) -> MaterializeResult:
    from fraud_pipeline.scoring.evaluation import evaluate
    from fraud_pipeline.scoring.text_model import load_text_model
    from fraud_pipeline.scoring.training import load_labeled

    settings = pipeline.settings()
    version = current_version(settings)
    model = load_text_model(_model_path(settings, version))
    data = load_labeled(TRAINING_DATA)
    scores = np.asarray(model.probabilities(data.texts))
    in_sample = evaluate(data.labels, scores, model.threshold, data.sources)
    validation = model.metadata.get("validation_metrics", {})
    return MaterializeResult(
        metadata={
            "version": version,
            **_numbers(validation, "validation_"),
            **_numbers({k: v for k, v in in_sample.items() if k != "by_source"}, "labeled_set_in_sample_"),
            "by_source": MetadataValue.json(
                json.loads(json.dumps(in_sample.get("by_source", {}), default=str))
            ),
        }
    )


@asset(
    deps=[text_model_evaluation],
    group_name="model",
    kinds={"sagemaker", "s3"},
    description="model.tar.gz for the SageMaker container, uploaded under the models prefix.",
)
def text_model_package(pipeline: PipelineResource, lake: ObjectStoreResource) -> MaterializeResult:
    from fraud_pipeline.serving.package import build_tarball, upload

    settings = pipeline.settings()
    version = current_version(settings)
    model_path = _model_path(settings, version)
    result = upload(build_tarball(model_path, model_path.with_name("model.tar.gz")), settings, lake.store())
    return MaterializeResult(
        metadata={
            "version": version,
            "bytes": result.size,
            "key": result.key,
            "uri": MetadataValue.url(result.uri),
        }
    )


model_evaluation_job = define_asset_job(
    "daily_model_evaluation_job", selection=[text_model_evaluation], config=JSON_LOGS_RUN_CONFIG
)
daily_model_evaluation_schedule = ScheduleDefinition(job=model_evaluation_job, cron_schedule="30 3 * * *")
model_assets = [text_model_training, text_model_evaluation, text_model_package]
