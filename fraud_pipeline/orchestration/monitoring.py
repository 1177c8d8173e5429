"""Monitoring domain: the health sensor of the streaming path's external assets (declared in
`lineage.py`), their asset checks, and the run-failure sensor.

The stream-health sensor records an observation (status, shards, lag, throughput, fraud rate;
for the source, the scoring function and the raw lake what `lineage.observations` reads)
on each external asset every tick, so the Dagster UI plots them over time, and reports the
asset checks' results. The same checks can be run by hand from the UI (they read the ports).
"""

import json
import time
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    asset_check,
    run_failure_sensor,
    sensor,
)

from fraud_pipeline.lake.paths import error_object_key
from fraud_pipeline.metrics.base import MetricsSink
from fraud_pipeline.orchestration.health import (
    STALL_AFTER_S,
    FraudRate,
    StreamHealth,
    consumers,
    cursor_entry,
    fraud_rate,
    managed_consumers,
    stream_health,
)
from fraud_pipeline.orchestration.lineage import (
    MEDIA_ENDPOINT,
    TAGGED_STREAM,
    TEXT_ENDPOINT,
    UNTAGGED_STREAM,
    observations,
)
from fraud_pipeline.orchestration.resources import (
    MetricsResource,
    ModelEndpointsResource,
    ObjectStoreResource,
    PipelineResource,
    StateResource,
    StreamsResource,
)
from fraud_pipeline.policy.alarm import heartbeat_datum, jump_datum
from fraud_pipeline.policy.runtime import current_policy
from fraud_pipeline.settings import Settings

HEALTHY_ENDPOINT = ("InService", "InProcess")

# The raw lake is what the tagged stream's consumer writes.
STREAM_KEYS = {"untagged": UNTAGGED_STREAM, "tagged": TAGGED_STREAM}


def _stream_key(settings: Settings, name: str) -> AssetKey:
    return UNTAGGED_STREAM if name == settings.untagged_stream else TAGGED_STREAM


def lag_evaluation(settings: Settings, health: StreamHealth) -> tuple[bool, str | None]:
    if health.error:
        return False, f"stream {health.name} cannot be read: {health.error}"
    if health.status != "ACTIVE":
        return False, f"stream {health.name} is {health.status}"
    if health.lag_s > settings.max_consumer_lag_s:
        return False, (
            f"{health.consumer} is {health.lag_s:.0f} s behind on {health.name} "
            f"({_waiting(health)}), threshold {settings.max_consumer_lag_s:.0f} s"
        )
    return True, None


def _waiting(health: StreamHealth) -> str:
    if health.lag_source == "checkpoints":
        return f"{health.lag_records} records"
    return f"by {health.lag_source}"


def stall_evaluation(health: StreamHealth) -> tuple[bool, str | None]:
    if health.stalled:
        return False, (
            f"{health.consumer} has not advanced on {health.name} for {health.stalled_for_s:.0f} s "
            f"({_waiting(health)} waiting; stall after {STALL_AFTER_S:.0f} s)"
        )
    return True, None


def rate_evaluation(rate: FraudRate) -> tuple[bool, str | None]:
    if rate.jumped and rate.recent_rate is not None and rate.trailing_rate is not None:
        return False, (
            f"fraud rate jumped to {rate.recent_rate:.1%} over the last {rate.rule.stream_recent_s} s "
            f"from {rate.trailing_rate:.1%} over the {rate.rule.stream_baseline_s} s before"
        )
    return True, None


def _stream_metadata(health: StreamHealth) -> dict[str, Any]:
    return {
        "status": health.status,
        "shard_count": health.shard_count,
        "lag_records": health.lag_records,
        "lag_seconds": round(health.lag_s, 3),
        "stalled_seconds": round(health.stalled_for_s, 1),
        "consumer": health.consumer,
        "lag_source": health.lag_source,
    }


def read_health(
    settings: Settings,
    streams: StreamsResource,
    state: StateResource,
    sink: MetricsSink,
    previous: dict[str, Any],
    now_ms: int,
) -> list[StreamHealth]:
    """Every stream's reading; `sink` holds the managed consumers' lag metrics (on AWS)."""
    managed = managed_consumers(settings)
    with streams.open() as stream, state.open() as store:
        return [
            stream_health(stream, store, name, consumer, previous.get(name), now_ms, managed.get(name), sink)
            for name, consumer in consumers(settings).items()
        ]


