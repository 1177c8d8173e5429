"""`fraud-pipeline serve`: the text model behind the SageMaker container contract, locally."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from fraud_pipeline.cli_options import settings_options
from fraud_pipeline.scoring.text_model import ArtifactError, LinearTextModel, default_artifact_path
from fraud_pipeline.settings import Settings


@click.command()
@settings_options
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default)."
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Artifact to serve (default: the pipeline's model).",
)
def serve(settings: Settings, port: int, host: str, model_path: Path | None) -> None:
    """Serve GET /ping and POST /invocations until interrupted."""
    from fraud_pipeline.serving.server import ModelHTTPServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        loaded = LinearTextModel.load(model_path or default_artifact_path(settings.text_model_path))
    except ArtifactError as exc:
        raise click.ClickException(str(exc)) from exc
    server = ModelHTTPServer(loaded, host=host, port=port)
    click.echo(f"serving {loaded.version} on {server.url} (GET /ping, POST /invocations)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
