"""`fraud-pipeline backfill` and `fraud-pipeline query`: the orchestration without the UI."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from fraud_pipeline.cli_options import echo_json, is_verbose, settings_options
from fraud_pipeline.settings import Settings


def _parse_hour(value: str | None) -> datetime | None:
    """`2026-11-29T14`, `2026-11-29 14:00`, `2026-11-29-14:00` (partition key) or a date."""
    if not value:
        return None
    text = value.strip().replace("T", " ").replace("Z", "")
    for fmt in ("%Y-%m-%d-%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise click.BadParameter(f"not an hour: {value!r} (use e.g. 2026-11-29T14)")


@click.command()
@settings_options
@click.option(
    "--from", "start", default=None, help="First arrival hour, e.g. 2026-11-29T14 (default: the first)."
)
@click.option("--to", "end", default=None, help="Last arrival hour, inclusive (default: the last).")
@click.option("--no-dbt", is_flag=True, help="Skip the dbt build (dashboard tables).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def backfill(settings: Settings, start: str | None, end: str | None, no_dbt: bool, as_json: bool) -> None:
    """Materialize every hour with raw data: compaction per hour, then catalog, profile and dbt as one run.

    Quiet: a progress bar on a terminal and a one-line summary; Dagster's event log goes to the
    Dagster instance (the UI) and to <home>/logs/backfill.jsonl (`-v` shows it here too).
    """
    from dataclasses import asdict

    from fraud_pipeline.orchestration.backfill import BackfillError, run_backfill

    try:
        summary = run_backfill(
            settings,
            _parse_hour(start),
            _parse_hour(end),
            with_dbt=not no_dbt,
            progress=not as_json,
            verbose=is_verbose(),
        )
    except BackfillError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json({**asdict(summary), "summary": str(summary)})
    else:
        click.echo(str(summary))


@click.command()
@settings_options
@click.argument("sql")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "athena"]),
    default=None,
    help="duckdb (default; in this process) or athena (aws backend; Trino SQL over the Glue tables "
    "and the marts built on Athena). Default: FRAUD_PIPELINE_ANALYTICS_ENGINE on the aws backend.",
)
def query(settings: Settings, sql: str, fmt: str, engine: str | None) -> None:
    """Run read-only SQL over the lake (`posts`) and the dashboard tables (dbt model names)."""
    import duckdb

    from fraud_pipeline.analytics.query import QueryRefused, render, run_query

    engine = engine or (settings.analytics_engine if settings.backend == "aws" else "duckdb")
    try:
        if engine == "athena":
            from fraud_pipeline.analytics.athena_query import run_athena_query

            result = run_athena_query(settings, sql)
        else:
            result = run_query(settings, sql)
    except QueryRefused as exc:
        raise click.ClickException(str(exc)) from exc
    except duckdb.Error as exc:
        raise click.ClickException(f"query failed: {exc}") from exc
    except RuntimeError as exc:  # AthenaQueryFailed
        raise click.ClickException(str(exc)) from exc
    click.echo(render(result, fmt))
