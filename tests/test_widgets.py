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
    evaluation_order,
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
    assert expressions["% Fraud"] == "100 * is_fraud / processed"
    assert expressions["% Fraud-Both"] == "100 * fraud_both / processed"
    assert expressions["% Fraud-Media-Only"] == "100 * fraud_media_only / processed"
    assert expressions["% Fraud-Text-Only"] == "100 * fraud_text_only / processed"


def test_body_is_a_valid_cloudwatch_layout(body: dict) -> None:
    assert set(body) <= {"widgets", "start", "end", "periodOverride"}
    json.dumps(body)  # serialisable
    for widget in body["widgets"]:
        assert widget["type"] == "metric"
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        props = widget["properties"]
        assert props["region"] == "us-east-1" and props["view"] in {"timeSeries", "singleValue", "pie"}
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
    derived: dict[str, float | None] = {}
    for widget in WIDGETS:
        values: dict[str, float | None] = {s.id: point.get(s.id) for s in widget.base_series}
        for series in evaluation_order(widget):  # an expression may read another expression
            assert series.expression is not None
            values[series.id] = derived[series.label] = evaluate(series.expression, values)
    assert derived["Post-With-Media"] == 50.0
    assert derived["Post-Not-Fraud"] == 190.0
    assert derived["Post-Fraud-Media-Only"] == 3.0
    assert derived["Post-Fraud-Text-Only"] == 5.0
    assert derived["% Fraud"] == 5.0
    assert derived["% Fraud-Both"] == 1.0
    assert derived["% Fraud-Media-Only"] == 1.5
    assert derived["% Fraud-Text-Only"] == 2.5


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


# The seed's eight widgets as its users know them: title, view, stacked, and the series drawn
# (labels, in order). Written out here, not read from the spec, so a spec edit that loses one fails.
SEED_EIGHT = [
    (
        "RawMetrics",
        "timeSeries",
        False,
        [
            "Post-Processed",
            "Post-Text-Only",
            "Post-Is-Fraud",
            "Post-Fraud-Both",
            "Post-Fraud-Media",
            "Post-Fraud-Text",
            "Post-With-Media",
            "Post-Not-Fraud",
            "Post-Fraud-Media-Only",
            "Post-Fraud-Text-Only",
        ],
    ),
    ("FraudRatioStacked", "timeSeries", True, ["% Fraud-Both", "% Fraud-Media-Only", "% Fraud-Text-Only"]),
    ("FraudRatioValues", "singleValue", None, ["% Fraud-Both", "% Fraud-Media-Only", "% Fraud-Text-Only"]),
    (
        "FraudPostsPie",
        "pie",
        None,
        ["Post-Fraud-Both", "Post-Fraud-Media-Only", "Post-Fraud-Text-Only", "Post-Not-Fraud"],
    ),
    (
        "AllStacked",
        "timeSeries",
        True,
        ["Post-Fraud-Both", "Post-Fraud-Media-Only", "Post-Fraud-Text-Only", "Post-Not-Fraud"],
    ),
    (
        "Values",
        "singleValue",
        None,
        [
            "Post-Processed",
            "Post-Not-Fraud",
            "Post-Fraud-Both",
            "Post-Fraud-Media-Only",
            "Post-Fraud-Text-Only",
        ],
    ),
    (
        "FraudRatio",
        "timeSeries",
        False,
        ["% Fraud-Both", "% Fraud-Media-Only", "% Fraud-Text-Only", "% Fraud"],
    ),
    ("TextOnlyRatio", "pie", None, ["Post-With-Media", "Post-Text-Only"]),
]


def _drawn_labels(props: dict) -> list[str]:
    labels = []
    for row in props["metrics"]:
        options = row[-1]
        if options.get("visible", True):
            labels.append(options["label"])
    return labels


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_deployed_body_starts_with_the_seeds_eight_widgets(env: str) -> None:
    """The committed body Terraform deploys (not only the spec): the eight, in order, by name and kind."""
    from tests.infra_fixtures import LIVE

    body = json.loads((LIVE / env / "cloudwatch" / "dashboard.json").read_text(encoding="utf-8"))
    first = [w["properties"] for w in body["widgets"][: len(SEED_EIGHT)]]
    assert [p["title"] for p in first] == [title for title, *_ in SEED_EIGHT]
    for props, (title, view, stacked, labels) in zip(first, SEED_EIGHT, strict=True):
        assert props["view"] == view, title
        assert props.get("stacked") == stacked, title
        assert _drawn_labels(props) == labels, title
        assert props["stat"] == "Sum" and props["period"] == 1, f"{title}: the seed's 1-second sums"
        if view in {"pie", "singleValue"}:
            assert props["setPeriodToTimeRange"] is True, f"{title}: one value over the dashboard's range"
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert len(titles) == len(set(titles)) and len(titles) > len(SEED_EIGHT)  # our own widgets follow


