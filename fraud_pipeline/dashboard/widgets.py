"""The dashboard widget spec, as data, shared by the CloudWatch dashboard and the web dashboard.

One list of `Widget`s says what the fraud picture looks like: which metrics, which derived
series (metric-math expressions over the base series), which statistic and period. Two
renderers read it:

- `cloudwatch_dashboard_body(settings)` turns it into a CloudWatch dashboard body; Terraform
  deploys the committed output of `python -m fraud_pipeline.dashboard.widgets --env <env>`
  (`infra/live/<env>/cloudwatch/dashboard.json`, kept equal to this module by a test);
- the project's web dashboard queries the base series through the metrics port and computes
  the derived ones with `evaluate(series.expression, values)`, the same arithmetic CloudWatch's
  metric math does (`+ - * /`, numbers, parentheses, series ids).

Series are named by `id` (a metric-math id: lower-case first letter, then letters, digits, `_`).
Dimension values may hold `{placeholders}` filled from `resource_names(settings)`, so the spec
stays free of environment-specific names.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import click

from fraud_pipeline.metrics.base import PIPELINE_METRICS, SEED_METRICS
from fraud_pipeline.settings import Settings, load_settings

View = Literal["timeSeries", "singleValue"]
# Base series whose namespace is None live in the pipeline's own namespace (= the settings prefix).
OWN_NAMESPACE: None = None
SERIES_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
DASHBOARD_START = "-PT1H"
GRID_WIDTH = 24


class WidgetSpecError(ValueError):
    """The widget spec (or an expression in it) is malformed."""


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a widget: a base metric, or a derived expression over other series' ids.

    Exactly one of `metric` and `expression` is set. `stat` overrides the widget's statistic
    for a base metric (e.g. "p99" for latency). Hidden series (`visible=False`) exist only to
    feed expressions.
    """

    id: str
    label: str
    metric: str | None = None
    expression: str | None = None
    namespace: str | None = OWN_NAMESPACE
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str | None = None
    visible: bool = True

    @property
    def derived(self) -> bool:
        return self.expression is not None


@dataclass(frozen=True, slots=True)
class Widget:
    """One dashboard panel: a title, its series, and how they are aggregated and drawn."""

    key: str
    title: str
    series: tuple[Series, ...]
    stat: str = "Sum"
    period: int = 1  # seconds; the seed's metrics have 1-second resolution
    view: View = "timeSeries"
    y_label: str = "Count"
    width: int = 12
    height: int = 6

    @property
    def base_series(self) -> tuple[Series, ...]:
        return tuple(s for s in self.series if not s.derived)

    @property
    def derived_series(self) -> tuple[Series, ...]:
        return tuple(s for s in self.series if s.derived)


def _own(series_id: str, metric: str, label: str, *, visible: bool = True, stat: str | None = None) -> Series:
    return Series(id=series_id, label=label, metric=metric, visible=visible, stat=stat)


def _expr(series_id: str, expression: str, label: str) -> Series:
    return Series(id=series_id, label=label, expression=expression)


_PROCESSED = "processed"
_FUNCTION = (("FunctionName", "{scoring_function}"),)

