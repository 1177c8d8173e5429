"""Stream-health sensor: observations and check results from the real ports (local and moto)."""

from __future__ import annotations

import json
import time

import pytest
from dagster import DagsterInstance, build_sensor_context

from fraud_pipeline.metrics import open_metrics
from fraud_pipeline.metrics.base import MetricDatum
from fraud_pipeline.orchestration.monitoring import TAGGED_STREAM, UNTAGGED_STREAM, stream_health_sensor
from fraud_pipeline.orchestration.resources import build_resources
from fraud_pipeline.provision import provision
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import open_stream
from fraud_pipeline.streams.base import PutEntry


def _tick(settings: Settings, cursor: str | None):
    resources = build_resources(settings)
    names = ("pipeline", "streams", "state", "metrics", "endpoints", "lake")
    with build_sensor_context(
        cursor=cursor, instance=DagsterInstance.ephemeral(), resources={n: resources[n] for n in names}
    ) as context:
        return stream_health_sensor(context)


def _checks(result) -> dict[tuple[str, str], object]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.asset_events
        if type(e).__name__ == "AssetCheckEvaluation"
    }


@pytest.mark.parametrize("backend", ["local", "aws"])
def test_health_sensor_reports_lag_and_fraud_rate(backend: str, request: pytest.FixtureRequest) -> None:
    base: Settings = request.getfixturevalue(f"{backend}_settings")
    settings = base.with_overrides(max_consumer_lag_s=0.5)
    provision(settings)
    stream, state = open_stream(settings), open_state(settings)
    try:
        # The poller has consumed one record (a consumer with a checkpoint: read from the stream
        # on both backends), then 20 more arrive.
        (seed,) = stream.put_records(settings.untagged_stream, [PutEntry("did:plc:seed", b'{"x": 0}')])
        state.put_checkpoint(f"poller/{settings.untagged_stream}/{seed.shard_id}", seed.sequence_number)
        stream.put_records(
            settings.untagged_stream, [PutEntry(f"did:plc:{i}", b'{"x": 1}') for i in range(20)]
        )
    finally:
        stream.close()
        state.close()
    now_ms = int(time.time() * 1000)
    metrics = open_metrics(settings)
    try:
        data = []
        for minute in range(1, 60):  # a trailing hour at 5% fraud, then a jump to 50%
            data += [
                MetricDatum("Post-Processed", 100, "Count", now_ms - (minute + 5) * 60_000),
                MetricDatum("Post-Is-Fraud", 5, "Count", now_ms - (minute + 5) * 60_000),
            ]
        for minute in range(4):
            data += [
                MetricDatum("Post-Processed", 100, "Count", now_ms - minute * 60_000 - 1000),
                MetricDatum("Post-Is-Fraud", 50, "Count", now_ms - minute * 60_000 - 1000),
            ]
        for start in range(0, len(data), 20):
            metrics.put(settings.metric_namespace, data[start : start + 20])
    finally:
        metrics.close()
    time.sleep(1.0)  # the unread records are now older than the 0.5 s lag threshold

    first = _tick(settings, None)
    observations = {
        e.asset_key: e.metadata for e in first.asset_events if type(e).__name__ == "AssetObservation"
    }
    untagged = observations[UNTAGGED_STREAM]
    assert untagged["status"].value == "ACTIVE"
    assert untagged["shard_count"].value == settings.stream_shard_count
    assert untagged["lag_records"].value == 20
    assert untagged["lag_seconds"].value >= 0.5
    assert observations[TAGGED_STREAM]["lag_records"].value == 0
    assert observations[TAGGED_STREAM]["fraud_rate"].value == pytest.approx(0.5)
    checks = _checks(first)
    lag = checks[("untagged_stream", "consumer_lag")]
    assert not lag.passed and "behind" in lag.description
    assert checks[("tagged_stream", "consumer_lag")].passed
    rate = checks[("tagged_stream", "fraud_rate_stable")]
    assert not rate.passed and "jumped" in rate.description
    assert checks[("text_model_endpoint", "endpoint_in_service")].passed  # in-process model
    # The sensor published the judgement the infra alarm watches: 0.5 - max(3 x 0.05, 0.05 + 0.15).
    metrics = open_metrics(settings)
    try:
        jump = metrics.query(
            settings.metric_namespace,
            "Fraud-Rate-Jump",
            now_ms - 600_000,
            int(time.time() * 1000) + 60_000,
            period_s=60,
            stat="Maximum",
        )
    finally:
        metrics.close()
    assert [p.value for p in jump if p.value] == [pytest.approx(0.3)]

    # The poller catches up: the checkpoint moves to the shard's tip and lag clears.
    stream, state = open_stream(settings), open_state(settings)
    try:
        for shard in stream.describe(settings.untagged_stream).shard_ids:
            tip = stream.latest_sequence(settings.untagged_stream, shard)
            if tip is not None:
                state.put_checkpoint(f"poller/{settings.untagged_stream}/{shard}", tip)
    finally:
        stream.close()
        state.close()
    second = _tick(settings, first.cursor)
    assert _checks(second)[("untagged_stream", "consumer_lag")].passed
    cursor = json.loads(second.cursor)
    assert set(cursor) == {settings.untagged_stream, settings.tagged_stream}


