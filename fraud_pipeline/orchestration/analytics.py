"""Analytics domain: dbt marts (dashboard tables) and a DuckDB profile of each compacted hour."""

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    DagsterEventType,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multi_asset,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from fraud_pipeline.analytics.lake_sql import compacted_glob
from fraud_pipeline.lake.compaction import compacted_key
from fraud_pipeline.orchestration.dbt_project import (
    HOURLY_BUILD_ARGS,
    athena_environment,
    build_artifacts_dir,
    dbt_environment,
    dbt_project,
    ensure_manifest,
    incremental_build_args,
    keep_partial_parse,
    publish_warehouse,
    uses_athena,
)
from fraud_pipeline.orchestration.partitions import HOURLY, hour_of
from fraud_pipeline.orchestration.resources import LakeDuckDBResource, ObjectStoreResource, PipelineResource
from fraud_pipeline.orchestration.run_logs import JSON_LOGS_RUN_CONFIG

_REWRITTEN = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


def run_hours(context: AssetExecutionContext) -> list[datetime] | None:
    """The arrival hours whose marts this run recomputes: its partitions, and every partition
    its compactions rewrote (a tombstone reaches back to its post's hour). None: all hours."""
    if not context.has_partition_key_range:
        return None
    hours = [hour_of(key) for key in context.partition_keys]
    for record in context.instance.all_logs(context.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        event = record.dagster_event
        materialization = event.event_specific_data.materialization if event else None
        if materialization is None or materialization.asset_key != AssetKey("compacted_posts"):
            continue
        rewritten = materialization.metadata.get("partitions_rewritten")
        for key in getattr(rewritten, "value", None) or []:
            match = _REWRITTEN.search(str(key))
            if match:
                hours.append(datetime.strptime(" ".join(match.groups()), "%Y-%m-%d %H").replace(tzinfo=UTC))
    return hours


class Translator(DagsterDbtTranslator):
    """dbt models in the `analytics` group; a lake source is the asset its `meta.dagster.asset_key`
    names (`compacted_posts`, `raw_accounts`), `compacted_posts` when it names none."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props.get("resource_type") == "source":
            named = ((dbt_resource_props.get("meta") or {}).get("dagster") or {}).get("asset_key")
            return AssetKey(named) if named else AssetKey("compacted_posts")
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "analytics"


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=Translator(),
    partitions_def=HOURLY,
    backfill_policy=BackfillPolicy.single_run(),
    name="dashboard_tables",
)
def dashboard_tables(
    context: AssetExecutionContext, dbt: DbtCliResource, pipeline: PipelineResource
) -> Iterator[Any]:
    """`dbt build` once per run (a backfill of many hours is one run). The marts are incremental:
    they recompute the run's hours and the older hours its compactions rewrote."""
    settings = pipeline.settings()
    hours = run_hours(context)
    if uses_athena(settings):  # the same models, built by Athena from the Glue tables
        with athena_environment(settings, hours), build_artifacts_dir(settings) as artifacts:
            context.log.info(f"dbt build --target athena for hours {hours if hours is not None else 'all'}")
            args = ["build", "--target", "athena", *HOURLY_BUILD_ARGS]
            invocation = dbt.cli(args, context=context, target_path=artifacts)
            yield from invocation.stream()
            invocation.wait()
            keep_partial_parse(artifacts)
        return
    with dbt_environment(settings, hours) as built, build_artifacts_dir(settings) as artifacts:
        args = incremental_build_args(built)
        context.log.info(f"dbt build {' '.join(args)} for hours {hours if hours is not None else 'all'}")
        invocation = dbt.cli(["build", *HOURLY_BUILD_ARGS, *args], context=context, target_path=artifacts)
        yield from invocation.stream()
        invocation.wait()
        publish_warehouse(settings, built)
        keep_partial_parse(artifacts)


# multi_asset, not asset: its backfill_policy is supported API (asset's is beta and warns).
@multi_asset(
    specs=[
        AssetSpec(
            "lake_hour_profile",
            deps=["compacted_posts"],
            group_name="analytics",
            kinds={"duckdb"},
            description=(
                "DuckDB profile of one compacted hour: volume, accounts, fraud rate, media, top domains."
            ),
        )
    ],
    partitions_def=HOURLY,
    backfill_policy=BackfillPolicy.single_run(),
)
def lake_hour_profile(
    context: AssetExecutionContext,
    pipeline: PipelineResource,
    lake: ObjectStoreResource,
    duckdb: LakeDuckDBResource,
) -> MaterializeResult:
    """Profiles the run's hours (one hour, or a backfill's whole range in one query)."""
    settings = pipeline.settings()
    store = lake.store()
    hours = [hour_of(k) for k in context.partition_keys]
    present = [h for h in hours if store.exists(compacted_key(settings, h))]
    if not present:
        return MaterializeResult(metadata={"rows": 0, "note": "no compacted partition for these hours"})
    where = " OR ".join(f"(dt = DATE '{h:%Y-%m-%d}' AND hour = {h.hour})" for h in present)
    with duckdb.connect() as con:
        rows, accounts, fraud, media, avg_score = con.sql(
            f"""
            SELECT count(*), count(DISTINCT did), count(*) FILTER (WHERE is_fraud),
                   count(*) FILTER (WHERE len(media_paths) > 0), avg(fraud_score)
            FROM posts WHERE {where}
            """
        ).fetchall()[0]
        top = con.sql(
            f"""
            SELECT d, count(*) FROM (SELECT unnest(domains) AS d FROM posts WHERE ({where}) AND is_fraud)
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10
            """
        ).fetchall()
    return MaterializeResult(
        metadata={
            "hours": len(present),
            "rows": rows,
            "accounts": accounts,
            "fraud_posts": fraud,
            "fraud_rate": round(fraud / rows, 5) if rows else 0.0,
            "media_share": round(media / rows, 5) if rows else 0.0,
            "avg_fraud_score": round(float(avg_score or 0.0), 5),
            "top_fraud_domains": MetadataValue.md(
                "| domain | fraud posts |\n|---|---|\n" + "\n".join(f"| {d} | {n} |" for d, n in top)
            ),
            "lake_glob": compacted_glob(settings),
        }
    )


analytics_job = define_asset_job(
    "hourly_analytics_job",
    selection=AssetSelection.assets("lake_hour_profile", dashboard_tables),
    config=JSON_LOGS_RUN_CONFIG,
    description="Profile the last closed hour and rebuild the dashboard tables with dbt.",
)
hourly_analytics_schedule = build_schedule_from_partitioned_job(
    analytics_job, minute_of_hour=10, default_status=DefaultScheduleStatus.RUNNING
)
