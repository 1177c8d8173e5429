"""`fraud-pipeline dashboard`: serve the live dashboard on 127.0.0.1."""

from __future__ import annotations

import click

from fraud_pipeline.cli_options import settings_options
from fraud_pipeline.settings import Settings


@click.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8050, show_default=True, help="Port on 127.0.0.1."
)
@settings_options
def dashboard(settings: Settings, port: int) -> None:
    """Serve the live fraud dashboard (widgets from the metrics store, tables from the warehouse and lake)."""
    from fraud_pipeline.dashboard.app import HOST, serve

    click.echo(
        f"dashboard: http://{HOST}:{port} "
        f"(backend {settings.backend}, env {settings.env}, home {settings.home})",
        err=True,
    )
    serve(settings, port)
