"""Dashboard data layer: widget series over a real local metrics store, derived series per the spec."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from fraud_pipeline.dashboard import data
from fraud_pipeline.dashboard.widgets import WIDGETS
from fraud_pipeline.metrics import MetricDatum, MetricsSink, open_metrics
from fraud_pipeline.settings import Settings
from tests.dashboard_fixtures import MetricsTruth, fill_metrics

MINUTE = 60_000


@pytest.fixture()
def end_ms() -> int:
    """A fixed 'now' a few minutes in the past, on a minute boundary plus 30.5 s."""
    now = int(time.time() * 1000) - 10 * MINUTE
    return now - now % MINUTE + 30_500


@pytest.fixture()
def truth(local_settings: Settings, end_ms: int) -> MetricsTruth:
    return fill_metrics(local_settings, end_ms, seconds=150)


@pytest.fixture()
def sink(local_settings: Settings) -> Iterator[MetricsSink]:
    s = open_metrics(local_settings)
    yield s
    s.close()


def _by_id(payload: dict[str, object]) -> dict[str, dict[str, object]]:
    return {s["id"]: s for s in payload["series"]}  # type: ignore[attr-defined,index]


def test_one_second_widget_matches_the_store_and_derives_with_media(
    truth: MetricsTruth, sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    payload = data.widget_series(
        data.widget_by_key("raw_metrics"), sink, local_settings, range_s=300, now_ms=end_ms
    )
    assert payload["period_s"] == 1
    stamps = payload["timestamps"]
    assert len(stamps) == 300 and stamps[-1] == end_ms - end_ms % 1000 - 1000  # complete seconds only
    series = _by_id(payload)
    processed, text_only = truth.per_second["Post-Processed"], truth.per_second["Post-Text-Only"]
    for i, ts in enumerate(stamps):
        assert series["processed"]["values"][i] == processed.get(ts)  # type: ignore[index]
        expected_media = processed[ts] - text_only[ts] if ts in processed else None
        assert series["with_media"]["values"][i] == expected_media  # type: ignore[index]
    assert (
        series["with_media"]["derived"] is True
        and series["with_media"]["expression"] == "processed - text_only"
    )
    assert sum(v is not None for v in series["processed"]["values"]) == 150  # type: ignore[attr-defined]


def test_fraud_ratio_percentages_are_shares_of_posts_per_second(
    truth: MetricsTruth, sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    """FraudRatio: % Fraud-Both / -Media-Only / -Text-Only of all posts (they add up to % Fraud)."""
    widget = data.widget_by_key("fraud_ratio")
    payload = data.widget_series(widget, sink, local_settings, range_s=300, now_ms=end_ms)
    assert payload["period_s"] == 1
    series = _by_id(payload)
    assert series["processed"]["visible"] is False  # hidden inputs travel, flagged
    assert [s["id"] for s in payload["series"] if s["visible"]] == [  # type: ignore[union-attr]
        "fraud_both_pct",
        "fraud_media_only_pct",
        "fraud_text_only_pct",
        "fraud_pct",
    ]
    checked = 0
    for i, ts in enumerate(payload["timestamps"]):  # type: ignore[arg-type]
        got = {k: series[k]["values"][i] for k in series}  # type: ignore[index]
        if ts not in truth.per_second["Post-Processed"]:
            assert got["fraud_pct"] is None
            continue
        at = {name: truth.per_second[name][ts] for name in truth.per_second}
        processed, fraud, both = at["Post-Processed"], at["Post-Is-Fraud"], at["Post-Fraud-Both"]
        checked += 1
        assert got["fraud_pct"] == pytest.approx(100 * fraud / processed)
        assert got["fraud_both_pct"] == pytest.approx(100 * both / processed)
        assert got["fraud_media_only_pct"] == pytest.approx(100 * (at["Post-Fraud-Media"] - both) / processed)
        assert got["fraud_text_only_pct"] == pytest.approx(100 * (at["Post-Fraud-Text"] - both) / processed)
        shares = got["fraud_both_pct"] + got["fraud_media_only_pct"] + got["fraud_text_only_pct"]
        assert shares == pytest.approx(got["fraud_pct"])  # the stacked chart tops out at % Fraud
    assert checked == 150


def test_whole_range_widgets_total_the_range_like_set_period_to_time_range(
    truth: MetricsTruth, sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    """Pies and single values: one value per series over the range, ratios of the totals."""
    start = end_ms - 300_000
    total = {name: truth.total(name, start, end_ms) for name in truth.per_second}
    pie = data.widget_series(
        data.widget_by_key("fraud_posts_pie"), sink, local_settings, range_s=300, now_ms=end_ms
    )
    assert pie["view"] == "pie" and pie["timestamps"] == [start] and pie["period_s"] == 300
    slices = {s["id"]: s["values"][0] for s in pie["series"] if s["visible"]}  # type: ignore[union-attr,index]
    both = total["Post-Fraud-Both"]
    assert slices == {
        "fraud_both": both,
        "fraud_media_only": total["Post-Fraud-Media"] - both,
        "fraud_text_only": total["Post-Fraud-Text"] - both,
        "not_fraud": total["Post-Processed"] - total["Post-Is-Fraud"],
    }
    ratios = data.widget_series(
        data.widget_by_key("fraud_ratio_values"), sink, local_settings, range_s=300, now_ms=end_ms
    )
    values = {s["id"]: s["values"][0] for s in ratios["series"]}  # type: ignore[union-attr,index]
    assert values["fraud_both_pct"] == pytest.approx(100 * both / total["Post-Processed"])
    text = data.widget_series(
        data.widget_by_key("text_only_ratio"), sink, local_settings, range_s=300, now_ms=end_ms
    )
    donut = {s["id"]: s["values"][0] for s in text["series"] if s["visible"]}  # type: ignore[union-attr,index]
    assert donut == {
        "with_media": total["Post-Processed"] - total["Post-Text-Only"],
        "text_only": total["Post-Text-Only"],
    }


def test_derived_series_leave_gaps_like_metric_math(sink: MetricsSink, local_settings: Settings) -> None:
    """A zero divisor or a missing input gives no point (CloudWatch drops it), never 0 or inf."""
    now = int(time.time() * 1000)
    base = now - now % MINUTE - 5 * MINUTE
    ns = local_settings.metric_namespace
    sink.put(
        ns, [MetricDatum("Post-Processed", 0, "Count", base), MetricDatum("Post-Is-Fraud", 0, "Count", base)]
    )
    sink.put(ns, [MetricDatum("Post-Processed", 8, "Count", base + MINUTE)])  # no Post-Is-Fraud point
    sink.put(
        ns,
        [
            MetricDatum("Post-Processed", 4, "Count", base + 2 * MINUTE),
            MetricDatum("Post-Is-Fraud", 1, "Count", base + 2 * MINUTE),
        ],
    )
    payload = data.widget_series(
        data.widget_by_key("fraud_ratio"), sink, local_settings, range_s=600, now_ms=base + 4 * MINUTE
    )
    pct = dict(zip(payload["timestamps"], _by_id(payload)["fraud_pct"]["values"], strict=True))  # type: ignore[arg-type]
    assert pct[base] is None and pct[base + MINUTE] is None and pct[base + 2 * MINUTE] == 25.0
    verdicts = data.widget_series(
        data.widget_by_key("raw_metrics"), sink, local_settings, range_s=600, now_ms=base + 4 * MINUTE
    )
    not_fraud = dict(zip(verdicts["timestamps"], _by_id(verdicts)["not_fraud"]["values"], strict=True))  # type: ignore[arg-type]
    assert not_fraud[base] == 0.0 and not_fraud[base + MINUTE] is None and not_fraud[base + 2 * MINUTE] == 3.0


def test_headline_totals_over_range_and_last_minute(
    truth: MetricsTruth, sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    result = data.headline(sink, local_settings, range_s=120, now_ms=end_ms)
    cards = {c["id"]: c for c in result["cards"]}
    assert set(cards) == {"processed", "is_fraud", "fraud_pct"}
    processed = truth.total("Post-Processed", end_ms - 120_000, end_ms)
    fraud = truth.total("Post-Is-Fraud", end_ms - 120_000, end_ms)
    assert cards["processed"]["range_value"] == processed
    assert cards["is_fraud"]["range_value"] == fraud
    assert cards["fraud_pct"]["range_value"] == pytest.approx(100 * fraud / processed)
    last_minute = truth.total("Post-Processed", end_ms - MINUTE, end_ms)
    assert cards["processed"]["last_minute_value"] == last_minute
    assert cards["processed"]["per_second"] == pytest.approx(last_minute / 60)
    assert cards["fraud_pct"]["per_second"] is None


def test_latency_percentiles_per_minute(
    truth: MetricsTruth, sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    payload = data.widget_series(
        data.widget_by_key("latency"), sink, local_settings, range_s=600, now_ms=end_ms
    )
    series = _by_id(payload)
    for i, ts in enumerate(payload["timestamps"]):
        values = sorted(v for sec, vs in truth.latencies.items() if ts <= sec < ts + MINUTE for v in vs)
        if not values:
            assert series["scoring_p99"]["values"][i] is None  # type: ignore[index]
            continue
        nearest_rank = values[max(1, math.ceil(0.99 * len(values))) - 1]
        assert series["scoring_p99"]["values"][i] == pytest.approx(nearest_rank)  # type: ignore[index]
        assert series["e2e_p50"]["values"][i] is None  # type: ignore[index]  # never written


def test_dimensioned_aws_series_read_their_own_dimension_set(
    sink: MetricsSink, local_settings: Settings, end_ms: int
) -> None:
    """Lambda/Kinesis metrics exist only per dimension (the poller publishes them as AWS does):
    the widget reads exactly the function's and the stream's series, not another's."""
    from fraud_pipeline.metrics.local import LocalMetricsSink

    sink = LocalMetricsSink(local_settings.metrics_path, allow_service_namespaces=True)  # as the poller's
    minute_start = end_ms - end_ms % MINUTE - MINUTE
    function = {"FunctionName": local_settings.scoring_function}
    sink.put(
        "AWS/Lambda",
        [
            MetricDatum("IteratorAge", 250.0, "Milliseconds", minute_start + 1000, function),
            MetricDatum("IteratorAge", 900.0, "Milliseconds", minute_start + 2000, function),
            MetricDatum(
                "IteratorAge",
                99_999.0,
                "Milliseconds",
                minute_start + 3000,
                {"FunctionName": "someone-elses-function"},
            ),
        ],
    )
    sink.put(
        "AWS/Kinesis",
        [
            MetricDatum(
                "GetRecords.IteratorAgeMilliseconds",
                40.0,
                "Milliseconds",
                minute_start + 1000,
                {"StreamName": local_settings.untagged_stream},
            )
        ],
    )
    payload = data.widget_series(
        data.widget_by_key("stream_lag"), sink, local_settings, range_s=300, now_ms=end_ms
    )
    series = _by_id(payload)
    slot = payload["timestamps"].index(minute_start)  # type: ignore[attr-defined]
    assert series["lambda_iterator_age"]["values"][slot] == 900.0  # type: ignore[index]
    assert series["untagged_iterator_age"]["values"][slot] == 40.0  # type: ignore[index]
    assert series["lambda_iterator_age"]["dimensions"] == function
    assert all(s["note"] is None for s in payload["series"])  # type: ignore[union-attr]


