"""The image scorer behind the media endpoint, as the stream reaches it (`media_model_mode`).

`http` posts the image bytes to a local `fraud-pipeline media serve` and `sagemaker` to the
media endpoint (`invoke_endpoint`), both as `application/x-image` on the SageMaker container
contract, and read back the verdict the in-process scorer would give (`MediaVerdict`). An
endpoint that cannot answer raises `ModelUnavailable`: the image is unavailable for now (not
cached), never judged.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from fraud_pipeline.media.scorer import MediaVerdict
from fraud_pipeline.scoring.base import ModelUnavailable
from fraud_pipeline.settings import Settings

IMAGE_CONTENT_TYPE = "application/x-image"


def verdict_from_reply(body: bytes) -> MediaVerdict:
    """A verdict from the endpoint's JSON reply, or ModelUnavailable if it is not one."""
    try:
        reply = orjson.loads(body)
        likelihood = reply["fraud_media_likelihood"]
        verdict = MediaVerdict(
            None if likelihood is None else float(likelihood),
            bool(reply["is_fraud"]),
            [str(r) for r in reply.get("reasons") or []],
            unavailable=reply.get("unavailable"),
            ocr_text=str(reply.get("ocr_text") or ""),
            qr_urls=[str(u) for u in reply.get("qr_urls") or []],
            ocr_skipped=bool(reply.get("ocr_skipped")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"bad reply from the media endpoint: {body[:80]!r}") from exc
    if verdict.fraud_media_likelihood is not None and not 0.0 <= verdict.fraud_media_likelihood <= 1.0:
        raise ModelUnavailable("the media endpoint returned a likelihood outside 0..1")
    return verdict


class HttpImageJudge:
    """`fraud-pipeline media serve` over HTTP."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.version = f"http:{self.url}"
        self.client = httpx.Client(timeout=httpx.Timeout(timeout_s), trust_env=False)

    def score_bytes(self, data: bytes, alt_text: str = "") -> MediaVerdict:
        try:
            reply = self.client.post(
                f"{self.url}/invocations",
                content=data,
                headers={"Content-Type": IMAGE_CONTENT_TYPE, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"media server {self.url} unreachable: {exc}") from exc
        if reply.status_code != 200:
            raise ModelUnavailable(
                f"media server {self.url} answered HTTP {reply.status_code}: {reply.text[:200]}"
            )
        return verdict_from_reply(reply.content)


class SageMakerImageJudge:
    """The media endpoint on SageMaker."""

    def __init__(self, endpoint: str, client: Any) -> None:
        self.endpoint = endpoint
        self.version = f"sagemaker:{endpoint}"
        self.client = client

    def score_bytes(self, data: bytes, alt_text: str = "") -> MediaVerdict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint,
                Body=data,
                ContentType=IMAGE_CONTENT_TYPE,
                Accept="application/json",
            )
            body = response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise ModelUnavailable(f"media endpoint {self.endpoint}: {exc}") from exc
        return verdict_from_reply(body)


def open_remote_image_judge(settings: Settings) -> HttpImageJudge | SageMakerImageJudge:
    """The media endpoint client for `media_model_mode` (http or sagemaker); reading an image
    costs more than a text, so it waits up to `media_fetch_timeout_s` (the batch budget bounds
    the stream either way)."""
    if settings.media_model_mode == "http":
        return HttpImageJudge(settings.media_model_url, settings.media_fetch_timeout_s)
    from fraud_pipeline.aws import aws_client

    client = aws_client(
        "sagemaker-runtime",
        settings.aws_region,
        settings.endpoint_url,
        max_attempts=1,
        timeout_s=settings.media_fetch_timeout_s,
    )
    return SageMakerImageJudge(settings.media_endpoint, client)
