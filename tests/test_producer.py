"""The producer: batching within the API limits, partial-failure retries, order, backpressure.

The in-memory stream checks the logic quickly; the moto test puts an HTTP proxy in front
of the real moto server that fails some PutRecords entries the honest way (the failed
entries never reach moto, and the response says ProvisionedThroughputExceededException
for them), then reads the stream back.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from fraud_pipeline.ingest.producer import Producer, ProducerClosed
from fraud_pipeline.records import Post
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams.base import MAX_RECORD_BYTES, PutEntry, StreamNotFound
from tests.ingest_fixtures import MemoryStream

NAME = "untagged"


def entries(n_keys: int, per_key: int) -> list[PutEntry]:
    """Interleaved entries: key k's i-th record carries b'k:i'."""
    return [PutEntry(f"did:plc:{k:024d}", f"{k}:{i}".encode()) for i in range(per_key) for k in range(n_keys)]


def assert_exactly_once_in_order(got: list[tuple[str, bytes]], sent: list[PutEntry]) -> None:
    assert sorted(got) == sorted((e.partition_key, e.data) for e in sent)  # all, no duplicates
    by_key: dict[str, list[bytes]] = {}
    for key, data in got:
        by_key.setdefault(key, []).append(data)
    for key, datas in by_key.items():
        assert datas == [e.data for e in sent if e.partition_key == key], key


@pytest.fixture()
def stream() -> MemoryStream:
    s = MemoryStream()
    s.create_stream(NAME, 2)
    return s


def test_partial_failures_are_retried_exactly_once_in_order(stream: MemoryStream) -> None:
    stream.fail_plan = [{0, 3, 5}, {1}, set(), {0, 1, 2}]
    stream.raise_plan = [ConnectionError("reset")]
    sent = entries(n_keys=7, per_key=30)
    producer = Producer(stream, NAME, linger_s=0.01, backoff_base_s=0.001)
    for entry in sent:
        producer.put(entry)
    producer.close()
    got = [(r.partition_key, r.data) for r in stream.records(NAME)]
    assert_exactly_once_in_order(got, sent)
    assert producer.stats.put == len(sent)
    assert producer.stats.retried >= 3 + 1 + 3  # the scripted failures
    assert producer.stats.call_errors == 1 and producer.stats.failed == 0


def test_batches_stay_within_api_limits(stream: MemoryStream) -> None:
    producer = Producer(stream, NAME, linger_s=0.05)
    many = entries(n_keys=1200, per_key=1)
    for entry in many:
        producer.put(entry)
    big = [PutEntry(f"big{i}", bytes(MAX_RECORD_BYTES - 100)) for i in range(12)]
    for entry in big:
        producer.put(entry)
    producer.close()
    assert max(stream.calls) <= 500
    assert len(stream.records(NAME)) == 1212
    assert max(stream.call_bytes) <= 5 * 1024 * 1024
    assert sum(stream.call_bytes) > 2 * 5 * 1024 * 1024  # so the big ones needed at least three calls
    assert producer.stats.batches == len(stream.calls) >= 3


def test_oversized_record_and_bad_key_are_refused(stream: MemoryStream) -> None:
    producer = Producer(stream, NAME)
    with pytest.raises(ValueError, match="exceeds"):
        producer.put(PutEntry("k", bytes(MAX_RECORD_BYTES)))
    with pytest.raises(ValueError, match="partition key"):
        producer.put(PutEntry("", b"x"))
    producer.close()
    assert stream.calls == []


def test_non_retryable_error_goes_to_on_failed() -> None:
    class KmsDenied(MemoryStream):
        def put_records(self, name, batch):  # type: ignore[no-untyped-def]
            results = super().put_records(name, batch)
            from fraud_pipeline.streams.base import PutResult

            return [
                PutResult(error_code="KMSAccessDeniedException", error_message="no key")
                if e.data == b"poison"
                else r
                for e, r in zip(batch, results, strict=True)
            ]

    stream = KmsDenied()
    stream.create_stream(NAME, 1)
    failed: list[tuple[bytes, str]] = []
    producer = Producer(
        stream, NAME, linger_s=0.01, backoff_base_s=0.001, max_attempts_other=3,
        on_failed=lambda e, why: failed.append((e.data, why)),
    )  # fmt: skip
    producer.put(PutEntry("a", b"ok"))
    producer.put(PutEntry("b", b"poison"))
    producer.close()
    assert failed == [(b"poison", "KMSAccessDeniedException: no key")]
    assert producer.stats.failed == 1 and producer.stats.put == 1