def health_events(
    settings: Settings,
    healths: list[StreamHealth],
    rate: FraudRate | None,
    endpoints: dict[str, dict[str, str]],
) -> list[AssetObservation | AssetCheckEvaluation]:
    """Observations and check evaluations for one reading."""
    events: list[AssetObservation | AssetCheckEvaluation] = []
    for health in healths:
        key = _stream_key(settings, health.name)
        meta = _stream_metadata(health)
        if key == TAGGED_STREAM and rate is not None:
            meta |= {
                "posts_per_second": round(rate.posts_per_s, 3),
                "fraud_rate": round(rate.recent_rate or 0.0, 5),
                "trailing_fraud_rate": round(rate.trailing_rate or 0.0, 5),
            }
        events.append(AssetObservation(asset_key=key, metadata=meta))
        for check, (passed, why) in (
            ("consumer_lag", lag_evaluation(settings, health)),
            ("not_stalled", stall_evaluation(health)),
        ):
            events.append(
                AssetCheckEvaluation(
                    asset_key=key,
                    check_name=check,
                    passed=passed,
                    metadata=meta,
                    severity=AssetCheckSeverity.ERROR,
                    description=why,
                )
            )
    if rate is not None:
        passed, why = rate_evaluation(rate)
        events.append(
            AssetCheckEvaluation(
                asset_key=TAGGED_STREAM,
                check_name="fraud_rate_stable",
                passed=passed,
                severity=AssetCheckSeverity.WARN,
                description=why,
                metadata={
                    "fraud_rate": round(rate.recent_rate or 0.0, 5),
                    "trailing_fraud_rate": round(rate.trailing_rate or 0.0, 5),
                    "recent_posts": rate.recent_posts,
                },
            )
        )
    for name, info in endpoints.items():
        key = TEXT_ENDPOINT if name == settings.text_endpoint else MEDIA_ENDPOINT
        events.append(AssetObservation(asset_key=key, metadata={"endpoint": name, **info}))
        ok = info["status"] in HEALTHY_ENDPOINT
        events.append(
            AssetCheckEvaluation(
                asset_key=key,
                check_name="endpoint_in_service",
                passed=ok,
                severity=AssetCheckSeverity.ERROR,
                description=None if ok else f"endpoint {name} is {info['status']}: {info.get('detail', '')}",
                metadata={"status": info["status"]},
            )
        )
    return events


def publish_rate_jump(sink: MetricsSink, namespace: str, rate: FraudRate, now_ms: int) -> bool:
    """Publish the policy's rate-jump judgement as `Fraud-Rate-Jump` (the infra alarm watches
    it; nothing when the rule does not judge) beside the sensor's heartbeat (always: a second
    alarm notices a stopped sensor). True when a judgement was published."""
    datum = jump_datum(rate.rule, rate.recent_rate, rate.trailing_rate, rate.recent_posts, now_ms)
    sink.put(namespace, [heartbeat_datum(now_ms), *([datum] if datum is not None else [])])
    return datum is not None


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def stream_health_sensor(
    context: SensorEvaluationContext,
    pipeline: PipelineResource,
    streams: StreamsResource,
    state: StateResource,
    metrics: MetricsResource,
    endpoints: ModelEndpointsResource,
    lake: ObjectStoreResource,
) -> SensorResult:
    """Records the streaming path's health as observations and check results (no runs)."""
    settings = pipeline.settings()
    now_ms = int(time.time() * 1000)
    previous: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    with metrics.open() as sink, state.open() as store:
        healths = read_health(settings, streams, state, sink, previous, now_ms)
        rate = fraud_rate(
            sink, settings.metric_namespace, current_policy(settings).spec.fraud_rate_jump, now_ms
        )
        publish_rate_jump(sink, settings.metric_namespace, rate, now_ms)
        path = list(observations(settings, sink, lake.store(), store, now_ms))
    events = [*path, *health_events(settings, healths, rate, endpoints.status())]
    cursor = {h.name: cursor_entry(h, previous.get(h.name), now_ms) for h in healths}
    return SensorResult(asset_events=events, cursor=json.dumps(cursor, sort_keys=True))


def _check_result(
    settings: Settings, key: AssetKey, check: str, healths: list[StreamHealth]
) -> AssetCheckResult:
    health = next(h for h in healths if _stream_key(settings, h.name) == key)
    passed, why = lag_evaluation(settings, health) if check == "consumer_lag" else stall_evaluation(health)
    return AssetCheckResult(passed=passed, description=why, metadata=_stream_metadata(health))