def test_seed_percentages_are_shares_of_all_posts(body: dict) -> None:
    """% Fraud-Both + % Fraud-Media-Only + % Fraud-Text-Only = % Fraud (each over Post-Processed)."""
    ratio = next(w["properties"] for w in body["widgets"] if w["properties"]["title"] == "FraudRatio")
    rows = {row[-1]["id"]: row for row in ratio["metrics"]}
    assert rows["processed"][:2] == ["fraud-detect-dev", "Post-Processed"]
    for pct in ("fraud_both_pct", "fraud_media_only_pct", "fraud_text_only_pct", "fraud_pct"):
        assert rows[pct][0]["expression"].endswith("/ processed")


def test_validate_rejects_stacking_and_headlines_where_they_mean_nothing() -> None:
    base = (Series(id="x", label="x", metric="M"),)
    with pytest.raises(WidgetSpecError, match="only timeSeries widgets stack"):
        validate((Widget(key="w", title="t", series=base, view="pie", stacked=True),))
    with pytest.raises(WidgetSpecError, match="headline"):
        validate((Widget(key="w", title="t", series=base, headline=True),))
    cycle = (
        Series(id="a", label="a", expression="b + 1"),
        Series(id="b", label="b", expression="a + 1"),
    )
    with pytest.raises(WidgetSpecError, match="cycle"):
        validate((Widget(key="w", title="t", series=cycle),))


def test_expressions_may_read_expressions_listed_after_them() -> None:
    widget = Widget(
        key="w",
        title="t",
        series=(
            Series(id="share", label="share", expression="100 * part / total"),
            Series(id="total", label="total", metric="T", visible=False),
            Series(id="part", label="part", expression="total - 1", visible=False),
        ),
    )
    validate((widget,))
    assert [s.id for s in evaluation_order(widget)] == ["part", "share"]


def test_seed_colours_are_the_same_in_every_widget(body: dict) -> None:
    """A fraud kind has one colour wherever it is drawn, on CloudWatch as on the page."""
    colours: dict[str, set[str]] = {}
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            options = row[-1]
            if "color" in options:
                colours.setdefault(options["label"], set()).add(options["color"])
    assert colours["Post-Fraud-Both"] == colours["% Fraud-Both"] == {"#7f7f7f"}
    assert colours["Post-Not-Fraud"] == {"#2ca02c"}
    assert all(len(c) == 1 for c in colours.values()), colours
    bad = Widget(key="w", title="t", series=(Series(id="x", label="x", metric="M", color="red"),))
    with pytest.raises(WidgetSpecError, match="colour"):
        validate((bad,))


def test_columns_evaluate_exactly_like_points() -> None:
    """The dashboard derives whole columns at once; each value equals the point-by-point answer."""
    import random

    from fraud_pipeline.dashboard.widgets import evaluate_columns

    rng = random.Random(4)
    ids = ["processed", "text_only", "is_fraud", "fraud_both", "fraud_media", "fraud_text"]
    length = 400
    columns: dict[str, list[float | None]] = {
        sid: [rng.choice([None, 0.0, float("nan"), float(rng.randint(0, 50))]) for _ in range(length)]
        for sid in ids
    }
    for expression in ("100 * (fraud_media - fraud_both) / processed", "-(text_only) + 2 * is_fraud", "3"):
        got = evaluate_columns(expression, columns, length)
        want = [evaluate(expression, {sid: columns[sid][i] for sid in ids}) for i in range(length)]
        assert got == want, expression
        assert (None in got) is (expression != "3")  # gaps where an input is missing or a divisor 0
    with pytest.raises(WidgetSpecError, match="points"):
        evaluate_columns("a + 1", {"a": [1.0]}, 2)
