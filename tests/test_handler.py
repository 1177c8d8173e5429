"""The Lambda handler: decode, score, tag, metrics, errors prefix, batchItemFailures."""

from __future__ import annotations

import base64

import orjson
import pytest

from fraud_pipeline.lake.errors import read_errors
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.records import TaggedRecord
from fraud_pipeline.scoring.handler import ScoringRuntime
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams import PutEntry, PutResult, open_stream
from fraud_pipeline.streams.base import Stream
from tests.scoring_fixtures import KeywordScorer, RecordingMetrics, kinesis_event, make_post


class RefusingStream:
    """Wraps a stream; refuses every put of records whose partition key is in `refuse`."""

    def __init__(self, inner: Stream, refuse: set[str]) -> None:
        self.inner = inner
        self.refuse = refuse

    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        allowed = [e for e in entries if e.partition_key not in self.refuse]
        results = iter(self.inner.put_records(name, allowed) if allowed else [])
        return [
            PutResult(error_code="ProvisionedThroughputExceededException", error_message="slow down")
            if e.partition_key in self.refuse
            else next(results)
            for e in entries
        ]

    def __getattr__(self, name: str):  # describe, shard_reader, ... go to the real stream
        return getattr(self.inner, name)


def _runtime(settings: Settings, stream: Stream | None = None) -> tuple[ScoringRuntime, RecordingMetrics]:
    real = open_stream(settings)
    real.create_stream(settings.tagged_stream, 1)
    metrics = RecordingMetrics()
    runtime = ScoringRuntime(
        settings,
        stream or real,
        ObjectStore.from_settings(settings),
        metrics,
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    return runtime, metrics


def _tagged(settings: Settings) -> list[TaggedRecord]:
    stream = open_stream(settings)
    reader = stream.shard_reader(
        settings.tagged_stream, stream.describe(settings.tagged_stream).shard_ids[0], None
    )
    return [TaggedRecord(**orjson.loads(r.data)) for r in reader.read(10_000)]


def test_good_records_are_tagged_and_counted(local_settings: Settings) -> None:
    runtime, metrics = _runtime(local_settings)
    posts = [make_post(1, "free crypto here"), make_post(2, "hello"), make_post(3, "", operation="delete")]
    response = runtime.handle(kinesis_event([p.to_json() for p in posts]))
    assert response == {"batchItemFailures": []}
    tagged = _tagged(local_settings)
    assert [t.uri for t in tagged] == [p.uri for p in posts]
    assert tagged[0].is_fraud and not tagged[1].is_fraud and tagged[2].operation == "delete"
    assert metrics.total("Post-Processed") == 2 and metrics.total("Post-Is-Fraud") == 1
    assert metrics.total("Post-Text-Only") == 2 and metrics.total("Post-Deleted") == 1
    assert all(ns == local_settings.metric_namespace for ns, _ in metrics.data)


def test_undecodable_records_go_to_the_errors_prefix_not_to_retries(local_settings: Settings) -> None:
    runtime, metrics = _runtime(local_settings)
    event = kinesis_event([make_post(1).to_json(), b"{not json", b'{"uri": 5}', b"[1,2]"])
    event["Records"].append({"kinesis": {"sequenceNumber": "9", "data": "%%%not-base64"}})
    event["Records"].append({"no": "kinesis"})
    response = runtime.handle(event)
    assert response == {"batchItemFailures": []}
    errors = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "scoring")
    assert len(errors) == 5
    codes = sorted(e["errorCode"] for e in errors)
    assert codes == ["NotAPost", "NotAPost", "NotAPost", "Undecodable", "Undecodable"]
    assert base64.b64decode(errors[0]["rawData"]) == b"{not json"
    assert all(e["errorMessage"] for e in errors)
    assert len(_tagged(local_settings)) == 1
    assert metrics.total("Post-Error") == 5


def test_records_the_tagged_stream_refuses_are_reported_as_batch_item_failures(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fraud_pipeline.streams.retry.time.sleep", lambda s: None)
    real = open_stream(local_settings)
    posts = [make_post(i, "hello") for i in range(5)]
    runtime, _ = _runtime(local_settings, RefusingStream(real, {posts[1].did, posts[3].did}))
    event = kinesis_event([p.to_json() for p in posts], start_sequence=100)
    response = runtime.handle(event)
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [
        event["Records"][1]["kinesis"]["sequenceNumber"],
        event["Records"][3]["kinesis"]["sequenceNumber"],
    ]
    assert {t.uri for t in _tagged(local_settings)} == {posts[i].uri for i in (0, 2, 4)}


def test_records_whose_error_cannot_be_stored_are_retried(local_settings: Settings, monkeypatch) -> None:
    runtime, _ = _runtime(local_settings)

    def broken_put(key: str, data: bytes) -> None:
        raise ObjectStoreError("bucket unavailable")

    monkeypatch.setattr(runtime.errors.objects, "put_bytes", broken_put)
    event = kinesis_event([b"garbage", make_post(1).to_json()], start_sequence=7)
    response = runtime.handle(event)
    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}
    ]