def test_period_grows_with_range_and_windows_are_whole_periods() -> None:
    assert data.effective_period(1, 900) == 1
    assert data.effective_period(1, 3600) == 5
    assert data.effective_period(60, 900) == 60
    assert data.effective_period(60, 7 * 86400) == 900
    for range_s in (300, 3600, 86400, 7 * 86400):
        for widget in WIDGETS:
            period = data.effective_period(widget.period, range_s)
            window = data.time_window(range_s, 1_795_000_123_456, period)
            assert len(window.timestamps) <= data.MAX_POINTS + 1
            assert window.start_ms % (period * 1000) == 0 and window.end_ms % (period * 1000) == 0
            assert window.end_ms - window.start_ms >= range_s * 1000 - period * 1000


def test_bad_requests_raise_request_errors() -> None:
    with pytest.raises(data.DashboardRequestError, match="unknown widget"):
        data.widget_by_key("nope")
    for bad in (0, 59, 8 * 86400):
        with pytest.raises(data.DashboardRequestError, match="range must be"):
            data.check_range(bad)


def test_spec_json_lists_every_widget_with_resolved_namespaces(local_settings: Settings) -> None:
    spec = data.spec_json(local_settings)
    assert [w["key"] for w in spec] == [w.key for w in WIDGETS]
    raw = {s["id"]: s for s in spec[0]["series"]}
    assert raw["processed"]["namespace"] == local_settings.metric_namespace
    assert raw["with_media"]["namespace"] is None and raw["with_media"]["derived"] is True
