"""`fraud-pipeline serve`: the text model behind the SageMaker container contract.

The same command runs on a laptop (loopback, the pipeline's model) and as the inference
image's command on SageMaker, which starts the container as `docker run <image> serve` and
so cannot pass options: there the image's environment sets them
(`FRAUD_PIPELINE_SERVE_HOST=0.0.0.0`, `FRAUD_PIPELINE_SERVE_MODEL_DIR=/opt/ml/model`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from fraud_pipeline.cli_options import settings_options
from fraud_pipeline.scoring.text_model import ArtifactError, LinearTextModel, default_artifact_path
from fraud_pipeline.serving.server import IDLE_TIMEOUT_S, MAX_CONNECTIONS, REQUEST_TIMEOUT_S
from fraud_pipeline.settings import Settings

log = logging.getLogger(__name__)

SERVE_ENV_PREFIX = "FRAUD_PIPELINE_SERVE_"
# Both endpoints (text and media) bind the same way: loopback unless the container says so.
serve_host_option = click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar=SERVE_ENV_PREFIX + "HOST",
    help="Interface to bind (loopback by default; the inference image binds 0.0.0.0).",
)


def load_served_model(model_path: Path | None, model_dir: Path | None, settings: Settings) -> LinearTextModel:
    """The artifact to serve: `--model`, else the unpacked model.tar.gz in `model_dir`, else the pipeline's.

    A model folder that exists and holds files must hold an artifact: serving the bundled
    model in place of a retrained one would be a silent downgrade.
    """
    from fraud_pipeline.serving.inference import model_fn

    if model_path is not None:
        return LinearTextModel.load(model_path)
    if model_dir is not None and model_dir.is_dir() and any(model_dir.iterdir()):
        try:
            return model_fn(str(model_dir))
        except FileNotFoundError as exc:
            raise ArtifactError(str(exc)) from exc
    if model_dir is not None:
        log.info("no model in %s; serving the pipeline's model", model_dir)
    return LinearTextModel.load(default_artifact_path(settings.text_model_path))


@click.command()
@settings_options
@click.option("--port", type=int, default=8080, show_default=True, envvar=SERVE_ENV_PREFIX + "PORT")
@serve_host_option
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Artifact to serve (default: the model folder's, else the pipeline's model).",
)
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar=SERVE_ENV_PREFIX + "MODEL_DIR",
    help="Unpacked model.tar.gz to serve when present (the inference image: /opt/ml/model).",
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=IDLE_TIMEOUT_S,
    show_default=True,
    envvar=SERVE_ENV_PREFIX + "IDLE_TIMEOUT_S",
    help="Seconds a connection may send nothing before it is closed.",
)
@click.option(
    "--request-timeout",
    "request_timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=REQUEST_TIMEOUT_S,
    show_default=True,
    envvar=SERVE_ENV_PREFIX + "REQUEST_TIMEOUT_S",
    help="Seconds a whole request (line, headers, body) may take to arrive.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=MAX_CONNECTIONS,
    show_default=True,
    envvar=SERVE_ENV_PREFIX + "MAX_CONNECTIONS",
    help="Open connections served at once; more are answered 503.",
)
@click.option(
    "--kind",
    type=click.Choice(["text", "media"]),
    default="text",
    show_default=True,
    envvar=SERVE_ENV_PREFIX + "KIND",
    help="The text model, or the image scorer (the media endpoint; `fraud-pipeline media serve`).",
)
def serve(
    settings: Settings,
    port: int,
    host: str,
    model_path: Path | None,
    model_dir: Path | None,
    idle_timeout_s: float,
    request_timeout_s: float,
    max_connections: int,
    kind: str,
) -> None:
    """Serve GET /ping and POST /invocations until interrupted."""
    from fraud_pipeline.serving.server import ModelHTTPServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if kind == "media":
        from fraud_pipeline.media.commands import run_media_server

        run_media_server(
            settings,
            host,
            port,
            model_dir,
            idle_timeout_s=idle_timeout_s,
            request_timeout_s=request_timeout_s,
            max_connections=max_connections,
        )
        return
    try:
        loaded = load_served_model(model_path, model_dir, settings)
    except ArtifactError as exc:
        raise click.ClickException(str(exc)) from exc
    server = ModelHTTPServer(
        loaded,
        host=host,
        port=port,
        idle_timeout_s=idle_timeout_s,
        request_timeout_s=request_timeout_s,
        max_connections=max_connections,
    )
    click.echo(f"serving {loaded.version} on {server.url} (GET /ping, POST /invocations)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
