"""Serving: the SageMaker handler functions, the local server, the scorer clients, packaging."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.scoring.base import ModelUnavailable
from fraud_pipeline.scoring.text_model import (
    BUNDLED_ARTIFACT,
    LinearTextModel,
    bundled_artifact_path,
    load_text_model,
)
from fraud_pipeline.serving import inference
from fraud_pipeline.serving.clients import (
    HttpTextScorer,
    InProcessTextScorer,
    SageMakerTextScorer,
    open_text_scorer,
)
from fraud_pipeline.serving.package import build_tarball, upload
from fraud_pipeline.serving.server import ModelHTTPServer
from fraud_pipeline.settings import Settings
from tests.text_model_fixtures import BAD_TEXTS, REAL_TEXTS


@pytest.fixture(scope="module")
def model() -> LinearTextModel:
    return load_text_model()


@pytest.fixture(scope="module")
def server(model: LinearTextModel) -> Iterator[ModelHTTPServer]:
    srv = ModelHTTPServer(model, host="127.0.0.1", port=0, max_body_bytes=64 * 1024)
    srv.start_background()
    try:
        yield srv
    finally:
        srv.stop()


def _post(
    server: ModelHTTPServer, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    try:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, json.loads(response.read()), dict(response.getheaders())
    finally:
        conn.close()


# -- handler functions ---------------------------------------------------------------------


def test_handler_functions_round_trip(tmp_path: Path, model: LinearTextModel) -> None:
    (tmp_path / BUNDLED_ARTIFACT).write_bytes(bundled_artifact_path().read_bytes())
    loaded = inference.model_fn(str(tmp_path))
    for body in (json.dumps(REAL_TEXTS), json.dumps({"instances": [{"text": t} for t in REAL_TEXTS]})):
        texts = inference.input_fn(body.encode(), "application/json; charset=utf-8")
        reply = json.loads(inference.output_fn(inference.predict_fn(texts, loaded), "application/json"))
        assert [row["score"] for row in reply] == pytest.approx(model.score(REAL_TEXTS), rel=1e-12)
        assert [row["is_fraud"] for row in reply] == [s >= model.threshold for s in model.score(REAL_TEXTS)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"texts": ["a"]}', '"instances"'),
        (b'"just a string"', "expected a list"),
        (b'["ok", 3]', "instances[1] must be a string"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_input_fn_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(inference.InvalidInput, match=message.replace("[", r"\[")):
        inference.input_fn(body, "application/json")


def test_input_fn_rejects_other_content_types() -> None:
    with pytest.raises(inference.UnsupportedMediaType, match="text/csv"):
        inference.input_fn(b"a,b", "text/csv")


# -- local server --------------------------------------------------------------------------


def test_ping_reports_version(server: ModelHTTPServer, model: LinearTextModel) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    conn.request("GET", "/ping")
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["version"] == model.version
    assert f"version={model.version}" in response.getheader("X-Amzn-SageMaker-Custom-Attributes", "")
    conn.close()


def test_server_scores_real_and_bad_texts(server: ModelHTTPServer, model: LinearTextModel) -> None:
    texts = REAL_TEXTS + [t[:5000] for t in BAD_TEXTS]
    status, reply, _ = _post(server, json.dumps({"instances": texts}).encode())
    assert status == 200
    assert [row["score"] for row in reply] == pytest.approx(model.score(texts), rel=1e-12)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"[1, 2", "application/json", 400, "not valid JSON"),
        (b'{"instances": "abc"}', "application/json", 400, "expected a list"),
        (b'[{"txt": "a"}]', "application/json", 400, "instances[0]"),
        (b"hello", "text/plain", 415, "text/plain"),
    ],
)
def test_server_rejects_malformed_requests(
    server: ModelHTTPServer, body: bytes, content_type: str, status: int, message: str
) -> None:
    got_status, reply, _ = _post(server, body, content_type)
    assert got_status == status
    assert message in reply["error"]


def test_server_rejects_oversized_requests(server: ModelHTTPServer) -> None:
    status, reply, _ = _post(server, json.dumps(["x" * 70_000]).encode())
    assert status == 413
    assert "exceeds the limit" in reply["error"]


def test_server_unknown_path_and_missing_length(server: ModelHTTPServer) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    conn.request("GET", "/nope")
    assert conn.getresponse().status == 404
    conn.close()
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    conn.putrequest("POST", "/invocations")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411
    conn.close()


# -- scorer clients -----------------------------------------------------------------------


def test_pipeline_scorer_same_scores_inprocess_and_over_http(
    server: ModelHTTPServer, local_settings: Settings
) -> None:
    inprocess = open_text_scorer(local_settings)
    remote = open_text_scorer(
        local_settings.with_overrides(text_model_mode="http", text_model_url=server.url)
    )
    assert isinstance(inprocess, InProcessTextScorer) and isinstance(remote, HttpTextScorer)
    remote.batch_size = 4  # several requests for one call: batching keeps order
    texts = REAL_TEXTS + BAD_TEXTS[:3] + REAL_TEXTS
    assert remote.score(texts) == pytest.approx(inprocess.score(texts), rel=1e-12)
    assert remote.version == inprocess.version and remote.threshold == inprocess.threshold


def test_http_scorer_down_raises_model_unavailable_after_bounded_retries() -> None:
    from tests.conftest import free_port

    sleeps: list[float] = []
    scorer = HttpTextScorer(f"http://127.0.0.1:{free_port()}", timeout_s=0.5, retries=2, sleep=sleeps.append)
    with pytest.raises(ModelUnavailable) as info:
        scorer.score(["hello"])
    assert "unreachable" in info.value.reason and "after 3 attempts" in info.value.reason
    assert len(sleeps) == 2


def test_http_scorer_bad_request_is_unavailable_with_reason(server: ModelHTTPServer) -> None:
    scorer = HttpTextScorer(server.url, timeout_s=2, retries=0)
    scorer.url = server.url + "/wrong"
    with pytest.raises(ModelUnavailable, match="HTTP 404"):
        scorer.score(["hello"])


def test_inprocess_missing_artifact_is_unavailable(local_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no text model artifact"):
        open_text_scorer(local_settings.with_overrides(text_model_path=str(tmp_path / "none.json")))


def _stubbed_runtime() -> tuple[object, Stubber]:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    return client, Stubber(client)


def test_sagemaker_scorer_parses_replies_and_custom_attributes(model: LinearTextModel) -> None:
    client, stubber = _stubbed_runtime()
    body = inference.output_fn(inference.predict_fn(REAL_TEXTS, model))
    stubber.add_response(
        "invoke_endpoint",
        {
            "Body": StreamingBody(io.BytesIO(body), len(body)),
            "ContentType": "application/json",
            "CustomAttributes": inference.custom_attributes(model),
        },
    )
    scorer = SageMakerTextScorer("ep", region="us-east-1", timeout_s=1, client=client)
    with stubber:
        assert scorer.score(REAL_TEXTS) == pytest.approx(model.score(REAL_TEXTS), rel=1e-12)
    assert scorer.version == model.version and scorer.threshold == pytest.approx(model.threshold)


def test_sagemaker_scorer_errors_become_model_unavailable() -> None:
    client, stubber = _stubbed_runtime()
    for _ in range(2):
        stubber.add_client_error("invoke_endpoint", "ModelError", "container crashed", 424)
    scorer = SageMakerTextScorer(
        "ep", region="us-east-1", timeout_s=1, client=client, retries=1, sleep=lambda s: None
    )
    with stubber, pytest.raises(ModelUnavailable, match="ModelError: container crashed"):
        scorer.score(["x"])


@pytest.mark.moto
def test_sagemaker_scorer_against_moto_reports_the_bad_reply(aws_settings: Settings) -> None:
    """moto's invoke_endpoint answers b'body' for any endpoint: a bad reply, not a crash."""
    scorer = open_text_scorer(aws_settings.with_overrides(text_model_mode="sagemaker"))
    assert isinstance(scorer, SageMakerTextScorer)
    scorer.retries = 0
    with pytest.raises(ModelUnavailable, match="bad reply from model"):
        scorer.score(["hello"])


