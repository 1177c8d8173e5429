"""The dashboard widget spec, as data, shared by the CloudWatch dashboard and the web dashboard.

One list of `Widget`s says what the fraud picture looks like: which metrics, which derived
series (metric-math expressions over the base series), which statistic and period. Two
renderers read it:

- `cloudwatch_dashboard_body(settings)` turns it into a CloudWatch dashboard body; Terraform
  deploys the committed output of `python -m fraud_pipeline.dashboard.widgets --env <env>`
  (`infra/live/<env>/cloudwatch/dashboard.json`, kept equal to this module by a test);
- the project's web dashboard queries the base series through the metrics port and computes
  the derived ones with `evaluate_columns(series.expression, columns, length)`, the same
  arithmetic CloudWatch's metric math does (`+ - * /`, numbers, parentheses, series ids).

The original system's eight widgets (RawMetrics ... TextOnlyRatio; tests/test_widgets.py holds
the deployed body to them) come first, by the names and views its users know: time series
(stacked or not), single values and pies (`view="pie"`; CloudWatch has no donut, the web page
draws it as one). Single values and pies hold one value per series over the whole range
(`setPeriodToTimeRange`). The project's own widgets follow.

Series are named by `id` (a metric-math id: lower-case first letter, then letters, digits, `_`).
Dimension values may hold `{placeholders}` filled from `resource_names(settings)`, so the spec
stays free of environment-specific names.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import click

from fraud_pipeline.generated_files import OUTPUT_OPTION, emit
from fraud_pipeline.metrics.base import PIPELINE_METRICS, SEED_METRICS
from fraud_pipeline.settings import Settings, load_settings

View = Literal["timeSeries", "singleValue", "pie"]
# Views that show one value per series over the whole chosen range (CloudWatch
# `setPeriodToTimeRange`), not a line over time.
WHOLE_RANGE_VIEWS: frozenset[str] = frozenset({"singleValue", "pie"})
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
    color: str | None = None  # "#rrggbb"; the same colour on CloudWatch and the page

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
    stacked: bool = False  # timeSeries only: visible series drawn stacked (areas)
    headline: bool = False  # singleValue only: also the page's headline numbers

    @property
    def whole_range(self) -> bool:
        """One value per series over the chosen range (single values, pies), not a line."""
        return self.view in WHOLE_RANGE_VIEWS

    @property
    def base_series(self) -> tuple[Series, ...]:
        return tuple(s for s in self.series if not s.derived)

    @property
    def derived_series(self) -> tuple[Series, ...]:
        return tuple(s for s in self.series if s.derived)


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


@functools.lru_cache(maxsize=1024)
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
    return evaluate_columns(expression, {name: [value] for name, value in values.items()}, 1)[0]


def evaluate_columns(
    expression: str, columns: Mapping[str, Sequence[float | None]], length: int
) -> list[float | None]:
    """A derived series over whole columns (one value per timestamp), point by point as `evaluate`.

    The expression is parsed once (cached) and each operator runs over the columns at once: a
    widget's derived series cost a list comprehension per operator, not a parse per point.
    """

    def walk(node: ast.expr) -> list[float | None]:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return [float(node.value)] * length
        if isinstance(node, ast.Name):
            if node.id not in columns:
                raise WidgetSpecError(f"expression {expression!r} reads unknown series {node.id!r}")
            column = columns[node.id]
            if len(column) != length:
                raise WidgetSpecError(f"series {node.id!r} has {len(column)} points, expected {length}")
            return [None if v is None or math.isnan(v) else float(v) for v in column]
        if isinstance(node, ast.UnaryOp):
            operand = walk(node.operand)
            if isinstance(node.op, ast.USub):
                return [None if v is None else -v for v in operand]
            return operand
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            pairs = zip(left, right, strict=True)
            if isinstance(node.op, ast.Add):
                return [None if a is None or b is None else a + b for a, b in pairs]
            if isinstance(node.op, ast.Sub):
                return [None if a is None or b is None else a - b for a, b in pairs]
            if isinstance(node.op, ast.Mult):
                return [None if a is None or b is None else a * b for a, b in pairs]
            return [None if a is None or b is None or b == 0 else a / b for a, b in pairs]
        raise WidgetSpecError(f"{type(node).__name__} not allowed in {expression!r}")

    return walk(_parse(expression))


def _own(series_id: str, metric: str, label: str, *, visible: bool = True, stat: str | None = None) -> Series:
    return Series(id=series_id, label=label, metric=metric, visible=visible, stat=stat)


_FUNCTION = (("FunctionName", "{scoring_function}"),)

# The seed's six base metrics, with the ids every widget uses for them.
_SEED_IDS: tuple[tuple[str, str], ...] = (
    ("processed", "Post-Processed"),
    ("text_only", "Post-Text-Only"),
    ("is_fraud", "Post-Is-Fraud"),
    ("fraud_both", "Post-Fraud-Both"),
    ("fraud_media", "Post-Fraud-Media"),
    ("fraud_text", "Post-Fraud-Text"),
)
# The seed's derived series (CloudWatch metric math), by id: expression and label. Later entries
# may read earlier ones, as metric math may.
_SEED_DERIVED: dict[str, tuple[str, str]] = {
    "with_media": ("processed - text_only", "Post-With-Media"),
    "not_fraud": ("processed - is_fraud", "Post-Not-Fraud"),
    "fraud_media_only": ("fraud_media - fraud_both", "Post-Fraud-Media-Only"),
    "fraud_text_only": ("fraud_text - fraud_both", "Post-Fraud-Text-Only"),
    "fraud_both_pct": ("100 * fraud_both / processed", "% Fraud-Both"),
    "fraud_media_only_pct": ("100 * fraud_media_only / processed", "% Fraud-Media-Only"),
    "fraud_text_only_pct": ("100 * fraud_text_only / processed", "% Fraud-Text-Only"),
    "fraud_pct": ("100 * is_fraud / processed", "% Fraud"),
}
_PERCENTAGES = ("fraud_both_pct", "fraud_media_only_pct", "fraud_text_only_pct")
# The seed's colours for its fraud kinds, counts and shares alike, so a kind looks the same in
# every widget (the others take the chart's palette).
_SEED_COLORS: dict[str, str] = {
    "fraud_both": "#7f7f7f",
    "fraud_both_pct": "#7f7f7f",
    "fraud_media_only": "#ff7f0e",
    "fraud_media_only_pct": "#ff7f0e",
    "fraud_text_only": "#d62728",
    "fraud_text_only_pct": "#d62728",
    "not_fraud": "#2ca02c",
    "with_media": "#8c564b",
    "fraud_pct": "#ffbb78",
}


def _seed(*shown: str, derived: tuple[str, ...] = ()) -> tuple[Series, ...]:
    """The seed series a widget needs: `shown` ids drawn (in that order), their inputs hidden.

    Base metrics come first and derived series after them in `_SEED_DERIVED` order (so every
    expression reads only ids defined before it); `derived` adds hidden derived inputs.
    """
    wanted: set[str] = set(shown) | set(derived)
    changed = True
    while changed:  # close over what the expressions read
        changed = False
        for sid in list(wanted):
            if sid in _SEED_DERIVED:
                more = expression_ids(_SEED_DERIVED[sid][0]) - wanted
                if more:
                    wanted |= more
                    changed = True
    base = [
        Series(id=sid, label=metric, metric=metric, visible=sid in shown, color=_SEED_COLORS.get(sid))
        for sid, metric in _SEED_IDS
        if sid in wanted
    ]
    math_ = [
        Series(id=sid, label=label, expression=expression, visible=sid in shown, color=_SEED_COLORS.get(sid))
        for sid, (expression, label) in _SEED_DERIVED.items()
        if sid in wanted
    ]
    by_id = {s.id: s for s in (*base, *math_)}
    unknown = set(shown) - set(by_id)
    if unknown:
        raise WidgetSpecError(f"unknown seed series {sorted(unknown)}")
    # Drawn series in the order asked (legend, stacking and slice order), then hidden inputs.
    ordered = [by_id[sid] for sid in shown]
    ordered += [s for s in (*base, *math_) if s.id not in shown]
    return tuple(ordered)


# The seed's eight widgets, by the names its users know, first; then the project's own.
_FRAUD_KINDS = ("fraud_both", "fraud_media_only", "fraud_text_only")


# With media_images on (docs/media.md), per post image: read within the batch's budget, served
# from the CID cache, or not read. The ids are the media alarm's too (fraud_pipeline/media/alarm.py).
MEDIA_IMAGE_SERIES: tuple[Series, ...] = (
    _own("images_read", "Media-Images-Read", "Read"),
    _own("image_cache_hits", "Media-Cache-Hits", "From the cache"),
    _own("images_unavailable", "Media-Images-Unavailable", "Not read"),
)
# The Reason codes of Media-Unavailable shown one by one (docs/media.md lists them): the
# stream's own limits first (budget, backlog), then the CDN and the media endpoint, then
# bad blobs. Other HTTP statuses and rarer codes are in the "Not read" total above.
MEDIA_UNAVAILABLE_REASONS: tuple[str, ...] = (
    "budget",
    "backlog",
    "timeout",
    "network",
    "http_5xx",
    "http_429",
    "http_404",
    "endpoint",
    "undecodable",
    "too_large",
    "not_image",
    "content_type",
    "off_cdn",
    "bad_ref",
)

WIDGETS: tuple[Widget, ...] = (
    Widget(
        key="raw_metrics",
        title="RawMetrics",
        y_label="1 second sum",
        width=24,
        series=_seed(
            *(sid for sid, _ in _SEED_IDS),
            "with_media",
            "not_fraud",
            "fraud_media_only",
            "fraud_text_only",
        ),
    ),
    Widget(
        key="fraud_ratio_stacked",
        title="FraudRatioStacked",
        y_label="Percentage",
        stacked=True,
        width=9,
        series=_seed(*_PERCENTAGES),
    ),
    Widget(
        key="fraud_ratio_values",
        title="FraudRatioValues",
        view="singleValue",
        width=6,
        series=_seed(*_PERCENTAGES),
    ),
    Widget(
        key="fraud_posts_pie",
        title="FraudPostsPie",
        view="pie",
        width=9,
        series=_seed(*_FRAUD_KINDS, "not_fraud"),
    ),
    Widget(
        key="all_stacked",
        title="AllStacked",
        y_label="1 second sum",
        stacked=True,
        width=12,
        series=_seed(*_FRAUD_KINDS, "not_fraud"),
    ),
    Widget(
        key="values",
        title="Values",
        view="singleValue",
        width=12,
        series=_seed("processed", "not_fraud", *_FRAUD_KINDS),
    ),
    Widget(
        key="fraud_ratio",
        title="FraudRatio",
        y_label="Percentage",
        width=15,
        series=_seed(*_PERCENTAGES, "fraud_pct"),
    ),
    Widget(
        key="text_only_ratio",
        title="TextOnlyRatio",
        view="pie",
        width=9,
        series=_seed("with_media", "text_only"),
    ),
    # -- the project's own widgets -------------------------------------------------------
    Widget(
        key="totals",
        title="Totals (selected range)",
        view="singleValue",
        headline=True,
        width=24,
        height=4,
        series=_seed("processed", "is_fraud", "fraud_pct"),
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
    Widget(
        key="media_images",
        title="Images in the stream: read, from the cache, not read",
        period=60,
        stacked=True,
        series=MEDIA_IMAGE_SERIES,
    ),
    Widget(
        key="media_unavailable",
        title="Images not read, by reason (Media-Unavailable)",
        period=60,
        stacked=True,
        series=tuple(
            Series(
                id=f"unavailable_{reason}",
                label=reason,
                metric="Media-Unavailable",
                dimensions=(("Reason", reason),),
            )
            for reason in MEDIA_UNAVAILABLE_REASONS
        ),
    ),
)


def resource_names(settings: Settings) -> dict[str, str]:
    """Names the spec's `{placeholders}` refer to; infra/live/<env>/env.hcl carries the same."""
    names = Settings.default_names(settings.env) | {
        name: getattr(settings, name) for name in Settings.default_names(settings.env)
    }
    return names | {"scoring_function": settings.scoring_function, "scoring_dlq": settings.scoring_dlq}


