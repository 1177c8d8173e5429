"""Lake domain: the raw Firehose output (external), its compaction, and the landing sensor."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    DefaultSensorStatus,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    multi_asset,
    sensor,
)

from fraud_pipeline.lake.compaction import CompactionResult, compact_hour, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.automation import sensor_status
from fraud_pipeline.orchestration.landing import LandingCursor, evaluate_landing
from fraud_pipeline.orchestration.lineage import RAW_POSTS, TAGGED_STREAM
from fraud_pipeline.orchestration.open_hour import evaluate_open_hour
from fraud_pipeline.orchestration.partitions import HOURLY, hour_of
from fraud_pipeline.orchestration.resources import ObjectStoreResource, PipelineResource
from fraud_pipeline.orchestration.run_logs import JSON_LOGS_RUN_CONFIG
from fraud_pipeline.policy.runtime import current_policy
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA
from fraud_pipeline.settings import Settings

COMPACTED_POSTS = AssetKey("compacted_posts")
# The last closed hour must be compacted by :45 past the next hour: a materialization between
# :00 and :45 of every hour (the UI shows the asset's freshness; no sensor needed).
COMPACTION_FRESHNESS = FreshnessPolicy.cron(
    deadline_cron="45 * * * *", lower_bound_delta=timedelta(minutes=45)
)

raw_posts = AssetSpec(
    RAW_POSTS,
    group_name="lake",
    description=(
        "Firehose output in the lake bucket: posts/YYYY/MM/DD/HH/*.parquet (UTC arrival hour), "
        "tagged records with records.TAGGED_ARROW_SCHEMA, at-least-once, deletes as records."
    ),
    kinds={"s3", "parquet"},
    partitions_def=HOURLY,
    deps=[TAGGED_STREAM],
)

COMPACTION_CHECKS = [
    AssetCheckSpec(
        "schema_conformance",
        asset=COMPACTED_POSTS,
        description="Partition has the lake schema; no raw file was rejected.",
    ),
    AssetCheckSpec(
        "unique_uri", asset=COMPACTED_POSTS, description="Each uri appears once in the partition."
    ),
    AssetCheckSpec(
        "null_rates",
        asset=COMPACTED_POSTS,
        description="Required columns have no nulls; text-model scores mostly present.",
    ),
    AssetCheckSpec(
        "fraud_rate_anomaly",
        asset=COMPACTED_POSTS,
        description="Fraud rate is not far above the trailing 24 hours.",
    ),
]


def trailing_fraud_rate(store: ObjectStore, settings: Settings, hour, hours: int) -> tuple[float | None, int]:
    """(fraud rate, rows) over the compacted partitions of the previous `hours` hours."""
    rows = fraud = 0
    for back in range(1, hours + 1):
        key = compacted_key(settings, hour - timedelta(hours=back))
        if not store.exists(key):
            continue
        column = pq.read_table(store.path(key), filesystem=store.fs, columns=["is_fraud"]).column("is_fraud")
        rows += len(column)
        fraud += int(pc.sum(pc.fill_null(column, False)).as_py() or 0)
    return (fraud / rows if rows else None), rows


def compaction_checks(
    store: ObjectStore, settings: Settings, result: CompactionResult
) -> list[AssetCheckResult]:
    """The partition's quality checks, read back from what was written."""
    table = pq.read_table(store.path(result.key), filesystem=store.fs)
    expected = TAGGED_ARROW_SCHEMA.with_metadata(None)
    schema_ok = table.schema.equals(expected, check_metadata=False) and not result.rejected_files
    distinct = pc.count_distinct(table.column("uri")).as_py() if table.num_rows else 0
    nulls = {name: table.column(name).null_count for name in ("uri", "did", "time_utc", "operation")}
    text_null = table.column("fraud_text_likelihood").null_count / table.num_rows if table.num_rows else 0.0
    jump_rule = current_policy(settings).spec.fraud_rate_jump  # the policy's one rate-jump rule
    baseline, baseline_rows = trailing_fraud_rate(store, settings, result.hour, jump_rule.baseline_hours)
    rate = result.fraud_rate
    jumped = jump_rule.jumped(rate, baseline, result.rows_out)
    return [
        AssetCheckResult(
            check_name="schema_conformance",
            passed=schema_ok,
            metadata={
                "rejected_files": len(result.rejected_files),
                "first_rejection": result.rejected_files[0].reason if result.rejected_files else "",
                "schema_matches": table.schema.equals(expected, check_metadata=False),
            },
            description=None if schema_ok else "raw files were rejected or the schema drifted; see metadata",
        ),
        AssetCheckResult(
            check_name="unique_uri",
            passed=distinct == table.num_rows,
            metadata={"rows": table.num_rows, "distinct_uris": distinct},
        ),
        AssetCheckResult(
            check_name="null_rates",
            passed=not any(nulls.values()) and text_null <= 0.5,
            severity=AssetCheckSeverity.WARN,
            metadata={
                **{f"nulls_{k}": v for k, v in nulls.items()},
                "text_score_null_rate": round(text_null, 4),
            },
            description=None if text_null <= 0.5 else "more than half the posts have no text-model score",
        ),
        AssetCheckResult(
            check_name="fraud_rate_anomaly",
            passed=not jumped,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "fraud_rate": round(rate, 5),
                "trailing_fraud_rate": round(baseline, 5) if baseline is not None else -1.0,
                "trailing_rows": baseline_rows,
            },
            description=(
                f"fraud rate {rate:.1%} vs {baseline:.1%} over the trailing {jump_rule.baseline_hours} h"
                if jumped and baseline is not None
                else None
            ),
        ),
    ]