# -- packaging ----------------------------------------------------------------------------


def test_package_layout_and_standalone_inference(tmp_path: Path, model: LinearTextModel) -> None:
    result = build_tarball(bundled_artifact_path(), tmp_path / "model.tar.gz")
    with tarfile.open(result.path) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert {BUNDLED_ARTIFACT, "code/inference.py", "code/requirements.txt"} <= names
    assert result.version == model.version
    again = build_tarball(bundled_artifact_path(), tmp_path / "again.tar.gz")
    assert again.path.read_bytes() == result.path.read_bytes()  # reproducible archive
    script = (
        "import json, sys, inference, fraud_pipeline\n"
        "assert fraud_pipeline.__file__.startswith(sys.argv[1]), fraud_pipeline.__file__\n"
        "m = inference.model_fn(sys.argv[2])\n"
        "texts = inference.input_fn(sys.stdin.read(), 'application/json')\n"
        "sys.stdout.write(inference.output_fn(inference.predict_fn(texts, m), 'application/json').decode())\n"
    )
    code_dir = tmp_path / "unpacked" / "code"
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(code_dir), str(tmp_path / "unpacked")],
        input=json.dumps(REAL_TEXTS),
        capture_output=True,
        text=True,
        cwd=code_dir,
        env=env,
        timeout=60,
        check=True,
    )
    scores = [row["score"] for row in json.loads(done.stdout)]
    np.testing.assert_allclose(scores, model.score(REAL_TEXTS), rtol=1e-12)


