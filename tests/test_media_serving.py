"""The media endpoint on the SageMaker container contract, and the stream reaching it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from fraud_pipeline.ingest.synth import blob_cid
from fraud_pipeline.media.blob_server import BlobServer
from fraud_pipeline.media.fetch import BlobFetcher, FetchLimits
from fraud_pipeline.media.remote import SageMakerImageJudge
from fraud_pipeline.media.serving import MediaHTTPServer
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.policy.runtime import PolicyHolder
from fraud_pipeline.scoring.base import ModelUnavailable
from fraud_pipeline.scoring.handler import ScoringRuntime
from fraud_pipeline.scoring.text_model import load_text_model
from fraud_pipeline.serving.clients import InProcessTextScorer
from fraud_pipeline.settings import Settings
from tests.test_media_stream import DID, SCAM, _post, _runtime, _score

SCAM_CID = blob_cid(SCAM)


@pytest.fixture()
def cdn() -> Iterator[BlobServer]:
    server = BlobServer(blobs={SCAM_CID: SCAM})
    server.start_background()
    yield server
    server.stop()


@pytest.fixture()
def endpoint(tmp_path: Path, cdn: BlobServer) -> Iterator[MediaHTTPServer]:
    objects = ObjectStore.local(tmp_path / "bucket")
    objects.put_bytes(f"media/{SCAM_CID}", SCAM)
    server = MediaHTTPServer(
        PolicyHolder.fixed(load_default_policy()),
        InProcessTextScorer(load_text_model()),
        objects=objects,
        fetcher=BlobFetcher(cdn.url, cdn.url, FetchLimits(timeout_s=5.0)),
        port=0,
    )
    server.start_background()
    yield server
    server.stop()


def test_the_contract_round_trips_bytes_s3_uris_and_cids(endpoint: MediaHTTPServer, cdn: BlobServer) -> None:
    client = httpx.Client(base_url=endpoint.url, timeout=60.0)
    ping = client.get("/ping")
    assert ping.status_code == 200 and ping.json()["version"].startswith("image-reader@")
    assert "version=image-reader@" in ping.headers["X-Amzn-SageMaker-Custom-Attributes"]

    by_bytes = client.post("/invocations", content=SCAM, headers={"Content-Type": "application/x-image"})
    assert by_bytes.status_code == 200
    verdict = by_bytes.json()
    assert verdict["is_fraud"] and verdict["fraud_media_likelihood"] >= 0.5
    assert "ETH" in verdict["ocr_text"] and verdict["reasons"]

    uri = endpoint.objects.uri(f"media/{SCAM_CID}")  # type: ignore[union-attr]
    by_uri = client.post("/invocations", json={"s3_uri": uri})
    assert by_uri.status_code == 200 and by_uri.json() == verdict
    by_cid = client.post("/invocations", json={"cid": SCAM_CID, "did": DID})
    assert by_cid.status_code == 200 and by_cid.json() == verdict
    assert cdn.requests == [f"/img/feed_thumbnail/plain/{DID}/{SCAM_CID}@jpeg"]

    corrupt = client.post(
        "/invocations", content=b"\xff\xd8\xff" + b"\x00" * 50, headers={"Content-Type": "image/jpeg"}
    )
    assert corrupt.status_code == 200 and corrupt.json()["fraud_media_likelihood"] is None
    assert corrupt.json()["unavailable"]
    missing = client.post("/invocations", json={"cid": "bafkreinothere", "did": DID})
    assert missing.json()["fraud_media_likelihood"] is None and "http_404" in missing.json()["unavailable"]
    # Only the deployment's own bucket is read; other types and shapes are refused with why.
    elsewhere = client.post("/invocations", json={"s3_uri": "s3://someone-elses-bucket/secret.png"})
    assert elsewhere.status_code == 400 and "bucket" in elsewhere.json()["error"]
    assert client.post("/invocations", json={"text": "hi"}).status_code == 400
    plain = client.post("/invocations", content=b"hello", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    client.close()


def test_the_stream_scores_images_on_the_remote_endpoint(
    local_settings: Settings, endpoint: MediaHTTPServer, cdn: BlobServer
) -> None:
    settings = local_settings.with_overrides(
        media_images="on",
        media_model_mode="http",
        media_model_url=endpoint.url,
        cdn_base_url=cdn.url,
        video_cdn_base_url=cdn.url,
        media_batch_budget_s=60.0,
    )
    runtime: ScoringRuntime = _runtime(settings)
    [record] = _score(runtime, [_post("3kremote00001", [SCAM_CID], text="look at this")])
    assert record.is_fraud and "fraud-media" in record.labels
    assert any(r.startswith(f"image {SCAM_CID}: ") for r in record.reasons)
    runtime.close()

    # The endpoint down: the image is unavailable (not cached), the post tagged all the same.
    endpoint.stop()
    settings = settings.with_overrides(home=local_settings.home.parent / "second")
    runtime = _runtime(settings)
    [record] = _score(runtime, [_post("3kremote00002", [SCAM_CID], text="look at this")])
    assert record.fraud_media_likelihood is None
    assert any("media score unavailable" in r and "unreachable" in r for r in record.reasons)
    runtime.close()


EXPECTED_CALL = {
    "EndpointName": "media",
    "Body": SCAM,
    "ContentType": "application/x-image",
    "Accept": "application/json",
}


def test_the_sagemaker_client_sends_image_bytes() -> None:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    reply = json.dumps({"fraud_media_likelihood": 0.91, "is_fraud": True, "reasons": ["r"]}).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(reply), len(reply)), "ContentType": "application/json"},
            {
                "EndpointName": "media",
                "Body": SCAM,
                "ContentType": "application/x-image",
                "Accept": "application/json",
            },
        )
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(b"body"), 4), "ContentType": "application/json"},
            {
                "EndpointName": "media",
                "Body": SCAM,
                "ContentType": "application/x-image",
                "Accept": "application/json",
            },
        )
        judge = SageMakerImageJudge("media", client)
        verdict = judge.score_bytes(SCAM)
        assert verdict.fraud_media_likelihood == 0.91 and verdict.is_fraud and verdict.reasons == ["r"]
        with pytest.raises(ModelUnavailable):
            judge.score_bytes(SCAM)  # what moto's endpoint answers: not a verdict