def test_backpressure_blocks_the_caller_until_the_stream_accepts(stream: MemoryStream) -> None:
    gate = threading.Event()
    original = stream.put_records

    def slow_put(name: str, batch: list[PutEntry]):  # type: ignore[no-untyped-def]
        gate.wait()
        return original(name, batch)

    stream.put_records = slow_put  # type: ignore[method-assign]
    producer = Producer(stream, NAME, max_queue=5, linger_s=0.0)
    sent = entries(n_keys=2000, per_key=1)
    done = threading.Event()

    def feed() -> None:
        for entry in sent:
            producer.put(entry)
        done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    assert not done.wait(0.5)  # blocked: the queue and the backlog are bounded
    assert producer.outstanding < len(sent)
    gate.set()
    assert done.wait(30)
    producer.close()
    assert len(stream.records(NAME)) == len(sent)


def test_missing_stream_surfaces_in_the_caller() -> None:
    class Missing(MemoryStream):
        def put_records(self, name, batch):  # type: ignore[no-untyped-def]
            raise StreamNotFound(name)

    producer = Producer(Missing(), NAME, linger_s=0.0)
    producer.put(PutEntry("a", b"x"))
    with pytest.raises(ProducerClosed):
        producer.flush(timeout=10)
    with pytest.raises(ProducerClosed):
        producer.put(PutEntry("a", b"y"))
    producer.close()


def test_put_post_keys_by_author(stream: MemoryStream) -> None:
    producer = Producer(stream, NAME, linger_s=0.0)
    post = Post(
        uri="at://did:plc:x/app.bsky.feed.post/1", did="did:plc:x", rkey="1", operation="create", time_us=5
    )
    producer.put_post(post)
    producer.close()
    (record,) = stream.records(NAME)
    assert record.partition_key == "did:plc:x" and Post.from_json(record.data) == post


# -- against moto, with fault injection at the HTTP level ----------------------------------


class FaultInjectingProxy(http.server.ThreadingHTTPServer):
    """Forwards to moto; fails every third entry of the first `faulty_calls` PutRecords calls.

    Failed entries are removed from the request before it reaches moto (so they are really
    not stored) and reinserted in the response as ProvisionedThroughputExceededException.
    """

    def __init__(self, upstream: str, faulty_calls: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faulty_calls = faulty_calls
        self.put_calls = 0
        self.injected = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: FaultInjectingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        failing: list[int] = []
        if self.headers.get("X-Amz-Target", "").endswith(".PutRecords"):
            with self.server.lock:
                self.server.put_calls += 1
                faulty = self.server.put_calls <= self.server.faulty_calls
            if faulty:
                request = json.loads(body)
                failing = [i for i in range(len(request["Records"])) if i % 3 == 1]
                request["Records"] = [r for i, r in enumerate(request["Records"]) if i not in failing]
                body = json.dumps(request).encode()
        status, headers, payload = self._forward(body)
        if failing and status == 200:
            response = json.loads(payload)
            kept = iter(response["Records"])
            total = len(response["Records"]) + len(failing)
            response["Records"] = [
                {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded (proxy)",
                }
                if i in failing
                else next(kept)
                for i in range(total)
            ]
            response["FailedRecordCount"] = response.get("FailedRecordCount", 0) + len(failing)
            payload = json.dumps(response).encode()
            with self.server.lock:
                self.server.injected += len(failing)
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            headers["Content-Length"] = str(len(body))
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


@pytest.fixture()
def proxy(moto_endpoint: str) -> Iterator[FaultInjectingProxy]:
    server = FaultInjectingProxy(moto_endpoint, faulty_calls=4)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.moto
def test_moto_partial_failures_every_record_once_in_order(
    aws_settings: Settings, proxy: FaultInjectingProxy
) -> None:
    from fraud_pipeline.streams.kinesis import KinesisStream, kinesis_client

    name = aws_settings.untagged_stream
    direct = KinesisStream(kinesis_client(aws_settings.aws_region, aws_settings.endpoint_url))
    direct.create_stream(name, 2)
    through_proxy = KinesisStream(kinesis_client(aws_settings.aws_region, proxy.url))

    sent = entries(n_keys=40, per_key=12)
    producer = Producer(through_proxy, name, linger_s=0.02, backoff_base_s=0.001)
    for entry in sent:
        producer.put(entry)
    producer.close()
    assert proxy.injected > 0
    assert producer.stats.retried >= proxy.injected
    assert producer.stats.put == len(sent)

    got: list[tuple[str, bytes]] = []
    for shard_id in direct.describe(name).shard_ids:
        reader = direct.shard_reader(name, shard_id, None)
        while records := reader.read(10_000):
            got.extend((r.partition_key, bytes(r.data)) for r in records)
    assert_exactly_once_in_order(got, sent)
    # what the proxy told the client really is not in moto: count matches exactly
    assert len(got) == len(sent)
    base64.b64encode(b"")  # (Data travels base64-encoded in the JSON protocol)