def test_package_uploads_to_local_store(tmp_path: Path, local_settings: Settings) -> None:
    result = upload(build_tarball(bundled_artifact_path(), tmp_path / "model.tar.gz"), local_settings)
    store = ObjectStore.from_settings(local_settings)
    assert result.key == f"models/text/{result.version}/model.tar.gz"
    with store.fs.open_input_stream(store.path(result.key), compression=None) as stream:
        assert stream.read() == result.path.read_bytes()
    meta = json.loads(store.get_bytes(f"models/text/{result.version}/metadata.json"))
    assert meta["version"] == result.version and meta["metadata"]["training_data"]["sha256"]


@pytest.mark.moto
def test_package_uploads_to_s3(tmp_path: Path, aws_settings: Settings) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_settings.endpoint_url, region_name=aws_settings.aws_region)
    s3.create_bucket(Bucket=aws_settings.bucket)  # what `fraud-pipeline provision` does
    result = upload(build_tarball(bundled_artifact_path(), tmp_path / "model.tar.gz"), aws_settings)
    listed = s3.list_objects_v2(Bucket=aws_settings.bucket, Prefix="models/text/")
    assert {obj["Key"] for obj in listed["Contents"]} == {
        result.key,
        f"models/text/{result.version}/metadata.json",
    }
    assert result.uri == f"s3://{aws_settings.bucket}/{result.key}"
    stored = s3.get_object(Bucket=aws_settings.bucket, Key=result.key)["Body"].read()
    assert stored == result.path.read_bytes()  # not gzipped a second time on the way


# -- hardening: the inference image's command, connection bounds, nesting -------------------


def _dockerfile_instructions(path: Path) -> dict[str, list[str]]:
    """ENV (as KEY=VALUE words), ENTRYPOINT and CMD (JSON form) of a Dockerfile."""
    text = path.read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {"ENV": []}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            found["ENV"] += rest.split()
        elif word in ("ENTRYPOINT", "CMD"):
            found[word] = json.loads(rest)
    return found


