"""The metrics port and its adapters: `open_metrics(settings)` picks CloudWatch, EMF or the local table.

Validation shared by every adapter lives here, so a bad data point fails the same clear way
locally as CloudWatch would reject it.
"""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING

from fraud_pipeline.metrics.base import PIPELINE_METRICS, SEED_METRICS, MetricDatum, MetricPoint, MetricsSink

if TYPE_CHECKING:
    from fraud_pipeline.settings import Settings

__all__ = [
    "CLOUDWATCH_UNITS",
    "PIPELINE_METRICS",
    "SEED_METRICS",
    "MetricDatum",
    "MetricPoint",
    "MetricsError",
    "MetricsSink",
    "check_data",
    "check_stat",
    "open_metrics",
]

CLOUDWATCH_UNITS: frozenset[str] = frozenset(
    [
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
        "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
        "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
        "Count/Second", "None",
    ]
)  # fmt: skip
MAX_DIMENSIONS = 30
MAX_NAME_CHARS = 255
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
SIMPLE_STATS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")


class MetricsError(ValueError):
    """A data point or query CloudWatch would reject, or a sink that cannot do what was asked."""


def check_data(namespace: str, data: list[MetricDatum], allow_service_namespaces: bool = False) -> None:
    """Reject what CloudWatch rejects: bad namespace/name/unit, non-finite values, too many dimensions.

    `AWS/` namespaces belong to the AWS services; only the local table, which stands in for
    them too (the event-source-mapping poller publishes Lambda's metrics), may accept them.
    """
    reserved = namespace.startswith("AWS/") and not allow_service_namespaces
    if not namespace or len(namespace) > MAX_NAME_CHARS or reserved:
        raise MetricsError(f"invalid metric namespace {namespace!r}")
    for datum in data:
        if not datum.name or len(datum.name) > MAX_NAME_CHARS:
            raise MetricsError(f"invalid metric name {datum.name!r:.80}")
        if datum.unit not in CLOUDWATCH_UNITS:
            raise MetricsError(f"metric {datum.name}: unit {datum.unit!r} is not a CloudWatch unit")
        if (
            isinstance(datum.value, bool)
            or not isinstance(datum.value, int | float)
            or not math.isfinite(datum.value)
        ):
            raise MetricsError(f"metric {datum.name}: value must be a finite number, got {datum.value!r}")
        if len(datum.dimensions) > MAX_DIMENSIONS:
            raise MetricsError(f"metric {datum.name}: more than {MAX_DIMENSIONS} dimensions")
        for key, value in datum.dimensions.items():
            if not key or not value or not isinstance(key, str) or not isinstance(value, str):
                raise MetricsError(f"metric {datum.name}: bad dimension {key!r}={value!r}")


def check_stat(stat: str, period_s: int) -> None:
    if stat not in SIMPLE_STATS and not _PERCENTILE.match(stat):
        raise MetricsError(f"unknown statistic {stat!r}: use one of {SIMPLE_STATS} or a percentile like p99")
    if period_s < 1:
        raise MetricsError(f"period must be >= 1 second, got {period_s}")


def open_metrics(settings: Settings) -> MetricsSink:
    """Local table, CloudWatch, or EMF on stdout inside Lambda (adapters import lazily)."""
    if settings.backend == "aws":
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            from fraud_pipeline.metrics.emf import EmfMetricsSink

            return EmfMetricsSink(write=print)
        from fraud_pipeline.metrics.cloudwatch import CloudWatchMetricsSink, cloudwatch_client

        return CloudWatchMetricsSink(cloudwatch_client(settings.aws_region, settings.endpoint_url))
    from fraud_pipeline.metrics.local import LocalMetricsSink

    return LocalMetricsSink(settings.metrics_path)