def evaluation_order(widget: Widget) -> tuple[Series, ...]:
    """The widget's derived series ordered so each is computed after the series it reads.

    Metric math lets an expression read another expression wherever it sits in the list (the
    spec lists drawn series first, for legend and stacking order); a cycle is an error.
    """
    derived = {s.id: s for s in widget.derived_series}
    done: list[Series] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(series: Series) -> None:
        if series.id in placed:
            return
        if series.id in visiting:
            raise WidgetSpecError(f"widget {widget.key!r}: expressions in a cycle at {series.id!r}")
        visiting.add(series.id)
        assert series.expression is not None
        for dep in sorted(expression_ids(series.expression)):
            if dep in derived:
                place(derived[dep])
        visiting.discard(series.id)
        placed.add(series.id)
        done.append(series)

    for series in derived.values():
        place(series)
    return tuple(done)


def validate(widgets: tuple[Widget, ...] = WIDGETS) -> None:
    """Raise WidgetSpecError when ids clash, are not metric-math ids, or expressions read unknown ids."""
    keys = [w.key for w in widgets]
    if len(keys) != len(set(keys)):
        raise WidgetSpecError(f"duplicate widget keys in {keys}")
    for widget in widgets:
        ids = [s.id for s in widget.series]
        if len(ids) != len(set(ids)):
            raise WidgetSpecError(f"widget {widget.key!r} has duplicate series ids {ids}")
        if widget.stacked and widget.view != "timeSeries":
            raise WidgetSpecError(f"widget {widget.key!r}: only timeSeries widgets stack")
        if widget.headline and widget.view != "singleValue":
            raise WidgetSpecError(f"widget {widget.key!r}: only singleValue widgets are headline numbers")
        if not 1 <= widget.width <= GRID_WIDTH:
            raise WidgetSpecError(f"widget {widget.key!r}: width must be 1..{GRID_WIDTH}")
        for series in widget.series:
            if series.color is not None and not re.fullmatch(r"#[0-9a-f]{6}", series.color):
                raise WidgetSpecError(f"series {series.id!r}: colour must be #rrggbb, got {series.color!r}")
            if not SERIES_ID.match(series.id):
                raise WidgetSpecError(f"series id {series.id!r} is not a metric-math id")
            if (series.metric is None) == (series.expression is None):
                raise WidgetSpecError(f"series {series.id!r} needs exactly one of metric and expression")
            if series.expression is not None:
                unknown = expression_ids(series.expression) - set(ids)
                if unknown:
                    raise WidgetSpecError(f"series {series.id!r} reads unknown ids {sorted(unknown)}")
        evaluation_order(widget)


# -- CloudWatch rendering ------------------------------------------------------------------


def _metric_row(series: Series, widget: Widget, settings: Settings, names: Mapping[str, str]) -> list[Any]:
    options: dict[str, Any] = {"id": series.id, "label": series.label}
    if not series.visible:
        options["visible"] = False
    if series.color is not None:
        options["color"] = series.color
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
            properties["stacked"] = widget.stacked
            properties["yAxis"] = {"left": {"label": widget.y_label, "showUnits": False, "min": 0}}
        if widget.whole_range:  # one value per series over the dashboard's time range
            properties["setPeriodToTimeRange"] = True
        if widget.view == "pie":
            properties["labels"] = {"visible": True}
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
@OUTPUT_OPTION
def main(env: str, output: str | None) -> None:
    """Print the CloudWatch dashboard body for an environment (Terraform deploys this file)."""
    text = dashboard_json(load_settings(environ={}, env=env, backend="aws"))
    emit(text, output)


if __name__ == "__main__":
    main()
