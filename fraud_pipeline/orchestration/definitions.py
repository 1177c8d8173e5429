"""All Dagster definitions, split by domain, bound to one deployment's resources."""

from __future__ import annotations

from dagster import Definitions

from fraud_pipeline.orchestration.analytics import (
    analytics_job,
    dashboard_tables,
    hourly_analytics_schedule,
    lake_hour_profile,
)
from fraud_pipeline.orchestration.automation import with_default_status
from fraud_pipeline.orchestration.catalog import glue_catalog
from fraud_pipeline.orchestration.lake import (
    build_open_hour_sensor,
    compacted_posts,
    lake_hourly_job,
    lake_landing_sensor,
    raw_posts,
)
from fraud_pipeline.orchestration.lineage import streaming_assets
from fraud_pipeline.orchestration.model import (
    daily_model_evaluation_schedule,
    model_assets,
    model_evaluation_job,
)
from fraud_pipeline.orchestration.monitoring import (
    monitoring_checks,
    run_failure_recorder,
    stream_health_sensor,
)
from fraud_pipeline.orchestration.resources import build_resources
from fraud_pipeline.orchestration.run_logs import run_loggers
from fraud_pipeline.settings import Settings, load_settings


def build_definitions(settings: Settings | None = None) -> Definitions:
    """Definitions for `settings` (default: `load_settings()`, i.e. the FRAUD_PIPELINE_* environment)."""
    settings = settings or load_settings()
    return Definitions(
        assets=[
            raw_posts,
            compacted_posts,
            glue_catalog,
            lake_hour_profile,
            dashboard_tables,
            *streaming_assets,
            *model_assets,
        ],
        asset_checks=monitoring_checks,
        jobs=[lake_hourly_job, analytics_job, model_evaluation_job],
        # Every sensor and schedule runs when the location loads, unless FRAUD_PIPELINE_AUTOMATION=stopped.
        schedules=[
            with_default_status(s, settings)
            for s in (hourly_analytics_schedule, daily_model_evaluation_schedule)
        ],
        sensors=[
            build_open_hour_sensor(settings),
            *(
                with_default_status(s, settings)
                for s in (lake_landing_sensor, stream_health_sensor, run_failure_recorder)
            ),
        ],
        resources=build_resources(settings),
        loggers=run_loggers(),  # the event log as JSON lines, not Dagster's console logger
    )
