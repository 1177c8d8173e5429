"""Metrics in Lambda: CloudWatch embedded metric format (EMF) JSON lines on stdout.

In Lambda, printing an EMF document is how metrics reach CloudWatch without an API call
per invocation (CloudWatch Logs extracts them asynchronously). One document per
(timestamp, dimension set); repeated names become value arrays. Limits from the EMF
specification: at most 100 metrics per directive and 100 values per metric, so larger
groups are split across documents. Querying is not possible from here: use CloudWatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from fraud_pipeline.metrics import MetricsError, check_data
from fraud_pipeline.metrics.base import MetricDatum, MetricPoint

MAX_METRICS_PER_DOCUMENT = 100
MAX_VALUES_PER_METRIC = 100


class EmfMetricsSink:
    def __init__(self, write: Callable[[str], Any] = print, clock: Callable[[], float] = time.time) -> None:
        self._write = write
        self._clock = clock

    def documents(self, namespace: str, data: list[MetricDatum]) -> list[dict[str, Any]]:
        """The EMF documents for `data` (what `put` writes, one per line)."""
        check_data(namespace, data)
        now_ms = int(self._clock() * 1000)
        groups: dict[tuple[int, tuple[tuple[str, str], ...]], list[MetricDatum]] = {}
        for datum in data:
            key = (datum.timestamp_ms or now_ms, tuple(sorted(datum.dimensions.items())))
            groups.setdefault(key, []).append(datum)
        documents: list[dict[str, Any]] = []
        for (timestamp_ms, dims), group in groups.items():
            values: dict[str, list[float]] = {}
            units: dict[str, str] = {}
            for datum in group:
                if datum.name in dict(dims) or datum.name == "_aws":
                    raise MetricsError(f"metric name {datum.name!r} collides with a dimension or _aws")
                values.setdefault(datum.name, []).append(float(datum.value))
                units.setdefault(datum.name, datum.unit)
            pending = {name: list(v) for name, v in values.items()}
            while pending:
                names = list(pending)[:MAX_METRICS_PER_DOCUMENT]
                document: dict[str, Any] = {
                    "_aws": {
                        "Timestamp": timestamp_ms,
                        "CloudWatchMetrics": [
                            {
                                "Namespace": namespace,
                                "Dimensions": [[k for k, _ in dims]],
                                "Metrics": [
                                    {"Name": n, "Unit": units[n], "StorageResolution": 1} for n in names
                                ],
                            }
                        ],
                    },
                    **dict(dims),
                }
                for name in names:
                    chunk, rest = pending[name][:MAX_VALUES_PER_METRIC], pending[name][MAX_VALUES_PER_METRIC:]
                    document[name] = chunk[0] if len(chunk) == 1 else chunk
                    if rest:
                        pending[name] = rest
                    else:
                        del pending[name]
                documents.append(document)
        return documents

    def put(self, namespace: str, data: list[MetricDatum]) -> None:
        for document in self.documents(namespace, data):
            self._write(orjson.dumps(document).decode())

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
        raise MetricsError(
            "the EMF sink writes metrics into Lambda's log stream and cannot read them back; "
            "query CloudWatch (CloudWatchMetricsSink) instead"
        )

    def close(self) -> None:
        """Nothing buffered: every put is written at once."""
