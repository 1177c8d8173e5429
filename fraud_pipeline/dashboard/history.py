"""The seed's counters from the dbt marts, for ranges longer than the live metrics keep.

CloudWatch keeps 1-second data points for three hours (`HIGH_RESOLUTION_RETENTION_S`); older
data exists only as 1-minute and coarser roll-ups, and a period under a minute finds nothing
there. The lake keeps every post, and dbt rolls the same six counters up per minute by scoring
time (`seed_metrics_per_minute`). So when a seed widget's range is longer than the live metrics
keep, the part of the range older than that is read from this mart and the newest part from the
metrics port, in whole periods of at least a minute; derived series are then computed from both
alike with the spec's metric-math arithmetic.

Only widgets whose every base series is one of the seed's six counters (Sum, the pipeline's own
namespace) can be answered from the mart; the others (latency, lag, Lambda health) stay on the
metrics port.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from fraud_pipeline.dashboard.warehouse import WarehouseBusy, WarehouseMissing, WarehouseReader
from fraud_pipeline.dashboard.widgets import OWN_NAMESPACE, Widget
from fraud_pipeline.metrics.base import HIGH_RESOLUTION_RETENTION_S, MetricPoint

MART = "seed_metrics_per_minute"
MART_PERIOD_S = 60  # the mart's rows are whole minutes
# The mart's column for each seed metric (dbt/models/marts/seed_metrics_per_minute.sql).
MART_COLUMNS: dict[str, str] = {
    "Post-Processed": "post_processed",
    "Post-Text-Only": "post_text_only",
    "Post-Is-Fraud": "post_is_fraud",
    "Post-Fraud-Both": "post_fraud_both",
    "Post-Fraud-Media": "post_fraud_media",
    "Post-Fraud-Text": "post_fraud_text",
}
BUILD_HINT = f"{MART} not built yet (run `fraud-pipeline backfill`): older points come from the live metrics"


class MartUnavailable(RuntimeError):
    """The mart cannot be read now (not built, warehouse busy, query failed); the message says why."""


@dataclass(frozen=True, slots=True)
class MartPoints:
    """Per-bucket sums of the seed counters read from the mart, and how current the snapshot was."""

    points: dict[str, list[MetricPoint]]
    as_of_ms: int
    stale: bool


def answerable_from_marts(widget: Widget) -> bool:
    """True when every base series of the widget is a seed counter summed in our own namespace."""
    return all(
        s.namespace is OWN_NAMESPACE and s.metric in MART_COLUMNS and (s.stat or widget.stat) == "Sum"
        for s in widget.base_series
    )


def reads_marts(widget: Widget, range_s: int, retention_s: int = HIGH_RESOLUTION_RETENTION_S) -> bool:
    """A range longer than the live metrics keep, for a widget the mart can answer."""
    return range_s > retention_s and answerable_from_marts(widget)


def live_boundary_ms(now_ms: int, period_s: int, retention_s: int = HIGH_RESOLUTION_RETENTION_S) -> int:
    """The first bucket start the live metrics still hold at full resolution (a whole period)."""
    step = period_s * 1000
    return -(-(now_ms - retention_s * 1000) // step) * step


def mart_sums(
    reader: WarehouseReader, metrics: list[str], start_ms: int, end_ms: int, period_s: int
) -> MartPoints:
    """Sums of the seed counters per `period_s` bucket (counted from `start_ms`) over the mart's
    minutes in [start_ms, end_ms); a minute belongs to the bucket its start falls in."""
    unknown = [m for m in metrics if m not in MART_COLUMNS]
    if unknown:
        raise ValueError(f"not seed counters: {unknown}")
    step = period_s * 1000
    sums = ", ".join(f"sum({MART_COLUMNS[m]})" for m in metrics)
    try:
        with reader.session() as session:
            present = session.tables()
            if MART not in present:
                raise MartUnavailable(BUILD_HINT)
            relation = f'"{present[MART]}"."{MART}"'
            result = session.query(
                f"SELECT ? + (epoch_ms(ts) - ?) // ? * ? AS bucket, {sums} FROM {relation} "
                "WHERE epoch_ms(ts) >= ? AND epoch_ms(ts) < ? GROUP BY bucket ORDER BY bucket",
                [start_ms, start_ms, step, step, start_ms, end_ms],
            )
    except WarehouseMissing as exc:
        raise MartUnavailable(BUILD_HINT) from exc
    except WarehouseBusy as exc:
        raise MartUnavailable(f"{MART}: {exc}") from exc
    except duckdb.Error as exc:
        raise MartUnavailable(f"{MART} could not be read: {exc}") from exc
    points: dict[str, list[MetricPoint]] = {m: [] for m in metrics}
    for row in result.rows:
        bucket = int(row[0])
        for metric, value in zip(metrics, row[1:], strict=True):
            if value is not None:
                points[metric].append(MetricPoint(bucket, float(value)))
    return MartPoints(points, result.snapshot_mtime_ms, result.stale)
