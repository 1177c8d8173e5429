"""`fraud-pipeline status [--json]`: one screen on the pipeline's state; exit code 0 healthy,
1 degraded, 2 stopped (for scripts and container health checks)."""

from __future__ import annotations

import click

from fraud_pipeline.cli_options import echo_json, settings_options
from fraud_pipeline.settings import Settings


@click.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (same content).")
def status(settings: Settings, as_json: bool) -> None:
    """Streams, scoring, lake, marts and labeler at one glance, and a verdict.

    Exit code: 0 healthy, 1 degraded, 2 stopped.
    """
    from fraud_pipeline.status import pipeline_status, render

    report = pipeline_status(settings)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(render(report))
    raise SystemExit(report.exit_code)