WIDGETS: tuple[Widget, ...] = (
    Widget(
        key="posts",
        title="Posts processed",
        series=(
            _own(_PROCESSED, "Post-Processed", "Post-Processed"),
            _own("text_only", "Post-Text-Only", "Post-Text-Only"),
            _expr("with_media", "processed - text_only", "Post-With-Media"),
        ),
    ),
    Widget(
        key="verdicts",
        title="Fraud verdicts",
        series=(
            _own(_PROCESSED, "Post-Processed", "Post-Processed", visible=False),
            _own("is_fraud", "Post-Is-Fraud", "Post-Is-Fraud"),
            _expr("not_fraud", "processed - is_fraud", "Post-Not-Fraud"),
        ),
    ),
    Widget(
        key="fraud_by_modality",
        title="Fraud by modality",
        series=(
            _own("fraud_both", "Post-Fraud-Both", "Post-Fraud-Both"),
            _own("fraud_media", "Post-Fraud-Media", "Post-Fraud-Media"),
            _own("fraud_text", "Post-Fraud-Text", "Post-Fraud-Text"),
            _expr("fraud_media_only", "fraud_media - fraud_both", "Post-Fraud-Media-Only"),
            _expr("fraud_text_only", "fraud_text - fraud_both", "Post-Fraud-Text-Only"),
        ),
    ),
    Widget(
        key="percentages",
        title="Fraud and media share (%)",
        period=60,
        y_label="Percent",
        series=(
            _own(_PROCESSED, "Post-Processed", "Post-Processed", visible=False),
            _own("text_only", "Post-Text-Only", "Post-Text-Only", visible=False),
            _own("is_fraud", "Post-Is-Fraud", "Post-Is-Fraud", visible=False),
            _own("fraud_both", "Post-Fraud-Both", "Post-Fraud-Both", visible=False),
            _own("fraud_media", "Post-Fraud-Media", "Post-Fraud-Media", visible=False),
            _own("fraud_text", "Post-Fraud-Text", "Post-Fraud-Text", visible=False),
            _expr("fraud_pct", "100 * is_fraud / processed", "Fraud % of posts"),
            _expr("media_pct", "100 * (processed - text_only) / processed", "Media % of posts"),
            _expr("fraud_both_pct", "100 * fraud_both / is_fraud", "Both models % of fraud"),
            _expr(
                "fraud_media_only_pct", "100 * (fraud_media - fraud_both) / is_fraud", "Media-only % of fraud"
            ),
            _expr(
                "fraud_text_only_pct", "100 * (fraud_text - fraud_both) / is_fraud", "Text-only % of fraud"
            ),
        ),
    ),
    Widget(
        key="totals",
        title="Totals (selected range)",
        view="singleValue",
        period=86400,
        series=(
            _own(_PROCESSED, "Post-Processed", "Posts processed"),
            _own("is_fraud", "Post-Is-Fraud", "Fraud posts"),
            _expr("fraud_pct", "100 * is_fraud / processed", "Fraud %"),
        ),
    ),
    Widget(
        key="pipeline_errors",
        title="Deletes, errors and model outages",
        period=60,
        series=(
            _own("deleted", "Post-Deleted", "Post-Deleted"),
            _own("errors", "Post-Error", "Post-Error"),
            _own("text_model_down", "Text-Model-Unavailable", "Text-Model-Unavailable"),
            _own("media_model_down", "Media-Model-Unavailable", "Media-Model-Unavailable"),
        ),
    ),
    Widget(
        key="latency",
        title="Latency (ms)",
        stat="p50",
        period=60,
        y_label="Milliseconds",
        series=(
            _own("scoring_p50", "Scoring-Latency-Ms", "Scoring p50", stat="p50"),
            _own("scoring_p99", "Scoring-Latency-Ms", "Scoring p99", stat="p99"),
            _own("e2e_p50", "End-To-End-Latency-Ms", "End-to-end p50", stat="p50"),
            _own("e2e_p99", "End-To-End-Latency-Ms", "End-to-end p99", stat="p99"),
        ),
    ),
    Widget(
        key="stream_lag",
        title="Stream lag: iterator age (ms)",
        stat="Maximum",
        period=60,
        y_label="Milliseconds",
        series=(
            Series(
                id="lambda_iterator_age",
                label="Scoring Lambda IteratorAge",
                metric="IteratorAge",
                namespace="AWS/Lambda",
                dimensions=_FUNCTION,
            ),
            Series(
                id="untagged_iterator_age",
                label="Untagged stream GetRecords.IteratorAgeMilliseconds",
                metric="GetRecords.IteratorAgeMilliseconds",
                namespace="AWS/Kinesis",
                dimensions=(("StreamName", "{untagged_stream}"),),
            ),
        ),
    ),
    Widget(
        key="lambda_health",
        title="Scoring Lambda: errors, throttles, failed batches",
        period=60,
        series=(
            Series(
                id="invocations",
                label="Invocations",
                metric="Invocations",
                namespace="AWS/Lambda",
                dimensions=_FUNCTION,
            ),
            Series(
                id="lambda_errors",
                label="Errors",
                metric="Errors",
                namespace="AWS/Lambda",
                dimensions=_FUNCTION,
            ),
            Series(
                id="throttles",
                label="Throttles",
                metric="Throttles",
                namespace="AWS/Lambda",
                dimensions=_FUNCTION,
            ),
            Series(
                id="dlq_depth",
                label="On-failure queue depth",
                metric="ApproximateNumberOfMessagesVisible",
                namespace="AWS/SQS",
                dimensions=(("QueueName", "{scoring_dlq}"),),
                stat="Maximum",
            ),
        ),
    ),
)


def resource_names(settings: Settings) -> dict[str, str]:
    """Names the spec's `{placeholders}` refer to; infra/live/<env>/env.hcl carries the same."""
    names = Settings.default_names(settings.env) | {
        name: getattr(settings, name) for name in Settings.default_names(settings.env)
    }
    return names | {"scoring_function": settings.scoring_function, "scoring_dlq": settings.scoring_dlq}


# -- derived-series arithmetic (shared with the web dashboard) -----------------------------

_ALLOWED_OPS = {ast.Add, ast.Sub, ast.Mult, ast.Div}
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Constant,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.UAdd,
)


def expression_ids(expression: str) -> set[str]:
    """The series ids an expression reads."""
    return {node.id for node in ast.walk(_parse(expression)) if isinstance(node, ast.Name)}


