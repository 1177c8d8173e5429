"""The AWS metrics adapter: CloudWatch put_metric_data / get_metric_data.

High-resolution (StorageResolution=1) data points, sent in API-sized batches. `query`
reads one metric without dimensions through a MetricStat query, paginated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraud_pipeline.aws import aws_client
from fraud_pipeline.metrics import MetricsError, check_data, check_stat
from fraud_pipeline.metrics.base import MetricDatum, MetricPoint

MAX_DATA_PER_PUT = 1000


def cloudwatch_client(region: str, endpoint_url: str | None) -> Any:
    return aws_client("cloudwatch", region, endpoint_url)


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class CloudWatchMetricsSink:
    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, namespace: str, data: list[MetricDatum]) -> None:
        check_data(namespace, data)
        now = datetime.now(tz=UTC)
        items = [
            {
                "MetricName": d.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(d.dimensions.items())],
                "Timestamp": _ms_to_dt(d.timestamp_ms) if d.timestamp_ms else now,
                "Value": float(d.value),
                "Unit": d.unit,
                "StorageResolution": 1,
            }
            for d in data
        ]
        for start in range(0, len(items), MAX_DATA_PER_PUT):
            try:
                self.client.put_metric_data(
                    Namespace=namespace, MetricData=items[start : start + MAX_DATA_PER_PUT]
                )
            except (ClientError, BotoCoreError) as exc:
                raise MetricsError(f"put_metric_data to {namespace!r} failed: {exc}") from exc

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
        check_stat(stat, period_s)
        query = {
            "Id": "m0",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in sorted((dimensions or {}).items())],
                },
                "Period": period_s,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        points: dict[int, float] = {}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [query],
            "StartTime": _ms_to_dt(start_ms),
            "EndTime": _ms_to_dt(end_ms),
            "ScanBy": "TimestampAscending",
        }
        try:
            while True:
                response = self.client.get_metric_data(**kwargs)
                for result in response.get("MetricDataResults", []):
                    for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
                        if value is not None:
                            points[int(ts.timestamp() * 1000)] = float(value)
                token = response.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise MetricsError(f"get_metric_data for {namespace}/{name} failed: {exc}") from exc
        return [MetricPoint(ts, v) for ts, v in sorted(points.items())]

    def close(self) -> None:
        self.client.close()