def _stream_check(key: AssetKey, check: str) -> Any:
    description = (
        "Consumer lag under FRAUD_PIPELINE_MAX_CONSUMER_LAG_S"
        if check == "consumer_lag"
        else "Consumer advances while records wait"
    )

    @asset_check(asset=key, name=check, description=description)
    def run(
        pipeline: PipelineResource, streams: StreamsResource, state: StateResource, metrics: MetricsResource
    ) -> AssetCheckResult:
        settings = pipeline.settings()
        with metrics.open() as sink:
            healths = read_health(settings, streams, state, sink, {}, int(time.time() * 1000))
        return _check_result(settings, key, check, healths)

    return run


def _make_stream_checks() -> list[Any]:
    return [
        _stream_check(key, check)
        for key in (UNTAGGED_STREAM, TAGGED_STREAM)
        for check in ("consumer_lag", "not_stalled")
    ]


@asset_check(asset=TAGGED_STREAM, name="fraud_rate_stable", description="Fraud rate vs its trailing hour.")
def fraud_rate_stable(pipeline: PipelineResource, metrics: MetricsResource) -> AssetCheckResult:
    settings = pipeline.settings()
    with metrics.open() as sink:
        rate = fraud_rate(sink, settings.metric_namespace, current_policy(settings).spec.fraud_rate_jump)
    passed, why = rate_evaluation(rate)
    return AssetCheckResult(
        passed=passed,
        description=why,
        severity=AssetCheckSeverity.WARN,
        metadata={"fraud_rate": round(rate.recent_rate or 0.0, 5)},
    )


def _endpoint_check(key: AssetKey) -> Any:
    @asset_check(asset=key, name="endpoint_in_service", description="Endpoint answers (InService/InProcess).")
    def check(pipeline: PipelineResource, endpoints: ModelEndpointsResource) -> AssetCheckResult:
        settings = pipeline.settings()
        name = settings.text_endpoint if key == TEXT_ENDPOINT else settings.media_endpoint
        info = endpoints.status()[name]
        ok = info["status"] in HEALTHY_ENDPOINT
        return AssetCheckResult(
            passed=ok,
            metadata={"status": info["status"]},
            description=None if ok else f"{name} is {info['status']}: {info.get('detail', '')}",
        )

    return check


monitoring_checks = [
    *_make_stream_checks(),
    fraud_rate_stable,
    _endpoint_check(TEXT_ENDPOINT),
    _endpoint_check(MEDIA_ENDPOINT),
]
CHECK_KEYS = [
    AssetCheckKey(k, c) for k in (UNTAGGED_STREAM, TAGGED_STREAM) for c in ("consumer_lag", "not_stalled")
]


def root_message(error: Any) -> str:
    """The innermost cause of a Dagster error (the user code's exception, not the step wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(error.message).strip()


def failure_record(context: RunFailureSensorContext) -> dict[str, Any]:
    """Which job/partition failed and why (the failing step's error, not just 'run failed')."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        error = event.event_specific_data.error if event.event_specific_data else None  # type: ignore[union-attr]
        steps.append({"step": event.step_key, "error": root_message(error) if error else str(event.message)})
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition")
        or "..".join(
            filter(
                None,
                [
                    run.tags.get("dagster/asset_partition_range_start"),
                    run.tags.get("dagster/asset_partition_range_end"),
                ],
            )
        ),
        "failed_at": datetime.now(UTC).isoformat(),
        "message": context.failure_event.message,
        "steps": steps,
    }


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING, name="run_failure_sensor")
def run_failure_recorder(
    context: RunFailureSensorContext, pipeline: PipelineResource, lake: ObjectStoreResource
) -> None:
    """Records each failed run (job, partition, failing steps' errors) under errors/orchestration/."""
    record = failure_record(context)
    settings = pipeline.settings()
    key = error_object_key(
        settings.errors_prefix, "orchestration", datetime.now(UTC), f"{record['run_id']}.json"
    )
    lake.store().put_bytes(key, json.dumps(record, indent=2).encode())
    context.log.error(
        f"run {record['run_id']} ({record['job']}, partition {record['partition'] or '-'}) failed: "
        f"{record['steps'][0]['error'] if record['steps'] else record['message']}"
    )
