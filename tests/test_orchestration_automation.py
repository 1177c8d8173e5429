"""The lake runs by itself: sensors and schedules on by default, the open hour refreshed, closed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, DefaultScheduleStatus, DefaultSensorStatus, build_sensor_context
from lake_fixtures import write_raw_file

from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.definitions import build_definitions
from fraud_pipeline.orchestration.landing import LandingCursor, evaluate_landing
from fraud_pipeline.orchestration.open_hour import evaluate_open_hour
from fraud_pipeline.orchestration.resources import build_resources
from fraud_pipeline.settings import Settings, SettingsError, load_settings

LAKE_AUTOMATION = {
    "lake_landing_sensor",
    "open_hour_sensor",
    "stream_health_sensor",
    "run_failure_sensor",
}


def test_sensors_and_schedules_run_by_default(local_settings: Settings) -> None:
    repo = build_definitions(local_settings).get_repository_def()
    sensors = {s.name: s.default_status for s in repo.sensor_defs}
    assert set(sensors) >= LAKE_AUTOMATION
    assert all(status == DefaultSensorStatus.RUNNING for status in sensors.values()), sensors
    schedules = {s.name: s.default_status for s in repo.schedule_defs}
    assert schedules and all(status == DefaultScheduleStatus.RUNNING for status in schedules.values())
    open_hour = repo.get_sensor_def("open_hour_sensor")
    assert open_hour.minimum_interval_seconds == local_settings.open_hour_refresh_s
    # The lake job refreshes the dashboard tables too (no separate toggle to find).
    job_assets = {
        k.to_user_string() for k in repo.get_job("lake_hourly_job").asset_layer.executable_asset_keys
    }
    assert {"compacted_posts", "glue_catalog", "fraud_summary", "stg_posts"} <= job_assets


def test_a_setting_starts_them_stopped(tmp_path) -> None:
    settings = load_settings(
        environ={"FRAUD_PIPELINE_AUTOMATION": "stopped", "FRAUD_PIPELINE_OPEN_HOUR_REFRESH_S": "300"},
        backend="local",
        home=tmp_path / "home",
    )
    repo = build_definitions(settings).get_repository_def()
    assert {s.default_status for s in repo.sensor_defs} == {DefaultSensorStatus.STOPPED}
    assert {s.default_status for s in repo.schedule_defs} == {DefaultScheduleStatus.STOPPED}
    assert repo.get_sensor_def("open_hour_sensor").minimum_interval_seconds == 300
    with pytest.raises(SettingsError):
        load_settings(environ={"FRAUD_PIPELINE_AUTOMATION": "paused"})


def test_open_hour_is_refreshed_when_its_files_change(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    now = datetime(2026, 11, 29, 14, 20, tzinfo=UTC)
    idle = evaluate_open_hour(store, local_settings, None, now)
    assert idle.partition is None  # no files: no run
    write_raw_file(store, local_settings, now - timedelta(minutes=5), [])
    first = evaluate_open_hour(store, local_settings, idle.cursor, now)
    assert first.partition == partition_key(now) and first.run_key
    assert evaluate_open_hour(store, local_settings, first.cursor, now).partition is None  # unchanged
    write_raw_file(store, local_settings, now, [])
    second = evaluate_open_hour(store, local_settings, first.cursor, now)
    assert second.partition == partition_key(now) and second.run_key != first.run_key


def test_the_open_hour_is_closed_exactly_once_by_the_landing_sensor(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    open_hour = datetime(2026, 11, 29, 14, tzinfo=UTC)
    cursor = evaluate_landing(store, local_settings, LandingCursor(), open_hour).cursor  # empty lake
    write_raw_file(store, local_settings, open_hour + timedelta(minutes=3), [])
    requested: list[str] = []
    for minute in (10, 30, 59):  # while open: the open-hour sensor's, not the landing sensor's
        write_raw_file(store, local_settings, open_hour + timedelta(minutes=minute - 1), [])
        tick = evaluate_landing(store, local_settings, cursor, open_hour + timedelta(minutes=minute))
        requested += tick.partitions
        cursor = tick.cursor
    assert requested == []
    for minute in (61, 62, 90, 150):  # closed: requested on the first tick after, then never again
        tick = evaluate_landing(store, local_settings, cursor, open_hour + timedelta(minutes=minute))
        requested += tick.partitions
        cursor = tick.cursor
    assert requested == [partition_key(open_hour)]


def test_open_hour_sensor_requests_the_lake_job(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    write_raw_file(store, local_settings, datetime.now(UTC), [])
    repo = build_definitions(local_settings).get_repository_def()
    sensor = repo.get_sensor_def("open_hour_sensor")
    resources = build_resources(local_settings)
    with build_sensor_context(
        instance=DagsterInstance.ephemeral(),
        resources={"pipeline": resources["pipeline"], "lake": resources["lake"]},
        repository_def=repo,
    ) as context:
        result = sensor.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests or []] == [partition_key(datetime.now(UTC))]
    assert result.run_requests[0].job_name in (None, "lake_hourly_job")
