"""Dagster definitions: load, sensors tick (local and moto), partitions materialize end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from fraud_pipeline.lake.compaction import compacted_key
from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.definitions import build_definitions
from fraud_pipeline.orchestration.lake import compacted_posts, lake_landing_sensor, raw_posts
from fraud_pipeline.orchestration.landing import (
    LATE_WINDOW_HOURS,
    SWEEP_DAYS,
    LandingCursor,
    evaluate_landing,
)
from fraud_pipeline.orchestration.resources import build_resources
from fraud_pipeline.settings import Settings
from tests.lake_fixtures import build_lake, recent_hours, write_raw_file


def _make_bucket(settings: Settings) -> None:
    boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.endpoint_url).create_bucket(
        Bucket=settings.bucket
    )


def test_definitions_load_with_every_domain(local_settings: Settings) -> None:
    repo = build_definitions(local_settings).get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {
        "raw_posts",
        "compacted_posts",
        "glue_catalog",
        "lake_hour_profile",
        "stg_posts",
        "fraud_summary",
        "fraud_campaigns",
        "seed_metrics_per_second",
        "untagged_stream",
        "tagged_stream",
    } <= keys
    assert {"text_model_training", "text_model_evaluation", "text_model_package"} <= keys
    # Lineage: raw -> compacted -> dbt staging -> marts.
    graph = repo.asset_graph
    assert AssetKey("raw_posts") in graph.get(AssetKey("compacted_posts")).parent_keys
    assert AssetKey("compacted_posts") in graph.get(AssetKey("stg_posts")).parent_keys
    assert AssetKey("stg_posts") in graph.get(AssetKey("fraud_summary")).parent_keys
    sensors = {s.name for s in repo.sensor_defs}
    assert {"lake_landing_sensor", "stream_health_sensor", "run_failure_sensor"} <= sensors
    assert {s.name for s in repo.schedule_defs} >= {"hourly_analytics_job_schedule"}


def test_workspace_module_exposes_defs() -> None:
    import fraud_pipeline.orchestration as location

    assert location.defs.get_repository_def().has_job("lake_hourly_job")


def _tick(settings: Settings, cursor: str | None, instance: DagsterInstance):
    resources = build_resources(settings)
    with build_sensor_context(
        cursor=cursor,
        instance=instance,
        resources={"pipeline": resources["pipeline"], "lake": resources["lake"]},
    ) as context:
        return lake_landing_sensor(context)


@pytest.mark.parametrize("backend", ["local", "aws"])
def test_landing_sensor_cursor_advances_and_late_files_retrigger(
    backend: str, request: pytest.FixtureRequest
) -> None:
    settings: Settings = request.getfixturevalue(f"{backend}_settings")
    if backend == "aws":
        _make_bucket(settings)
    store = ObjectStore.from_settings(settings)
    instance = DagsterInstance.ephemeral()

    empty = _tick(settings, None, instance)
    assert not empty.run_requests
    assert (
        LandingCursor.loads(empty.cursor).hour_prefix is not None
    )  # the empty bucket still moves the cursor

    hours = recent_hours(2)
    build_lake(store, settings, hours, posts_per_hour=20, files_per_hour=2)
    first = _tick(settings, None, instance)
    assert sorted(r.partition_key for r in first.run_requests) == [partition_key(h) for h in hours]
    cursor = LandingCursor.loads(first.cursor)
    assert cursor.hour_prefix is not None and cursor.hour_prefix.startswith(settings.posts_prefix)

    again = _tick(settings, first.cursor, instance)
    assert not again.run_requests  # nothing new

    late = hours[0]  # a closed hour receives a late file
    write_raw_file(store, settings, late + timedelta(minutes=59), [])
    retrigger = _tick(settings, again.cursor, instance)
    assert [r.partition_key for r in retrigger.run_requests] == [partition_key(late)]


def test_landing_lists_only_recent_prefixes(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    now = datetime(2026, 11, 29, 15, tzinfo=UTC)
    old = [now - timedelta(days=3, hours=h) for h in range(3)]
    build_lake(store, local_settings, sorted(old), posts_per_hour=5, files_per_hour=1)
    tick = evaluate_landing(store, local_settings, LandingCursor(), now)
    assert len(tick.partitions) == 3
    steady = evaluate_landing(store, local_settings, tick.cursor, now)
    assert steady.partitions == []
    hour_prefixes = [p for p in steady.listed_prefixes if p.count("/") == 5]
    assert len(hour_prefixes) <= LATE_WINDOW_HOURS + 1  # only the open and recent hours


def _sweep_week(store: ObjectStore, settings: Settings, cursor: LandingCursor, now: datetime):
    """SWEEP_DAYS steady ticks at `now`: every partition they request, and the cursor after."""
    requested: list[str] = []
    for _ in range(SWEEP_DAYS):
        tick = evaluate_landing(store, settings, cursor, now)
        assert len([p for p in tick.swept_prefixes if p.count("/") == 4]) == 1  # one day per tick
        requested += tick.partitions
        cursor = tick.cursor
    return requested, cursor


def test_files_days_late_are_found_by_the_sweep(local_settings: Settings) -> None:
    """Past the 3-hour window, a late file (or one in an hour that had none) is still found
    within SWEEP_DAYS ticks, once, without listing the whole bucket."""
    store = ObjectStore.from_settings(local_settings)
    start = datetime(2026, 11, 25, 0, tzinfo=UTC)
    cursor = evaluate_landing(store, local_settings, LandingCursor(), start).cursor  # empty lake
    on_time = start + timedelta(hours=2)
    write_raw_file(store, local_settings, on_time + timedelta(minutes=5), [])
    tick = evaluate_landing(store, local_settings, cursor, start + timedelta(hours=3))
    assert tick.partitions == [partition_key(on_time)]

    now = start + timedelta(days=2, hours=6)
    requested, cursor = _sweep_week(store, local_settings, tick.cursor, now)
    assert requested == []  # nothing late yet

    empty_before = start + timedelta(hours=5)
    write_raw_file(store, local_settings, on_time + timedelta(minutes=50), [])  # 2 days late
    write_raw_file(store, local_settings, empty_before + timedelta(minutes=7), [])  # an empty hour gets one
    requested, cursor = _sweep_week(store, local_settings, cursor, now)
    assert sorted(requested) == sorted([partition_key(on_time), partition_key(empty_before)])
    assert _sweep_week(store, local_settings, cursor, now)[0] == []  # requested once


def test_a_cursor_from_before_the_sweep_does_not_retrigger_old_hours(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    now = datetime(2026, 11, 29, 15, tzinfo=UTC)
    old = [now - timedelta(days=2, hours=h) for h in range(3)]
    build_lake(store, local_settings, sorted(old), posts_per_hour=5, files_per_hour=1)
    legacy = LandingCursor(
        hour_prefix=evaluate_landing(store, local_settings, LandingCursor(), now).cursor.hour_prefix
    )
    assert _sweep_week(store, local_settings, legacy, now)[0] == []  # old hours recorded, not re-run


def test_partitions_materialize_end_to_end_and_twice_is_identical(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    hours = recent_hours(2)
    truth = build_lake(store, local_settings, hours, posts_per_hour=60)
    resources = build_resources(local_settings)
    instance = DagsterInstance.ephemeral()
    assets = [raw_posts, compacted_posts]
    first_bytes = {}
    for _ in range(2):
        for hour in hours:
            result = materialize(
                assets,
                selection=[AssetKey("compacted_posts")],
                partition_key=partition_key(hour),
                resources=resources,
                instance=instance,
            )
            assert result.success
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            assert checks == {
                "schema_conformance": True,
                "unique_uri": True,
                "null_rates": True,
                "fraud_rate_anomaly": True,
            }
        data = {h: store.get_bytes(compacted_key(local_settings, h)) for h in hours}
        first_bytes = first_bytes or data
        assert data == first_bytes
    mats = result.asset_materializations_for_node("compacted_posts")
    meta = mats[0].metadata
    assert meta["rows_in"].value > meta["rows_out"].value
    assert meta["duplicates_dropped"].value > 0
    live = set()
    for hour in hours:
        live |= set(
            pq.read_table(store.path(compacted_key(local_settings, hour)), filesystem=store.fs)
            .column("uri")
            .to_pylist()
        )
    assert live == truth.live_uris and not live & truth.deleted


def test_catalog_asset_registers_glue_partitions_in_moto(aws_settings: Settings) -> None:
    from fraud_pipeline.orchestration.backfill import run_backfill

    _make_bucket(aws_settings)
    store = ObjectStore.from_settings(aws_settings)
    hours = recent_hours(2)
    build_lake(store, aws_settings, hours, posts_per_hour=15, files_per_hour=1)
    summary = run_backfill(aws_settings, with_dbt=False, instance=DagsterInstance.ephemeral())
    assert "2 hours" in str(summary) and summary.hours == 2
    glue = boto3.client("glue", region_name=aws_settings.aws_region, endpoint_url=aws_settings.endpoint_url)
    parts = glue.get_partitions(
        DatabaseName=aws_settings.glue_database, TableName=aws_settings.glue_compacted_table
    )
    values = sorted(tuple(p["Values"]) for p in parts["Partitions"])
    assert values == [(f"{h:%Y-%m-%d}", f"{h:%H}") for h in hours]
    location = parts["Partitions"][0]["StorageDescriptor"]["Location"]
    assert location.startswith(f"s3://{aws_settings.bucket}/compacted/dt=")
    raw = glue.get_partitions(DatabaseName=aws_settings.glue_database, TableName=aws_settings.glue_table)
    assert len(raw["Partitions"]) == 2
    table = glue.get_table(DatabaseName=aws_settings.glue_database, Name=aws_settings.glue_compacted_table)
    assert [k["Name"] for k in table["Table"]["PartitionKeys"]] == ["dt", "hour"]


def test_run_failure_sensor_records_partition_and_reason(local_settings: Settings) -> None:
    from fraud_pipeline.orchestration.monitoring import run_failure_recorder

    store = ObjectStore.from_settings(local_settings)
    hour = recent_hours(1)[0]
    store.put_bytes(f"{local_settings.posts_prefix}{hour:%Y/%m/%d/%H}/broken.parquet", b"garbage")
    instance = DagsterInstance.ephemeral()
    resources = build_resources(local_settings)
    result = materialize(
        [raw_posts, compacted_posts],
        selection=[AssetKey("compacted_posts")],
        partition_key=partition_key(hour),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    with build_run_status_sensor_context(
        sensor_name="run_failure_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"pipeline": resources["pipeline"], "lake": resources["lake"]},
    ) as status_context:
        run_failure_recorder(status_context.for_run_failure())
    records = list(store.list_objects(f"{local_settings.errors_prefix}orchestration/"))
    assert len(records) == 1
    record = json.loads(store.get_bytes(records[0].key))
    assert record["partition"] == partition_key(hour)
    assert "none of the 1 raw files" in record["steps"][0]["error"], record


def test_model_assets_train_evaluate_package(local_settings: Settings) -> None:
    from fraud_pipeline.orchestration.model import model_assets

    ObjectStore.from_settings(local_settings)  # the local bucket folder
    result = materialize(
        model_assets, resources=build_resources(local_settings), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    training = result.asset_materializations_for_node("text_model_training")[0].metadata
    evaluation = result.asset_materializations_for_node("text_model_evaluation")[0].metadata
    package = result.asset_materializations_for_node("text_model_package")[0].metadata
    assert training["version"].value == evaluation["version"].value == package["version"].value
    assert 0.5 < evaluation["validation_pr_auc"].value <= 1.0
    store = ObjectStore.from_settings(local_settings)
    assert store.exists(package["key"].value) and package["bytes"].value > 0
