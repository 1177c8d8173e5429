"""Live widget data: the widget spec evaluated over the metrics port.

The same `WIDGETS` spec that renders the CloudWatch dashboard drives the web dashboard, so the
two cannot drift: base series are read with `MetricsSink.query` (local SQLite table or
CloudWatch), derived series are computed point by point with `widgets.evaluate_columns`, CloudWatch's
metric-math arithmetic (a missing input or a zero divisor gives a gap, not a made-up value).

Time handling mirrors CloudWatch's `periodOverride: auto`: a widget keeps its own period
unless the chosen range would give more than `MAX_POINTS` points, then the period grows to
the next "nice" period. Buckets are aligned to multiples of the period since the epoch (as
both metrics adapters bucket), and for short periods only complete buckets are shown, so the
right edge of a 1-second chart does not dip for the second still being counted.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fraud_pipeline.dashboard import history
from fraud_pipeline.dashboard.warehouse import WarehouseReader
from fraud_pipeline.dashboard.widgets import (
    WIDGETS,
    Series,
    Widget,
    WidgetSpecError,
    evaluate_columns,
    evaluation_order,
    resource_names,
    validate,
)
from fraud_pipeline.metrics import MetricsError, MetricsSink
from fraud_pipeline.metrics.base import MetricPoint
from fraud_pipeline.settings import Settings

MAX_POINTS = 900
MIN_RANGE_S = 60
MAX_RANGE_S = 7 * 86400
DEFAULT_RANGE_S = 900
MIN_END_MS = 946_684_800_000  # 2000-01-01
MAX_END_MS = 4_102_444_800_000  # 2100-01-01
NICE_PERIODS_S: tuple[int, ...] = (1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
# Periods up to this are drawn from complete buckets only (the current one is still filling).
COMPLETE_BUCKETS_UP_TO_S = 10
LAST_MINUTE_S = 60
# Stats whose per-bucket values combine exactly into one total over a range.
_COMBINE: dict[str, Callable[[Iterable[float]], float]] = {
    "Sum": sum,
    "SampleCount": sum,
    "Maximum": max,
    "Minimum": min,
}


class DashboardRequestError(ValueError):
    """A request the dashboard cannot answer as asked (bad range, unknown widget); a 4xx."""


class SeriesUnavailable(RuntimeError):
    """The metrics backend failed while reading a series; a 5xx with the backend's message."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open window [start_ms, end_ms) of whole periods."""

    start_ms: int
    end_ms: int
    period_s: int

    @property
    def timestamps(self) -> list[int]:
        step = self.period_s * 1000
        return list(range(self.start_ms, self.end_ms, step))


def widget_by_key(key: str, widgets: Iterable[Widget] = WIDGETS) -> Widget:
    for widget in widgets:
        if widget.key == key:
            return widget
    raise DashboardRequestError(f"unknown widget {key!r}; known: {[w.key for w in widgets]}")


def check_range(range_s: int) -> int:
    if not MIN_RANGE_S <= range_s <= MAX_RANGE_S:
        raise DashboardRequestError(f"range must be between {MIN_RANGE_S} and {MAX_RANGE_S} seconds")
    return range_s


def check_end(end_ms: int) -> int:
    """A pinned window end must be a plausible epoch-milliseconds time (years 2000..2100)."""
    if not MIN_END_MS <= end_ms <= MAX_END_MS:
        raise DashboardRequestError(f"end must be epoch milliseconds between {MIN_END_MS} and {MAX_END_MS}")
    return end_ms


def effective_period(widget_period_s: int, range_s: int, max_points: int = MAX_POINTS) -> int:
    """The widget's period, or the smallest nice period keeping the range within `max_points`."""
    needed = max(widget_period_s, math.ceil(range_s / max_points))
    for period in NICE_PERIODS_S:
        if period >= needed:
            return period
    return needed


