"""The metrics port: local table and CloudWatch (moto server), plus EMF output in Lambda."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import orjson
import pytest

from fraud_pipeline.metrics import CLOUDWATCH_UNITS, MetricDatum, MetricsError, MetricsSink, open_metrics
from fraud_pipeline.metrics.emf import EmfMetricsSink
from fraud_pipeline.metrics.local import LocalMetricsSink, percentile
from fraud_pipeline.settings import Settings

NS = "fraud-detect-test"


@pytest.fixture(params=["local", pytest.param("aws", marks=pytest.mark.moto)])
def settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    return request.getfixturevalue("local_settings" if request.param == "local" else "aws_settings")


@pytest.fixture()
def sink(settings: Settings) -> Iterator[MetricsSink]:
    s = open_metrics(settings)
    yield s
    s.close()


def _period_start(period_s: int = 60, back_periods: int = 5) -> int:
    now_ms = int(time.time() * 1000)
    return (now_ms - now_ms % (period_s * 1000)) - back_periods * period_s * 1000


def test_put_then_query_buckets_by_period(sink: MetricsSink, settings: Settings) -> None:
    namespace = settings.metric_namespace
    start = _period_start()
    data = [
        MetricDatum("Post-Processed", 1, "Count", start + 1_000),
        MetricDatum("Post-Processed", 2, "Count", start + 59_000),
        MetricDatum("Post-Processed", 4, "Count", start + 60_000),
        MetricDatum("Post-Processed", 8, "Count", start + 180_500),
        MetricDatum("Post-Is-Fraud", 100, "Count", start + 1_000),  # another metric: not summed in
    ]
    sink.put(namespace, data)
    end = start + 300_000
    assert [
        (p.timestamp_ms - start, p.value) for p in sink.query(namespace, "Post-Processed", start, end)
    ] == [
        (0, 3.0),
        (60_000, 4.0),
        (180_000, 8.0),
    ]
    maxima = sink.query(namespace, "Post-Processed", start, end, stat="Maximum")
    assert [p.value for p in maxima] == [2.0, 4.0, 8.0]
    counts = sink.query(namespace, "Post-Processed", start, end, period_s=120, stat="SampleCount")
    assert [(p.timestamp_ms - start, p.value) for p in counts] == [(0, 3.0), (120_000, 1.0)]
    averages = sink.query(namespace, "Post-Processed", start, start + 60_000, stat="Average")
    assert [p.value for p in averages] == [1.5]
    assert sink.query(namespace, "Post-Processed", end, end + 60_000) == []


def test_one_second_resolution(sink: MetricsSink, settings: Settings) -> None:
    start = _period_start(60, 2)
    data = [MetricDatum("Scoring-Latency-Ms", v, "Milliseconds", start + v) for v in (10, 20, 1_500)]
    sink.put(settings.metric_namespace, data)
    points = sink.query(settings.metric_namespace, "Scoring-Latency-Ms", start, start + 10_000, period_s=1)
    assert [(p.timestamp_ms - start, p.value) for p in points] == [(0, 30.0), (1_000, 1_500.0)]


def test_more_than_one_api_batch(sink: MetricsSink, settings: Settings) -> None:
    start = _period_start()
    sink.put(
        settings.metric_namespace,
        [MetricDatum("Post-Text-Only", 1, "Count", start + i) for i in range(1_500)],
    )
    points = sink.query(settings.metric_namespace, "Post-Text-Only", start, start + 60_000)
    assert [p.value for p in points] == [1_500.0]


def test_bad_data_is_rejected_before_sending(sink: MetricsSink, settings: Settings) -> None:
    for bad in (
        MetricDatum("Post-Processed", float("nan")),
        MetricDatum("Post-Processed", float("inf")),
        MetricDatum("Post-Processed", 1, unit="Widgets"),
        MetricDatum("", 1),
        MetricDatum("Post-Processed", 1, dimensions={f"d{i}": "x" for i in range(31)}),
    ):
        with pytest.raises(MetricsError):
            sink.put(settings.metric_namespace, [MetricDatum("Post-Processed", 1), bad])
    with pytest.raises(MetricsError, match="statistic"):
        sink.query(settings.metric_namespace, "Post-Processed", 0, 1, stat="Median")


def test_local_percentiles(local_settings: Settings) -> None:
    sink = LocalMetricsSink(local_settings.metrics_path)
    start = _period_start()
    sink.put(
        NS, [MetricDatum("End-To-End-Latency-Ms", float(v), "Milliseconds", start + v) for v in range(1, 201)]
    )
    assert [p.value for p in sink.query(NS, "End-To-End-Latency-Ms", start, start + 60_000, stat="p99")] == [
        198.0
    ]
    assert [p.value for p in sink.query(NS, "End-To-End-Latency-Ms", start, start + 60_000, stat="p50")] == [
        100.0
    ]
    assert percentile([5.0], 99) == 5.0
    sink.close()
    reopened = LocalMetricsSink(local_settings.metrics_path)  # durable across processes
    assert reopened.names(NS) == ["End-To-End-Latency-Ms"]
    reopened.close()


def test_a_written_local_sink_deletes_points_past_its_retention(local_settings: Settings) -> None:
    """Points older than the retention go every `purge_every_s` of a written sink's life, never
    at its first write (old points written on purpose stay until then); newer points stay."""
    now = {"wall": 1_800_000_000.0, "mono": 0.0}
    sink = LocalMetricsSink(
        local_settings.metrics_path,
        clock=lambda: now["wall"],
        retention_s=3600,
        purge_every_s=300,
        monotonic=lambda: now["mono"],
    )
    wall_ms = int(now["wall"] * 1000)
    old = [MetricDatum("Post-Processed", 1, "Count", wall_ms - 7_200_000 + i) for i in range(5)]
    recent = [MetricDatum("Post-Processed", 1, "Count", wall_ms - 60_000 + i) for i in range(3)]
    sink.put(NS, old + recent)
    assert sink.purged == 0 and _total(sink, wall_ms) == 8.0  # the first write deletes nothing
    now["mono"] = 299.0
    sink.put(NS, [MetricDatum("Post-Processed", 1, "Count", wall_ms)])
    assert sink.purged == 0 and _total(sink, wall_ms) == 9.0
    now["mono"] = 301.0
    sink.put(NS, [MetricDatum("Post-Processed", 1, "Count", wall_ms)])
    assert sink.purged == 5 and _total(sink, wall_ms) == 5.0  # only the two-hour-old points went
    reopened = LocalMetricsSink(local_settings.metrics_path)  # the deletion is committed
    assert _total(reopened, wall_ms) == 5.0
    sink.close()
    reopened.close()


def _total(sink: LocalMetricsSink, now_ms: int) -> float:
    points = sink.query(NS, "Post-Processed", now_ms - 86_400_000, now_ms + 1, period_s=86_400 * 2)
    return sum(p.value for p in points)


# -- EMF ------------------------------------------------------------------------------
# The published EMF specification's document structure, as a JSON Schema (Dimensions may
# hold an empty DimensionSet for metrics without dimensions, as the AWS EMF libraries emit).
EMF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"type": "string", "enum": sorted(CLOUDWATCH_UNITS)},
                                        "StorageResolution": {"type": "integer", "enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def _check_emf(document: dict[str, Any]) -> None:
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:  # every dimension key is a string member of the root
                assert isinstance(document[key], str)
        for metric in directive["Metrics"]:  # every metric is a number or an array of <= 100 numbers
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100 and all(isinstance(v, int | float) for v in values)


def test_emf_lines_follow_the_specification() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink(write=lines.append, clock=lambda: 1_800_000_000.5)
    sink.put(
        NS,
        [
            MetricDatum("Post-Processed", 1),
            MetricDatum("Post-Is-Fraud", 1),
            MetricDatum("Post-Processed", 1),
            MetricDatum("Scoring-Latency-Ms", 12.5, "Milliseconds", dimensions={"Model": "text"}),
            MetricDatum("Post-Error", 1, timestamp_ms=1_799_999_000_000),
        ],
    )
    documents = [orjson.loads(line) for line in lines]
    for document in documents:
        _check_emf(document)
    assert len(documents) == 3
    first = documents[0]
    assert first["_aws"]["Timestamp"] == 1_800_000_000_500
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NS and directive["Dimensions"] == [[]]
    assert directive["Metrics"] == [
        {"Name": "Post-Processed", "Unit": "Count", "StorageResolution": 1},
        {"Name": "Post-Is-Fraud", "Unit": "Count", "StorageResolution": 1},
    ]
    assert first["Post-Processed"] == [1.0, 1.0] and first["Post-Is-Fraud"] == 1.0
    with_dims = documents[1]
    assert with_dims["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Model"]]
    assert with_dims["Model"] == "text" and with_dims["Scoring-Latency-Ms"] == 12.5
    assert documents[2]["_aws"]["Timestamp"] == 1_799_999_000_000


def test_emf_splits_at_the_specification_limits() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink(write=lines.append, clock=lambda: 1_800_000_000.0)
    sink.put(NS, [MetricDatum(f"M{i}", 1) for i in range(150)] + [MetricDatum("M0", 2)] * 150)
    documents = [orjson.loads(line) for line in lines]
    for document in documents:
        _check_emf(document)
    total = sum(
        len(v) if isinstance(v, list) else 1
        for d in documents
        for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        for v in [d[m["Name"]]]
    )
    assert total == 300  # nothing dropped


def test_emf_query_is_a_clear_error() -> None:
    with pytest.raises(MetricsError, match="CloudWatch"):
        EmfMetricsSink(write=lambda _: None).query(NS, "Post-Processed", 0, 1)


def test_open_metrics_uses_emf_inside_lambda(
    aws_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fraud-detect-scorer")
    sink = open_metrics(aws_settings)
    assert isinstance(sink, EmfMetricsSink)
    sink.put(aws_settings.metric_namespace, [MetricDatum("Post-Processed", 1)])
    _check_emf(orjson.loads(capsys.readouterr().out.strip()))


def test_periods_count_from_the_query_start(sink: MetricsSink, settings: Settings) -> None:
    start = _period_start(60, 6) + 30_000  # not aligned to the minute
    sink.put(
        settings.metric_namespace,
        [MetricDatum("Post-Fraud-Text", 1, "Count", start + d) for d in (0, 59_999, 60_000)],
    )
    points = sink.query(settings.metric_namespace, "Post-Fraud-Text", start, start + 120_000)
    assert [(p.timestamp_ms - start, p.value) for p in points] == [(0, 2.0), (60_000, 1.0)]
