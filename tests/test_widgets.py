"""The dashboard widget spec: complete, valid CloudWatch body, and derived series computed right."""

from __future__ import annotations

import json
import re

import pytest

from fraud_pipeline.dashboard import widgets
from fraud_pipeline.dashboard.widgets import (
    WIDGETS,
    Series,
    Widget,
    WidgetSpecError,
    cloudwatch_dashboard_body,
    evaluate,
    expression_ids,
    missing_metrics,
    validate,
)
from fraud_pipeline.metrics.base import SEED_METRICS
from fraud_pipeline.settings import Settings


@pytest.fixture()
def body() -> dict:
    return cloudwatch_dashboard_body(Settings(env="dev", backend="aws"))


def _rows(body: dict) -> list[list]:
    return [row for w in body["widgets"] for row in w["properties"]["metrics"]]


def test_spec_shows_every_metric_the_pipeline_emits() -> None:
    assert missing_metrics() == set()


def test_seed_metrics_in_the_prefix_namespace(body: dict) -> None:
    own = {row[1] for row in _rows(body) if isinstance(row[0], str) and row[0] == "fraud-detect-dev"}
    assert set(SEED_METRICS) <= own
    seed_widget = body["widgets"][0]["properties"]
    assert seed_widget["period"] == 1, "the seed's metrics have 1-second resolution"


def test_seed_derived_series_are_metric_math(body: dict) -> None:
    expressions = {row[0]["label"]: row[0]["expression"] for row in _rows(body) if isinstance(row[0], dict)}
    assert expressions["Post-With-Media"] == "processed - text_only"
    assert expressions["Post-Not-Fraud"] == "processed - is_fraud"
    assert expressions["Post-Fraud-Media-Only"] == "fraud_media - fraud_both"
    assert expressions["Post-Fraud-Text-Only"] == "fraud_text - fraud_both"
    assert expressions["Fraud % of posts"] == "100 * is_fraud / processed"


def test_body_is_a_valid_cloudwatch_layout(body: dict) -> None:
    assert set(body) <= {"widgets", "start", "end", "periodOverride"}
    json.dumps(body)  # serialisable
    for widget in body["widgets"]:
        assert widget["type"] == "metric"
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        props = widget["properties"]
        assert props["region"] == "us-east-1" and props["view"] in {"timeSeries", "singleValue"}
        ids = set()
        for row in props["metrics"]:
            options = row[-1]
            assert re.match(r"^[a-z][a-zA-Z0-9_]*$", options["id"])
            ids.add(options["id"])
            if isinstance(row[0], str):
                # namespace, metric name, then dimension name/value pairs, then options
                assert len(row) % 2 == 1 and all(isinstance(x, str) for x in row[:-1])
        for row in props["metrics"]:
            if "expression" in row[0]:
                assert expression_ids(row[0]["expression"]) <= ids


def test_aws_metrics_name_the_environments_resources(body: dict) -> None:
    aws_rows = [row for row in _rows(body) if isinstance(row[0], str) and row[0].startswith("AWS/")]
    dims = {(row[0], row[1]): dict(zip(row[2:-1:2], row[3:-1:2], strict=True)) for row in aws_rows}
    assert dims[("AWS/Lambda", "IteratorAge")] == {"FunctionName": "fraud-detect-dev-scoring"}
    assert dims[("AWS/Lambda", "Errors")] == {"FunctionName": "fraud-detect-dev-scoring"}
    assert dims[("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds")] == {
        "StreamName": "fraud-detect-dev-untagged-stream"
    }
    assert dims[("AWS/SQS", "ApproximateNumberOfMessagesVisible")] == {
        "QueueName": "fraud-detect-dev-scoring-failures"
    }


def test_environment_changes_names_only() -> None:
    dev = json.dumps(cloudwatch_dashboard_body(Settings(env="dev")))
    prod = json.dumps(cloudwatch_dashboard_body(Settings(env="prod")))
    assert "fraud-detect-dev" not in prod
    assert dev.replace("fraud-detect-dev", "fraud-detect-prod") == prod


def test_derived_series_evaluate_like_metric_math() -> None:
    point = {
        "processed": 200.0,
        "text_only": 150.0,
        "is_fraud": 10.0,
        "fraud_both": 2.0,
        "fraud_media": 5.0,
        "fraud_text": 7.0,
    }
    derived = {
        s.label: evaluate(s.expression, point) for w in WIDGETS for s in w.derived_series if s.expression
    }
    assert derived["Post-With-Media"] == 50.0
    assert derived["Post-Not-Fraud"] == 190.0
    assert derived["Post-Fraud-Media-Only"] == 3.0
    assert derived["Post-Fraud-Text-Only"] == 5.0
    assert derived["Fraud % of posts"] == 5.0
    assert derived["Media % of posts"] == 25.0
    assert derived["Both models % of fraud"] == 20.0


def test_evaluate_gaps_where_cloudwatch_has_none() -> None:
    assert evaluate("100 * is_fraud / processed", {"is_fraud": 0.0, "processed": 0.0}) is None
    assert evaluate("processed - text_only", {"processed": 3.0, "text_only": None}) is None
    assert evaluate("-(a) + 2", {"a": 1.0}) == 1.0


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "a ** 2", "a.b", "a[0]", "f(a)", "'x'", "a if a else b", "True + a", "a //"],
)
def test_evaluate_rejects_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(WidgetSpecError):
        evaluate(expression, {"a": 1.0, "b": 2.0})


def test_evaluate_rejects_unknown_series() -> None:
    with pytest.raises(WidgetSpecError, match="unknown series"):
        evaluate("a + missing", {"a": 1.0})


def test_validate_catches_broken_specs() -> None:
    bad_ref = Widget(key="w", title="t", series=(Series(id="x", label="x", expression="y + 1"),))
    with pytest.raises(WidgetSpecError, match="unknown ids"):
        validate((bad_ref,))
    bad_id = Widget(key="w", title="t", series=(Series(id="Bad-Id", label="x", metric="M"),))
    with pytest.raises(WidgetSpecError, match="metric-math id"):
        validate((bad_id,))
    both = Widget(key="w", title="t", series=(Series(id="x", label="x", metric="M", expression="1"),))
    with pytest.raises(WidgetSpecError, match="exactly one"):
        validate((both,))
    validate()  # the shipped spec is valid


def test_cli_prints_the_body(capsys: pytest.CaptureFixture[str]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(widgets.main, ["--env", "prod"])
    assert result.exit_code == 0
    assert json.loads(result.output) == cloudwatch_dashboard_body(Settings(env="prod", backend="aws"))
