"""In-process backfill: every raw hour in a range, through the same assets Dagster runs.

Compaction runs one hour at a time (progress bar); the catalog, the DuckDB profile and dbt
then run once over the whole range (their single-run backfill policy), so a backfill of many
hours is one `dbt build` and one batch of catalog partition upserts. Runs are recorded in
the Dagster instance at `settings.dagster_home`, so the UI shows them; their event log goes
to the JSON log lines (`orchestration.run_logs`), and to the terminal only with `verbose`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster import AssetKey, DagsterInstance, Definitions, define_asset_job
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_pipeline.lake.compaction import raw_hours
from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.run_logs import logger_run_config, run_loggers, stdout_to_log
from fraud_pipeline.progress import progress_bar
from fraud_pipeline.settings import Settings


class BackfillError(RuntimeError):
    """A backfill run failed; the message names the partition and the failing step."""


@dataclass(frozen=True)
class BackfillSummary:
    """What a backfill did: the one line a person reads, the object a script reads."""

    hours: int
    first: str = ""
    last: str = ""
    with_dbt: bool = True
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.hours:
            return "nothing to backfill: no raw hour in range"
        return (
            f"backfilled {self.hours} hours ({self.first} .. {self.last})"
            f"{'' if self.with_dbt else ' without dbt'} in {self.seconds:.0f} s"
        )


# Written once into a new Dagster home (never over an existing file): without a dagster.yaml
# every Dagster process warns that it is defaulting, and prints the telemetry banner.
INSTANCE_CONFIG = """\
# The Dagster instance of this fraud-pipeline home (written by fraud-pipeline; edit freely).
telemetry:
  enabled: false
"""


def ensure_instance_home(settings: Settings) -> Path:
    """The Dagster home of `settings`, created with a dagster.yaml if it has none."""
    home = settings.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return home


def ensure_instance_storage(settings: Settings) -> Path:
    """The Dagster home of `settings`, with its SQLite storages created, before the webserver
    and the daemon start. Started together on a new home, both create the storages at the same
    moment and both stamp alembic's version table: it then holds two heads ("more than one head
    present"), the code location fails to load in both, and every later start on that home
    fails the same way. One process creating them first leaves nothing to race for."""
    home = ensure_instance_home(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs_count()  # the run, event-log and schedule storages exist from here
    return home


def instance_for(settings: Settings) -> DagsterInstance:
    return DagsterInstance.from_config(str(ensure_instance_home(settings)))


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


def materialize_quietly(
    assets: list[Any],
    selection: list[AssetKey],
    resources: dict[str, Any],
    instance: DagsterInstance,
    *,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    verbose: bool = False,
) -> ExecuteInProcessResult:
    """`dagster.materialize`, but with the project's loggers instead of Dagster's console logger
    (which `materialize` cannot be told to leave out), and dbt's stdout in the log lines."""
    name = "backfill"
    defs = Definitions(
        assets=assets,
        jobs=[define_asset_job(name, selection=selection)],
        resources=resources,
        loggers=run_loggers(verbose),
    )
    with stdout_to_log(enabled=not verbose):
        return defs.resolve_job_def(name).execute_in_process(
            run_config=logger_run_config(verbose),
            instance=instance,
            partition_key=partition_key,
            raise_on_error=False,
            tags=tags,
        )


def run_backfill(
    settings: Settings,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    with_dbt: bool = True,
    progress: bool = False,
    instance: DagsterInstance | None = None,
    verbose: bool = False,
) -> BackfillSummary:
    """Compact every raw hour in [start, end], then catalog, profile and dbt once over the range."""
    from fraud_pipeline.orchestration.analytics import dashboard_tables, lake_hour_profile
    from fraud_pipeline.orchestration.catalog import glue_catalog
    from fraud_pipeline.orchestration.lake import compacted_posts, raw_posts
    from fraud_pipeline.orchestration.resources import build_resources

    started = time.monotonic()
    store = ObjectStore.from_settings(settings)
    hours = [
        h for h in raw_hours(store, settings) if (start is None or h >= start) and (end is None or h <= end)
    ]
    if not hours:
        return BackfillSummary(0, with_dbt=with_dbt)
    resources = build_resources(settings)
    instance = instance or instance_for(settings)
    assets: list[Any] = [raw_posts, compacted_posts, glue_catalog, lake_hour_profile, dashboard_tables]
    keys = [partition_key(h) for h in hours]

    steps = len(keys) + 1  # each hour's compaction, then catalog + analytics as one run
    with progress_bar("compacting", total=steps, enabled=progress) as advance:
        for key in keys:
            advance(0, label=f"compacting {key}")
            result = materialize_quietly(
                assets, [AssetKey("compacted_posts")], resources, instance, partition_key=key, verbose=verbose
            )
            if not result.success:
                raise _failure(result, f"compaction of {key}")
            advance()
        advance(0, label="catalog, profile" + (" and dbt" if with_dbt else ""))
        selection = [AssetKey("glue_catalog"), AssetKey("lake_hour_profile")]
        if with_dbt:
            selection += list(dashboard_tables.keys)
        result = materialize_quietly(
            assets,
            selection,
            resources,
            instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
            verbose=verbose,
        )
        if not result.success:
            raise _failure(result, f"catalog/analytics over {keys[0]}..{keys[-1]}")
        advance()
    return BackfillSummary(len(keys), keys[0], keys[-1], with_dbt, time.monotonic() - started)
