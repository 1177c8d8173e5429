"""In-process backfill: every raw hour in a range, through the same assets Dagster runs.

Compaction runs one hour at a time (progress bar); the catalog, the DuckDB profile and dbt
then run once over the whole range (their single-run backfill policy), so a backfill of many
hours is one `dbt build` and one batch of catalog partition upserts. Runs are recorded in
the Dagster instance at `settings.dagster_home`, so the UI shows them.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import click
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_pipeline.lake.compaction import raw_hours
from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings


class BackfillError(RuntimeError):
    """A backfill run failed; the message names the partition and the failing step."""


def instance_for(settings: Settings) -> DagsterInstance:
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return DagsterInstance.from_config(str(home))


def root_message(error: object) -> str:
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    return str(error.message).strip()  # type: ignore[attr-defined]


def _failure(result: object, what: str) -> BackfillError:
    errors = [
        f"{e.step_key}: {root_message(e.event_specific_data.error)}"
        for e in result.all_events  # type: ignore[attr-defined]
        if e.is_step_failure and e.event_specific_data is not None
    ]
    return BackfillError(f"{what} failed: {'; '.join(errors) or 'see the Dagster run log'}")


def run_backfill(
    settings: Settings,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    with_dbt: bool = True,
    progress: bool = False,
    instance: DagsterInstance | None = None,
) -> str:
    from fraud_pipeline.orchestration.analytics import dashboard_tables, lake_hour_profile
    from fraud_pipeline.orchestration.catalog import glue_catalog
    from fraud_pipeline.orchestration.lake import compacted_posts, raw_posts
    from fraud_pipeline.orchestration.resources import build_resources

    store = ObjectStore.from_settings(settings)
    hours = [
        h for h in raw_hours(store, settings) if (start is None or h >= start) and (end is None or h <= end)
    ]
    if not hours:
        return "nothing to backfill: no raw hour in range"
    resources = build_resources(settings)
    instance = instance or instance_for(settings)
    assets: list[Any] = [raw_posts, compacted_posts, glue_catalog, lake_hour_profile, dashboard_tables]
    keys = [partition_key(h) for h in hours]

    with click.progressbar(
        keys, label="compacting", show_pos=True, file=None if progress else io.StringIO()
    ) as bar:
        for key in bar:
            result = materialize(
                assets,
                selection=[AssetKey("compacted_posts")],
                partition_key=key,
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
            if not result.success:
                raise _failure(result, f"compaction of {key}")
    selection = [AssetKey("glue_catalog"), AssetKey("lake_hour_profile")]
    if with_dbt:
        selection += list(dashboard_tables.keys)
    result = materialize(
        assets,
        selection=selection,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )
    if not result.success:
        raise _failure(result, f"catalog/analytics over {keys[0]}..{keys[-1]}")
    return f"backfilled {len(keys)} hours ({keys[0]} .. {keys[-1]}){'' if with_dbt else ' without dbt'}"