def _parse(expression: str) -> ast.expr:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise WidgetSpecError(f"not an expression: {expression!r}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) not in _ALLOWED_OPS:
            raise WidgetSpecError(f"operator {type(node.op).__name__} not allowed in {expression!r}")
        if not isinstance(node, _ALLOWED_NODES):
            raise WidgetSpecError(f"{type(node).__name__} not allowed in {expression!r}")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise WidgetSpecError(f"only numbers allowed as constants in {expression!r}")
    return tree.body


def evaluate(expression: str, values: Mapping[str, float | None]) -> float | None:
    """Value of a derived series at one point; None where an input is missing or a divisor is 0.

    CloudWatch metric math drops such points too, so both dashboards show the same gaps.
    """

    def walk(node: ast.expr) -> float | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise WidgetSpecError(f"expression {expression!r} reads unknown series {node.id!r}")
            value = values[node.id]
            return None if value is None or math.isnan(value) else float(value)
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            if operand is None:
                return None
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return None if right == 0 else left / right
        raise WidgetSpecError(f"{type(node).__name__} not allowed in {expression!r}")

    return walk(_parse(expression))


def validate(widgets: tuple[Widget, ...] = WIDGETS) -> None:
    """Raise WidgetSpecError when ids clash, are not metric-math ids, or expressions read unknown ids."""
    keys = [w.key for w in widgets]
    if len(keys) != len(set(keys)):
        raise WidgetSpecError(f"duplicate widget keys in {keys}")
    for widget in widgets:
        ids = [s.id for s in widget.series]
        if len(ids) != len(set(ids)):
            raise WidgetSpecError(f"widget {widget.key!r} has duplicate series ids {ids}")
        for series in widget.series:
            if not SERIES_ID.match(series.id):
                raise WidgetSpecError(f"series id {series.id!r} is not a metric-math id")
            if (series.metric is None) == (series.expression is None):
                raise WidgetSpecError(f"series {series.id!r} needs exactly one of metric and expression")
            if series.expression is not None:
                unknown = expression_ids(series.expression) - set(ids)
                if unknown:
                    raise WidgetSpecError(f"series {series.id!r} reads unknown ids {sorted(unknown)}")


# -- CloudWatch rendering ------------------------------------------------------------------


def _metric_row(series: Series, widget: Widget, settings: Settings, names: Mapping[str, str]) -> list[Any]:
    options: dict[str, Any] = {"id": series.id, "label": series.label}
    if not series.visible:
        options["visible"] = False
    if series.expression is not None:
        return [{"expression": series.expression, **options}]
    if series.stat and series.stat != widget.stat:
        options["stat"] = series.stat
    namespace = series.namespace or settings.metric_namespace
    row: list[Any] = [namespace, series.metric]
    for dim_name, dim_value in series.dimensions:
        row += [dim_name, dim_value.format(**names)]
    return [*row, options]


def cloudwatch_dashboard_body(settings: Settings, widgets: tuple[Widget, ...] = WIDGETS) -> dict[str, Any]:
    """A CloudWatch dashboard body (dict; `json.dumps` it) with metric math for derived series."""
    validate(widgets)
    names = resource_names(settings)
    body_widgets: list[dict[str, Any]] = []
    x = y = row_height = 0
    for widget in widgets:
        if x + widget.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        properties: dict[str, Any] = {
            "title": widget.title,
            "view": widget.view,
            "region": settings.aws_region,
            "stat": widget.stat,
            "period": widget.period,
            "metrics": [_metric_row(s, widget, settings, names) for s in widget.series],
        }
        if widget.view == "timeSeries":
            properties["stacked"] = False
            properties["yAxis"] = {"left": {"label": widget.y_label, "showUnits": False, "min": 0}}
        body_widgets.append(
            {
                "type": "metric",
                "x": x,
                "y": y,
                "width": widget.width,
                "height": widget.height,
                "properties": properties,
            }
        )
        x += widget.width
        row_height = max(row_height, widget.height)
    return {"start": DASHBOARD_START, "periodOverride": "auto", "widgets": body_widgets}


def dashboard_json(settings: Settings) -> str:
    """The body as committed for Terraform: stable key order, trailing newline."""
    return json.dumps(cloudwatch_dashboard_body(settings), indent=2, sort_keys=True) + "\n"


def spec_metric_names(widgets: tuple[Widget, ...] = WIDGETS) -> set[str]:
    """Names of the pipeline's own metrics the spec reads (seed + pipeline metrics)."""
    return {s.metric for w in widgets for s in w.base_series if s.namespace is OWN_NAMESPACE and s.metric}


def missing_metrics(widgets: tuple[Widget, ...] = WIDGETS) -> set[str]:
    """Metrics the pipeline emits (metrics/base.py) that no widget shows; a test keeps this empty."""
    return (set(SEED_METRICS) | set(PIPELINE_METRICS)) - spec_metric_names(widgets)


@click.command()
@click.option("--env", "env", default="dev", show_default=True, help="Environment whose names to use.")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
def main(env: str, output: str | None) -> None:
    """Print the CloudWatch dashboard body for an environment (Terraform deploys this file)."""
    text = dashboard_json(load_settings(environ={}, env=env, backend="aws"))
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