def test_stall_is_reported_when_checkpoint_does_not_move(local_settings: Settings) -> None:
    from fraud_pipeline.orchestration import health

    provision(local_settings)
    stream, state = open_stream(local_settings), open_state(local_settings)
    try:
        stream.put_records(local_settings.tagged_stream, [PutEntry("k", b"{}") for _ in range(3)])
        now = int(time.time() * 1000)
        first = health.stream_health(stream, state, local_settings.tagged_stream, "delivery", None, now)
        entry = health.cursor_entry(first, None, now)
        later = now + int(health.STALL_AFTER_S * 1000) + 1
        second = health.stream_health(stream, state, local_settings.tagged_stream, "delivery", entry, later)
    finally:
        stream.close()
        state.close()
    assert not first.stalled and second.stalled and second.lag_records == 3


def _put_service_metric(
    settings: Settings, namespace: str, name: str, dimensions: dict[str, str], ms: int
) -> None:
    """What Lambda / Firehose publish about themselves (moto accepts the AWS/ namespaces)."""
    from datetime import UTC, datetime

    from fraud_pipeline.aws import aws_client

    client = aws_client("cloudwatch", settings.aws_region, settings.endpoint_url)
    client.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Value": float(ms),
                "Unit": "Milliseconds",
                "Timestamp": datetime.now(tz=UTC),
            }
        ],
    )


def test_managed_consumers_on_aws_are_read_from_their_own_lag_metrics(aws_settings: Settings) -> None:
    """On AWS, Lambda and Firehose keep no checkpoint of ours: records waiting in a stream
    with no checkpoint must not read as a stuck consumer; the services' lag metrics decide."""
    from fraud_pipeline.orchestration import health

    settings = aws_settings.with_overrides(max_consumer_lag_s=60)
    provision(settings)
    stream, state, metrics = open_stream(settings), open_state(settings), open_metrics(settings)
    managed = health.managed_consumers(settings)
    try:
        stream.put_records(settings.untagged_stream, [PutEntry(f"did:plc:{i}", b"{}") for i in range(5)])
        stream.put_records(settings.tagged_stream, [PutEntry(f"did:plc:{i}", b"{}") for i in range(5)])
        lam, fh = managed[settings.untagged_stream], managed[settings.tagged_stream]
        _put_service_metric(settings, lam.namespace, lam.metric, lam.dimensions, 2_000)  # healthy
        now = int(time.time() * 1000)

        def reading(name: str, previous: dict | None, at: int) -> health.StreamHealth:
            consumer = health.consumers(settings)[name]
            return health.stream_health(stream, state, name, consumer, previous, at, managed[name], metrics)

        first = reading(settings.untagged_stream, None, now)
        later = now + int(health.STALL_AFTER_S * 1000) + 1
        second = reading(settings.untagged_stream, health.cursor_entry(first, None, now), later)
        assert (
            first.lag_source == "AWS/Lambda IteratorAge"
            and first.consumer == f"lambda {settings.scoring_function}"
        )
        assert first.lag_s == pytest.approx(2.0)
        assert not second.stalled  # the checkpoint-based reading would call this a 5-minute stall

        tagged = reading(settings.tagged_stream, None, now)  # Firehose published nothing yet: idle
        assert tagged.lag_source == "AWS/Firehose KinesisMillisBehindLatest" and tagged.lag_s == 0

        _put_service_metric(settings, fh.namespace, fh.metric, fh.dimensions, 400_000)  # stuck
        behind = reading(settings.tagged_stream, {"lag_s": 350.0}, now + 1000)
        assert behind.lag_s == pytest.approx(400.0) and behind.stalled
        recovering = reading(settings.tagged_stream, {"lag_s": 450.0}, now + 1000)
        assert not recovering.stalled  # old but shrinking: catching up
    finally:
        stream.close()
        state.close()
        metrics.close()

    checks = _checks(_tick(settings, None))
    assert checks[("untagged_stream", "consumer_lag")].passed
    failed = checks[("tagged_stream", "consumer_lag")]
    assert not failed.passed and "KinesisMillisBehindLatest" in failed.description