def time_window(range_s: int, now_ms: int, period_s: int) -> TimeWindow:
    """Whole-period window ending at `now_ms`: complete buckets for short periods, else up to now."""
    step = period_s * 1000
    end_ms = (now_ms // step) * step if period_s <= COMPLETE_BUCKETS_UP_TO_S else -(-now_ms // step) * step
    start_ms = ((end_ms - range_s * 1000) // step) * step
    return TimeWindow(start_ms, end_ms, period_s)


def _fill(template: str, names: Mapping[str, str]) -> str:
    try:
        return template.format(**names)
    except (KeyError, IndexError, ValueError):
        return template


def series_dimensions(series: Series, settings: Settings) -> dict[str, str]:
    """The series' dimension set with the spec's `{placeholders}` filled from settings.

    AWS service metrics (Lambda, Kinesis, SQS) exist only per dimension; the local stand-ins
    (the event-source-mapping poller) publish them under the same names and dimensions.
    """
    names = resource_names(settings)
    return {name: _fill(value, names) for name, value in series.dimensions}


def series_namespace(series: Series, settings: Settings) -> str:
    return series.namespace or settings.metric_namespace


def _query(
    metrics: MetricsSink, settings: Settings, series: Series, widget: Widget, window: TimeWindow
) -> list[MetricPoint]:
    assert series.metric is not None
    try:
        return metrics.query(
            series_namespace(series, settings),
            series.metric,
            window.start_ms,
            window.end_ms,
            window.period_s,
            series.stat or widget.stat,
            series_dimensions(series, settings) or None,
        )
    except (MetricsError, sqlite3.Error, OSError) as exc:  # the backend's failure, not the request's
        raise SeriesUnavailable(f"{widget.key}/{series.id}: {exc}") from exc


def _series_meta(series: Series, widget: Widget, settings: Settings) -> dict[str, Any]:
    return {
        "id": series.id,
        "label": series.label,
        "visible": series.visible,
        "color": series.color,
        "derived": series.derived,
        "expression": series.expression,
        "metric": series.metric,
        "namespace": None if series.derived else series_namespace(series, settings),
        "stat": None if series.derived else (series.stat or widget.stat),
        "note": None,
        "dimensions": series_dimensions(series, settings),
    }


def _derive(
    widget: Widget, base: Mapping[str, list[float | None]], length: int
) -> dict[str, list[float | None]]:
    """Derived series, each after the series it reads (an expression may read another)."""
    values: dict[str, list[float | None]] = dict(base)
    for series in evaluation_order(widget):
        assert series.expression is not None
        values[series.id] = evaluate_columns(series.expression, values, length)
    return values


def _known_ids(widget: Widget) -> set[str]:
    return {s.id for s in widget.series}


def widget_series(
    widget: Widget,
    metrics: MetricsSink,
    settings: Settings,
    *,
    range_s: int,
    now_ms: int,
    warehouse: WarehouseReader | None = None,
) -> dict[str, Any]:
    """A time-series widget's data: one shared timestamp axis, one value list per series.

    Hidden series are included (flagged `visible: false`) so a reader can check the arithmetic.
    Whole-range widgets (single values, pies) get one bucket spanning the range, as CloudWatch's
    `setPeriodToTimeRange` gives them. With a `warehouse`, a seed widget's range longer than the
    live metrics keep reads its older part from the dbt marts (`history`), in periods of at
    least a minute; `history` in the answer says up to when, `note` why it could not.
    """
    check_range(range_s)
    if widget.whole_range:
        return _whole_range_series(
            widget, metrics, settings, range_s=range_s, now_ms=now_ms, warehouse=warehouse
        )
    from_marts = warehouse is not None and history.reads_marts(widget, range_s)
    period = effective_period(
        max(widget.period, history.MART_PERIOD_S) if from_marts else widget.period, range_s
    )
    window = time_window(range_s, now_ms, period)
    stamps = window.timestamps
    index = {ts: i for i, ts in enumerate(stamps)}
    base: dict[str, list[float | None]] = {s.id: [None] * len(stamps) for s in widget.base_series}
    live = window
    source: dict[str, Any] | None = None
    note: str | None = None
    if from_marts:
        assert warehouse is not None
        boundary = min(window.end_ms, max(window.start_ms, history.live_boundary_ms(now_ms, period)))
        try:
            mart = history.mart_sums(warehouse, _base_metrics(widget), window.start_ms, boundary, period)
        except history.MartUnavailable as exc:
            note = str(exc)
        else:
            for series in widget.base_series:
                assert series.metric is not None
                for point in mart.points[series.metric]:
                    slot = index.get(point.timestamp_ms)
                    if slot is not None:
                        base[series.id][slot] = point.value
            live = TimeWindow(boundary, window.end_ms, period)
            source = _history_meta(boundary, mart)
    if live.end_ms > live.start_ms:
        for series in widget.base_series:
            for point in _query(metrics, settings, series, widget, live):
                slot = index.get(point.timestamp_ms)
                if slot is not None and point.timestamp_ms >= live.start_ms:
                    base[series.id][slot] = point.value
    values = _derive(widget, base, len(stamps))
    return {
        "key": widget.key,
        "title": widget.title,
        "view": widget.view,
        "stacked": widget.stacked,
        "y_label": widget.y_label,
        "period_s": period,
        "start_ms": window.start_ms,
        "end_ms": window.end_ms,
        "timestamps": stamps,
        "history": source,
        "note": note,
        "series": [
            _series_meta(s, widget, settings) | {"values": [_finite(v) for v in values[s.id]]}
            for s in widget.series
        ],
    }


def _base_metrics(widget: Widget) -> list[str]:
    return list(dict.fromkeys(s.metric for s in widget.base_series if s.metric is not None))


def _history_meta(until_ms: int, mart: history.MartPoints) -> dict[str, Any]:
    """Where the older part of an answer came from (the page says so beside the chart)."""
    return {"relation": history.MART, "until_ms": until_ms, "as_of_ms": mart.as_of_ms, "stale": mart.stale}


def _whole_range_series(
    widget: Widget,
    metrics: MetricsSink,
    settings: Settings,
    *,
    range_s: int,
    now_ms: int,
    warehouse: WarehouseReader | None = None,
) -> dict[str, Any]:
    start_ms = now_ms - range_s * 1000
    totals, source, note = _totals(
        widget, metrics, settings, start_ms=start_ms, end_ms=now_ms, warehouse=warehouse
    )
    return {
        "key": widget.key,
        "title": widget.title,
        "view": widget.view,
        "stacked": widget.stacked,
        "y_label": widget.y_label,
        "period_s": range_s,
        "start_ms": start_ms,
        "end_ms": now_ms,
        "timestamps": [start_ms],
        "history": source,
        "note": note,
        "series": [_series_meta(s, widget, settings) | {"values": [totals[s.id]]} for s in widget.series],
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _total(points: list[MetricPoint], stat: str) -> float | None:
    """One value over a range from its buckets; non-additive stats keep the newest bucket."""
    if not points:
        return None
    combine = _COMBINE.get(stat)
    if combine is None:
        return points[-1].value
    return float(combine(p.value for p in points))


def widget_totals(
    widget: Widget,
    metrics: MetricsSink,
    settings: Settings,
    *,
    start_ms: int,
    end_ms: int,
    warehouse: WarehouseReader | None = None,
) -> dict[str, float | None]:
    """Every series of a widget reduced to one value over [start_ms, end_ms) (singleValue view).

    Base series are queried with one period covering the range (rounded up to a whole minute,
    which CloudWatch requires for data older than three hours) and their buckets combined;
    derived series are evaluated on those totals, so a fraud % is total fraud / total posts,
    not an average of per-second percentages. With a `warehouse`, a seed widget's range longer
    than the live metrics keep adds the mart's minutes before the live part (to the minute).
    """
    return _totals(widget, metrics, settings, start_ms=start_ms, end_ms=end_ms, warehouse=warehouse)[0]


def _totals(
    widget: Widget,
    metrics: MetricsSink,
    settings: Settings,
    *,
    start_ms: int,
    end_ms: int,
    warehouse: WarehouseReader | None,
) -> tuple[dict[str, float | None], dict[str, Any] | None, str | None]:
    live_start = start_ms
    older: dict[str, float] = {}
    source: dict[str, Any] | None = None
    note: str | None = None
    range_s = (end_ms - start_ms) // 1000
    if warehouse is not None and history.reads_marts(widget, range_s):
        boundary = max(start_ms, history.live_boundary_ms(end_ms, history.MART_PERIOD_S))
        try:
            span_s = max(1, -(-(boundary - start_ms) // 1000))
            mart = history.mart_sums(warehouse, _base_metrics(widget), start_ms, boundary, span_s)
        except history.MartUnavailable as exc:
            note = str(exc)
        else:
            older = {m: sum(p.value for p in points) for m, points in mart.points.items() if points}
            live_start = boundary
            source = _history_meta(boundary, mart)
    base: dict[str, float | None] = {}
    if end_ms > live_start:
        period = max(60, -(-(end_ms - live_start) // 60_000) * 60)
        window = TimeWindow(live_start, end_ms, period)
        for series in widget.base_series:
            points = _query(metrics, settings, series, widget, window)
            base[series.id] = _total(points, series.stat or widget.stat)
    for series in widget.base_series:  # only Sum counters come from the mart: they add up
        assert series.metric is not None
        if series.metric in older:
            live_value = base.get(series.id)
            base[series.id] = older[series.metric] + (live_value or 0.0)
        base.setdefault(series.id, None)
    totals = {sid: [value] for sid, value in base.items()}
    derived = _derive(widget, totals, 1)
    return {sid: _finite(derived[sid][0]) for sid in _known_ids(widget)}, source, note


def headline(
    metrics: MetricsSink,
    settings: Settings,
    *,
    range_s: int,
    now_ms: int,
    widgets: Iterable[Widget] = WIDGETS,
    warehouse: WarehouseReader | None = None,
) -> dict[str, Any]:
    """Headline numbers: each headline widget over the chosen range and over the last minute.

    `per_second` holds the last minute's Sum-based base series divided by 60 (posts/s, fraud/s).
    """
    check_range(range_s)
    cards: list[dict[str, Any]] = []
    for widget in widgets:
        if not widget.headline:
            continue
        over_range = widget_totals(
            widget, metrics, settings, start_ms=now_ms - range_s * 1000, end_ms=now_ms, warehouse=warehouse
        )
        last_minute = widget_totals(
            widget, metrics, settings, start_ms=now_ms - LAST_MINUTE_S * 1000, end_ms=now_ms
        )
        for series in widget.series:
            if not series.visible:
                continue
            additive = not series.derived and (series.stat or widget.stat) == "Sum"
            rate = last_minute[series.id]
            cards.append(
                _series_meta(series, widget, settings)
                | {
                    "widget": widget.key,
                    "range_value": over_range[series.id],
                    "last_minute_value": rate,
                    "per_second": None if not additive or rate is None else rate / LAST_MINUTE_S,
                }
            )
    return {"range_s": range_s, "now_ms": now_ms, "cards": cards}


def spec_json(settings: Settings, widgets: tuple[Widget, ...] = WIDGETS) -> list[dict[str, Any]]:
    """The widget spec as the page needs it (the CloudWatch body is rendered from the same list)."""
    try:
        validate(widgets)
    except WidgetSpecError as exc:  # a broken spec is a deploy bug; say so plainly
        raise RuntimeError(f"widget spec is invalid: {exc}") from exc
    return [
        {
            "key": w.key,
            "title": w.title,
            "view": w.view,
            "stacked": w.stacked,
            "whole_range": w.whole_range,
            "headline": w.headline,
            "stat": w.stat,
            "period_s": w.period,
            "y_label": w.y_label,
            "width": w.width,
            "height": w.height,
            "series": [_series_meta(s, w, settings) for s in w.series],
        }
        for w in widgets
    ]
