"""The metrics port: CloudWatch (or its embedded metric format in Lambda), or a local table.

The seed's metrics have 1-second resolution in the namespace = prefix. Each data point is a
name, a value, a unit and a timestamp; dimensions are optional. `query` gives sums per
period so the dashboard and the Dagster stream-health sensor read both backends alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

SEED_METRICS: tuple[str, ...] = (
    "Post-Processed",
    "Post-Text-Only",
    "Post-Is-Fraud",
    "Post-Fraud-Both",
    "Post-Fraud-Media",
    "Post-Fraud-Text",
)
# How long the metrics port promises data points at the seed's 1-second resolution. CloudWatch
# keeps high-resolution points for 3 hours (then 1-minute roll-ups for 15 days, 5-minute for 63,
# 1-hour for 455); the local table keeps a day of points (LOCAL_RETENTION_S) but promises no
# more than CloudWatch. The dashboard reads ranges longer than
# this from the dbt marts (fraud_pipeline/dashboard/history.py).
HIGH_RESOLUTION_RETENTION_S = 3 * 3600
# The local metrics table deletes points older than this, so a laptop left running does not
# grow it without end (a few million rows a day at four shards). Longer than any window the
# live path reads from it: the dashboard's high-resolution range above, the health sensor's
# rate-jump baseline (an hour).
LOCAL_RETENTION_S = 24 * 3600
# How often a local sink that is being written deletes what fell out of that retention.
LOCAL_PURGE_EVERY_S = 300.0
# Added by this project beside the seed's metrics.
PIPELINE_METRICS: tuple[str, ...] = (
    "Post-Deleted",
    "Post-Error",
    "Text-Model-Unavailable",
    "Media-Model-Unavailable",
    "Scoring-Latency-Ms",
    "End-To-End-Latency-Ms",
    # With media_images on (docs/media.md): images read, served from the CID cache, not read
    # (in all, and per Reason dimension).
    "Media-Images-Read",
    "Media-Cache-Hits",
    "Media-Images-Unavailable",
    "Media-Unavailable",
)


@dataclass(frozen=True, slots=True)
class MetricDatum:
    name: str
    value: float
    unit: str = "Count"  # Count | Milliseconds | Seconds | Percent | None
    timestamp_ms: int = 0
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    timestamp_ms: int  # start of the period
    value: float


@runtime_checkable
class MetricsSink(Protocol):
    def put(self, namespace: str, data: list[MetricDatum]) -> None: ...

    def query(
        self,
        namespace: str,
        name: str,
        start_ms: int,
        end_ms: int,
        period_s: int = 60,
        stat: str = "Sum",
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricPoint]:
        """Aggregated points (stat = Sum | Average | Maximum | p99) per period, oldest first.

        With `dimensions`, only the series with exactly that dimension set (as CloudWatch
        keeps each dimension set as its own metric).
        """
        ...

    def close(self) -> None: ...
