"""`fraud-pipeline media ...`: score local image files, add known scam images to the blocklist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from fraud_pipeline.cli_options import settings_options
from fraud_pipeline.policy.loader import Policy, PolicyError, load_policy
from fraud_pipeline.policy.source import FolderPolicySource, PolicySourceError, default_policy_dir
from fraud_pipeline.serving.commands import SERVE_ENV_PREFIX, serve_host_option
from fraud_pipeline.settings import Settings

POLICY_OPTION = click.option(
    "--policy",
    "policy_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Policy folder (default: the project's policy/).",
)


def _policy(folder: Path) -> Policy:
    try:
        return load_policy(FolderPolicySource(folder).read())
    except (PolicyError, PolicySourceError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def media() -> None:
    """Read images for fraud: OCR, QR codes, known scam images (see docs/media.md)."""


@media.command()
@POLICY_OPTION
@click.option("--model", "model_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--alt", "alt_text", default="", help="Alt text scored with every image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
def score(
    policy_dir: Path | None, model_path: Path | None, alt_text: str, as_json: bool, files: tuple[Path, ...]
) -> None:
    """Score image files: path, fraud_media_likelihood, is_fraud, reasons."""
    from fraud_pipeline.media.scorer import ImageScorer
    from fraud_pipeline.scoring.text_model import load_text_model

    scorer = ImageScorer(_policy(policy_dir or default_policy_dir()), load_text_model(model_path))
    for path in files:
        with path.open("rb") as handle:  # never read more than the cap (and one byte to know)
            data = handle.read(scorer.spec.max_bytes + 1)
        verdict = scorer.score_bytes(data, alt_text)
        if as_json:
            click.echo(orjson.dumps(verdict.to_json(str(path))).decode())
        else:
            likelihood = (
                "unavailable"
                if verdict.fraud_media_likelihood is None
                else f"{verdict.fraud_media_likelihood:.2f}"
            )
            click.echo(
                f"{path}\t{likelihood}\t{'FRAUD' if verdict.is_fraud else 'ok'}\t{'; '.join(verdict.reasons)}"
            )


@media.command("serve")
@settings_options
@click.option("--port", type=int, default=8081, show_default=True, envvar=SERVE_ENV_PREFIX + "PORT")
@serve_host_option
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar=SERVE_ENV_PREFIX + "MODEL_DIR",
    help="Unpacked model.tar.gz whose text model reads what the images say (default: the pipeline's).",
)
def serve(settings: Settings, port: int, host: str, model_dir: Path | None) -> None:
    """The media endpoint: POST /invocations (image bytes, or JSON s3_uri / cid+did), GET /ping."""
    run_media_server(settings, host, port, model_dir)


def run_media_server(settings: Settings, host: str, port: int, model_dir: Path | None, **limits: Any) -> None:
    """Serve images on the container contract until interrupted (`media serve`, or `serve` in the
    inference image when FRAUD_PIPELINE_SERVE_KIND=media)."""
    from fraud_pipeline.media.fetch import BlobFetcher, FetchLimits
    from fraud_pipeline.media.serving import MediaHTTPServer
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.policy.runtime import open_policy_holder
    from fraud_pipeline.scoring.text_model import ArtifactError
    from fraud_pipeline.serving.clients import InProcessTextScorer
    from fraud_pipeline.serving.commands import load_served_model

    try:
        model = load_served_model(None, model_dir, settings)
        server = MediaHTTPServer(
            open_policy_holder(settings),
            InProcessTextScorer(model),
            objects=ObjectStore.from_settings(settings),
            fetcher=BlobFetcher(
                settings.cdn_base_url,
                settings.video_cdn_base_url,
                FetchLimits(settings.media_fetch_timeout_s),
            ),
            host=host,
            port=port,
            **limits,
        )
    except (ArtifactError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"serving {server.version} on {server.url} (GET /ping, POST /invocations)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@media.group()
def blocklist() -> None:
    """Known scam images, matched by perceptual hash (policy/media_blocklist.yaml)."""


@blocklist.command()
@POLICY_OPTION
@click.option("--note", default="", help="Why the image is listed.")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def add(policy_dir: Path | None, note: str, image: Path) -> None:
    """Add an image's perceptual hash to the policy's blocklist (then `policy push` on aws)."""
    from fraud_pipeline.media.blocklist import add_to_blocklist, perceptual_hash
    from fraud_pipeline.media.decode import MediaRejected, decode_image

    folder = policy_dir or default_policy_dir()
    spec = _policy(folder).spec.media
    if spec is None:
        raise click.ClickException(f"{folder} has no `media` section")
    try:
        decoded = decode_image(image.read_bytes()[: spec.max_bytes + 1], spec)
    except MediaRejected as exc:
        raise click.ClickException(f"{image}: {exc.reason}") from exc
    image_hash = perceptual_hash(decoded.frames[0])
    added = add_to_blocklist(folder, image_hash, note)
    _policy(folder)  # the folder still validates
    click.echo(orjson.dumps({"phash": str(image_hash), "added": added, "folder": str(folder)}).decode())