def test_not_a_kinesis_event_is_an_error(local_settings: Settings) -> None:
    runtime, _ = _runtime(local_settings)
    with pytest.raises(ValueError, match="Records"):
        runtime.handle({"hello": "world"})


def test_a_post_without_a_sequence_number_is_still_tagged(local_settings: Settings) -> None:
    runtime, _ = _runtime(local_settings)
    event = kinesis_event([make_post(1, "hello").to_json()])
    del event["Records"][0]["kinesis"]["sequenceNumber"]
    assert runtime.handle(event) == {"batchItemFailures": []}
    assert [t.uri for t in _tagged(local_settings)] == [make_post(1).uri]


# -- partition keys (issue #10 item 3) -------------------------------------------------------

LONG_DID = "did:web:" + ".".join(["a-rather-long-label-for-a-subdomain"] * 9) + ".example.com"


def test_partition_key_is_the_did_or_a_digest_within_the_kinesis_limit() -> None:
    from fraud_pipeline.streams.base import MAX_PARTITION_KEY_CHARS, partition_key

    assert len(LONG_DID) > MAX_PARTITION_KEY_CHARS
    assert partition_key("did:plc:ewvi7nxzyoun6zhxrhs64oiz") == "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    key = partition_key(LONG_DID)
    assert len(key) == MAX_PARTITION_KEY_CHARS and key.startswith("did:web:")
    assert partition_key(LONG_DID) == key  # the same author, the same shard
    twin = LONG_DID[: -len("example.com")] + "example.org"  # same first 256 characters
    assert twin[:MAX_PARTITION_KEY_CHARS] == LONG_DID[:MAX_PARTITION_KEY_CHARS]
    assert partition_key(twin) != key
    assert partition_key("") and len(partition_key("x" * 10_000)) == MAX_PARTITION_KEY_CHARS


def test_a_post_from_a_did_longer_than_a_partition_key_is_tagged(local_settings: Settings) -> None:
    """Before: the handler used the whole DID as the key; the put failed as a whole, the batch
    was retried and split until the record reached the dead letter."""
    runtime, _ = _runtime(local_settings)
    posts = [make_post(1, "hello", did=LONG_DID), make_post(2, "free crypto here")]
    response = runtime.handle(kinesis_event([p.to_json() for p in posts]))
    assert response == {"batchItemFailures": []}
    tagged = _tagged(local_settings)
    assert [t.uri for t in tagged] == [p.uri for p in posts]
    assert tagged[0].did == LONG_DID  # the record keeps the whole DID; only the key is derived


def test_the_producer_keys_long_dids_the_same_way(local_settings: Settings) -> None:
    from fraud_pipeline.ingest.producer import Producer
    from fraud_pipeline.streams.base import partition_key

    stream = open_stream(local_settings)
    stream.create_stream(local_settings.untagged_stream, 1)
    producer = Producer(stream, local_settings.untagged_stream)
    producer.put_post(make_post(1, "hello", did=LONG_DID))
    producer.close()
    reader = stream.shard_reader(local_settings.untagged_stream, "shardId-000000000000", None)
    [record] = reader.read(10)
    assert record.partition_key == partition_key(LONG_DID)


# -- store outages vs. records that fail on their own (issue #10 item 7) ---------------------


class DownStream:
    """The tagged stream, down for the first `calls` put_records calls (connection refused)."""

    def __init__(self, inner: Stream, calls: int) -> None:
        self.inner = inner
        self.left = calls
        self.refused = 0

    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        if self.left > 0:
            self.left -= 1
            self.refused += 1
            from fraud_pipeline.streams.base import StreamError

            raise StreamError("tagged stream unavailable: connection refused")
        return self.inner.put_records(name, entries)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_tagged_stream_outage_is_the_stores_failure_not_the_records(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraud_pipeline.scoring.handler import InputRecord, StoreUnavailable

    monkeypatch.setattr("fraud_pipeline.streams.retry.time.sleep", lambda s: None)
    real = open_stream(local_settings)
    down = DownStream(real, calls=100)
    runtime, _ = _runtime(local_settings, down)
    posts = [make_post(i, "hello") for i in range(3)]
    records = [InputRecord(f"{i:021d}", p.to_json()) for i, p in enumerate(posts)]
    with pytest.raises(StoreUnavailable) as raised:
        runtime.score_batch(records)
    assert raised.value.unfinished == [r.sequence_number for r in records]
    assert down.refused == 8  # retried with backoff inside the call first
    # The Lambda adapter leaves them to the mapping's retry, as batch item failures.
    event = kinesis_event([p.to_json() for p in posts])
    assert len(runtime.handle(event)["batchItemFailures"]) == 3
    down.left = 0
    assert runtime.handle(event) == {"batchItemFailures": []}


def test_a_record_too_big_for_the_stream_fails_on_its_own(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fraud_pipeline.streams.retry.time.sleep", lambda s: None)
    runtime, _ = _runtime(local_settings)
    posts = [make_post(1, "hello"), make_post(2, "x" * 1_100_000), make_post(3, "bye")]
    event = kinesis_event([p.to_json() for p in posts], start_sequence=40)
    response = runtime.handle(event)
    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}
    ]
    assert {t.uri for t in _tagged(local_settings)} == {posts[0].uri, posts[2].uri}