def test_inference_image_serves_on_all_interfaces_and_loads_opt_ml_model(tmp_path: Path) -> None:
    """SageMaker runs `docker run <image> serve`: that command alone must bind 0.0.0.0:8080 and
    serve /opt/ml/model; text and media endpoints both run this image."""
    from click.testing import CliRunner

    from fraud_pipeline.serving.commands import serve
    from tests.infra_fixtures import INFRA, LIVE, component_config

    for env in ("dev", "prod"):
        for component in ("sagemaker_text", "sagemaker_media"):
            image = component_config(LIVE / env / component)["inputs"]["image_uri"]
            assert 'repository_urls["inference"]' in image, (env, component, image)
    image = _dockerfile_instructions(INFRA / "docker" / "inference.Dockerfile")
    image_env = dict(item.split("=", 1) for item in image["ENV"])
    argv = image["ENTRYPOINT"] + ["serve"]  # SageMaker's argument replaces CMD
    assert argv == ["fraud-pipeline", "serve"]

    runner = CliRunner(env=image_env)
    with runner.isolation(env=image_env):
        context = serve.make_context("serve", [])
        resolved = dict(context.params)
    assert resolved["host"] == "0.0.0.0"
    assert resolved["port"] == 8080
    assert resolved["model_dir"] == Path("/opt/ml/model")

    # The same environment, on loopback and a free port, with a retrained model in the model folder.
    from tests.conftest import free_port

    artifact = json.loads(bundled_artifact_path().read_bytes())
    artifact["version"] = "text-hashlr-retrained0001"
    model_dir = tmp_path / "opt-ml-model"
    model_dir.mkdir()
    (model_dir / BUNDLED_ARTIFACT).write_text(json.dumps(artifact))
    port = free_port()
    env = {
        **os.environ,
        **image_env,
        "FRAUD_PIPELINE_SERVE_HOST": "127.0.0.1",
        "FRAUD_PIPELINE_SERVE_PORT": str(port),
        "FRAUD_PIPELINE_SERVE_MODEL_DIR": str(model_dir),
        "FRAUD_PIPELINE_HOME": str(tmp_path / "home"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "fraud_pipeline.cli", *argv[1:]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/ping")
                response = conn.getresponse()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "serve never answered /ping"
                time.sleep(0.2)
        assert response.status == 200
        assert json.loads(response.read())["version"] == "text-hashlr-retrained0001"
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_model_folder_without_an_artifact_is_an_error_not_the_bundled_model(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fraud_pipeline.cli import main

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "README").write_text("not a model")
    result = CliRunner().invoke(
        main, ["serve", "--home", str(tmp_path / "home"), "--model-dir", str(tmp_path / "model")]
    )
    assert result.exit_code != 0
    assert "no text_model.json" in result.output


def _socket_to(server: ModelHTTPServer) -> socket.socket:
    host, port = server.server_address[:2]
    return socket.create_connection((str(host), port), timeout=5)


def test_idle_connections_are_capped_and_closed(model: LinearTextModel) -> None:
    """Before: 150 idle connections held 150 threads indefinitely."""
    srv = ModelHTTPServer(model, host="127.0.0.1", port=0, idle_timeout_s=0.5, max_connections=4)
    srv.start_background()
    threads_before = threading.active_count()
    idle = [_socket_to(srv) for _ in range(4)]
    try:
        time.sleep(0.1)  # let the server accept the four
        refused = _socket_to(srv)
        reply = refused.recv(4096)
        assert reply.startswith(b"HTTP/1.1 503"), reply
        assert b"too many open connections" in reply
        refused.close()
        assert srv.refused_connections == 1
        # The idle ones are closed by the server within the timeout, and their threads end.
        for sock in idle:
            sock.settimeout(5)
            assert sock.recv(4096) == b"", "the server must close an idle connection"
        deadline = time.monotonic() + 5
        while threading.active_count() > threads_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= threads_before
        # Slots are free again: a new client is served.
        conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=5)
        conn.request("GET", "/ping")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        for sock in idle:
            sock.close()
        srv.stop()


def test_a_body_that_never_arrives_times_out(model: LinearTextModel) -> None:
    srv = ModelHTTPServer(model, host="127.0.0.1", port=0, idle_timeout_s=0.5, max_connections=4)
    srv.start_background()
    try:
        sock = _socket_to(srv)
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n["only part'
        )
        reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply
        sock.close()
    finally:
        srv.stop()


def test_deeply_nested_json_is_a_bad_request(server: ModelHTTPServer) -> None:
    """Before: the stdlib parser's RecursionError answered 500."""
    status, reply, _ = _post(server, b"[" * 20_000 + b"]" * 20_000)
    assert status == 400
    assert "nested too deeply" in reply["error"]
    with pytest.raises(ModelUnavailable, match="bad reply"):
        from fraud_pipeline.serving.clients import parse_predictions

        parse_predictions(b"[" * 20_000 + b"]" * 20_000, 1)


def test_a_request_trickled_a_byte_at_a_time_is_cut_off_at_its_deadline(model: LinearTextModel) -> None:
    """Each byte arrives within the idle timeout, so only a deadline for the whole request ends it."""
    srv = ModelHTTPServer(
        model, host="127.0.0.1", port=0, idle_timeout_s=0.5, request_timeout_s=1.5, max_connections=4
    )
    srv.start_background()
    try:
        sock = _socket_to(srv)
        request = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        started = time.monotonic()
        closed_after = None
        for byte in request * 10:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(4096) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
            if time.monotonic() - started > 10:
                break
        sock.close()
        assert closed_after is not None, "the trickling client kept its connection"
        assert 1.4 <= closed_after < 4.0
        conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=5)  # the server still serves
        conn.request("GET", "/ping")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        srv.stop()