# A multi_asset with the single-run backfill policy of the catalog and analytics assets it
# shares `lake_hourly_job` with (Dagster warns at every load about a job whose assets have
# different policies). Sensor runs are one hour; a range run (a UI backfill) compacts its
# hours one after another in that one run.
@multi_asset(
    specs=[
        AssetSpec(
            COMPACTED_POSTS,
            deps=[RAW_POSTS],
            group_name="lake",
            kinds={"parquet", "duckdb"},
            freshness_policy=COMPACTION_FRESHNESS,
            description=(
                "compacted/dt=YYYY-MM-DD/hour=HH/part-00000.parquet: one row per live post (newest "
                "version per uri, deletes applied), sorted by time, zstd, 128k-row groups, written "
                "atomically."
            ),
        )
    ],
    check_specs=COMPACTION_CHECKS,
    partitions_def=HOURLY,
    backfill_policy=BackfillPolicy.single_run(),
)
def compacted_posts(
    context: AssetExecutionContext, pipeline: PipelineResource, lake: ObjectStoreResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    settings = pipeline.settings()
    store = lake.store()
    results = []
    for key in context.partition_keys:
        result = compact_hour(store, settings, hour_of(key))
        for bad in result.rejected_files:
            context.log.warning(f"rejected raw file {bad.key}: {bad.reason}")
        results.append(result)
    yield MaterializeResult(metadata=_materialization_metadata(store, results))
    yield from _combined_checks([compaction_checks(store, settings, r) for r in results])


def _materialization_metadata(store: ObjectStore, results: list[CompactionResult]) -> dict[str, Any]:
    """One hour's compaction figures (summed over the hours of a range run)."""
    summed = (
        "rows_in",
        "rows_out",
        "duplicates_dropped",
        "deletes_applied",
        "invalid_rows",
        "files_in",
        "bytes_in",
        "conflicts",
    )
    metadata: dict[str, Any] = {name: sum(getattr(r, name) for r in results) for name in summed}
    rows_out = metadata["rows_out"]
    metadata |= {
        "files_rejected": sum(len(r.rejected_files) for r in results),
        "bytes": sum(r.bytes_out for r in results),
        "fraud_rate": round(sum(r.fraud_rows for r in results) / rows_out, 5) if rows_out else 0.0,
        "partitions_rewritten": MetadataValue.json(
            sorted({p for r in results for p in r.partitions_rewritten})
        ),
        "path": MetadataValue.path(store.uri(results[-1].key)),
    }
    if len(results) > 1:
        metadata["hours"] = len(results)
    return metadata


def _combined_checks(per_hour: list[list[AssetCheckResult]]) -> list[AssetCheckResult]:
    """Each check once: passed when it passed for every hour; a failing hour's figures shown."""
    if len(per_hour) == 1:
        return per_hour[0]
    combined = []
    for results in zip(*per_hour, strict=True):
        failed = [r for r in results if not r.passed]
        shown = failed[0] if failed else results[-1]
        combined.append(
            AssetCheckResult(
                check_name=shown.check_name,
                passed=not failed,
                severity=shown.severity,
                metadata={**shown.metadata, "hours_failed": len(failed), "hours": len(results)},
                description=shown.description,
            )
        )
    return combined


lake_hourly_job = define_asset_job(
    "lake_hourly_job",
    selection=AssetSelection.assets("compacted_posts", "glue_catalog") | AssetSelection.groups("analytics"),
    config=JSON_LOGS_RUN_CONFIG,
    # One process for the run's steps: the steps are sequential anyway, and a process per step
    # (the default) costs an interpreter start and imports each, which dominates a refresh.
    executor_def=in_process_executor,
    description=(
        "Compact one arrival hour, catalog it, profile it and refresh the dashboard tables "
        "(requested by the landing and open-hour sensors)."
    ),
)


@sensor(
    job=lake_hourly_job,
    minimum_interval_seconds=60,
    description=__doc__,
    default_status=DefaultSensorStatus.RUNNING,
)
def lake_landing_sensor(
    context: SensorEvaluationContext, pipeline: PipelineResource, lake: ObjectStoreResource
):
    """Requests the hourly partitions that received files (late files re-trigger their hour)."""
    tick = evaluate_landing(lake.store(), pipeline.settings(), LandingCursor.loads(context.cursor))
    requests = [RunRequest(run_key=tick.run_keys[key], partition_key=key) for key in tick.partitions]
    context.log.info(f"listed {len(tick.listed_prefixes)} prefixes; {len(requests)} partitions changed")
    if not requests:
        return SensorResult(skip_reason=SkipReason("no new raw files"), cursor=tick.cursor.dumps())
    return SensorResult(run_requests=requests, cursor=tick.cursor.dumps())


def build_open_hour_sensor(settings: Settings) -> SensorDefinition:
    """The open hour, compacted and its marts refreshed every `open_hour_refresh_s` seconds."""

    @sensor(
        name="open_hour_sensor",
        job=lake_hourly_job,
        minimum_interval_seconds=settings.open_hour_refresh_s,
        default_status=sensor_status(settings),
        description=(
            "Requests the open arrival hour (compaction, catalog, marts) when its raw files changed, "
            f"at most every {settings.open_hour_refresh_s} s; the landing sensor closes it."
        ),
    )
    def open_hour_sensor(
        context: SensorEvaluationContext, pipeline: PipelineResource, lake: ObjectStoreResource
    ) -> SensorResult:
        tick = evaluate_open_hour(lake.store(), pipeline.settings(), context.cursor)
        if tick.partition is None or tick.run_key is None:
            return SensorResult(skip_reason=SkipReason("the open hour has no new files"), cursor=tick.cursor)
        request = RunRequest(run_key=tick.run_key, partition_key=tick.partition)
        return SensorResult(run_requests=[request], cursor=tick.cursor)

    return open_hour_sensor
