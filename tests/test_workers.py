"""The stand-ins for AWS: the event-source-mapping poller and the Firehose-equivalent delivery."""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from fraud_pipeline.lake.errors import ErrorSink, read_errors
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA, Post
from fraud_pipeline.scoring.handler import ScoringRuntime
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.settings import Settings, SettingsError
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import PutEntry, open_stream
from fraud_pipeline.streams.base import StreamRecord
from fraud_pipeline.workers.delivery import FirehoseDelivery
from fraud_pipeline.workers.poller import EventSourceMappingPoller, checkpoint_key
from fraud_pipeline.workers.scoring_shards import ScoringShards
from tests.scoring_fixtures import KeywordScorer, RecordingMetrics, make_post


def _setup(settings: Settings, posts: list[Post], shards: int = 2) -> None:
    stream = open_stream(settings)
    stream.create_stream(settings.untagged_stream, shards)
    stream.create_stream(settings.tagged_stream, shards)
    for start in range(0, len(posts), 500):
        results = stream.put_records(
            settings.untagged_stream, [PutEntry(p.did, p.to_json()) for p in posts[start : start + 500]]
        )
        assert all(r.ok for r in results)


class Recorder:
    """A scoring core that records the batches it got and can fail on chosen posts."""

    def __init__(self, fail_texts: set[str] | None = None, raise_on: str | None = None) -> None:
        self.batches: list[tuple[str, list[StreamRecord]]] = []
        self.seen: list[str] = []
        self.fail_texts = fail_texts or set()
        self.raise_on = raise_on

    def __call__(self, shard_id: str, records: list[StreamRecord]) -> list[str]:
        self.batches.append((shard_id, records))
        posts = [(r.sequence_number, Post.from_json(r.data)) for r in records]
        if self.raise_on and any(p.text == self.raise_on for _, p in posts):
            raise RuntimeError("poison record")
        failures = [seq for seq, p in posts if p.text in self.fail_texts]
        self.seen.extend(p.uri for seq, p in posts if p.text not in self.fail_texts)
        return failures


def _poller(settings: Settings, invoke: Any, **kwargs: Any) -> EventSourceMappingPoller:
    errors = ErrorSink(ObjectStore.from_settings(settings), settings.errors_prefix, "poller")
    return EventSourceMappingPoller(
        settings, open_stream(settings), open_state(settings), invoke, errors, **kwargs
    )


def _drain(poller: EventSourceMappingPoller, rounds: int = 200) -> None:
    for _ in range(rounds):
        poller.poll_once(force=True)
        if poller.pending() == 0 and poller.poll_once(force=True) == 0 and poller.pending() == 0:
            return


def test_poller_hands_the_core_each_shards_records_in_order(local_settings: Settings) -> None:
    posts = [make_post(i) for i in range(30)]
    _setup(local_settings, posts)
    recorder = Recorder()
    poller = _poller(local_settings, recorder, batch_size=10)
    _drain(poller)
    assert sorted(recorder.seen) == sorted(p.uri for p in posts)
    assert all(re.fullmatch(r"shardId-\d{12}", shard) for shard, _ in recorder.batches)
    assert all(0 < len(records) <= 10 for _, records in recorder.batches)
    for shard in {shard for shard, _ in recorder.batches}:
        sequences = [int(r.sequence_number) for s, rs in recorder.batches if s == shard for r in rs]
        assert sequences == sorted(sequences)
    state = open_state(local_settings)
    stream = open_stream(local_settings)
    for shard_id in stream.describe(local_settings.untagged_stream).shard_ids:
        assert state.get_checkpoint(
            checkpoint_key(local_settings.untagged_stream, shard_id)
        ) == stream.latest_sequence(local_settings.untagged_stream, shard_id)


def test_partial_failures_are_retried_then_dead_lettered(local_settings: Settings) -> None:
    posts = [make_post(i, "bad" if i == 4 else f"post {i}", did="did:plc:one") for i in range(10)]
    _setup(local_settings, posts, shards=1)
    recorder = Recorder(fail_texts={"bad"})
    poller = _poller(local_settings, recorder, batch_size=10, max_retry_attempts=2)
    _drain(poller)
    # Records before the failure were finished once; the failure was retried from there.
    assert recorder.seen.count(posts[0].uri) == 1
    assert posts[4].uri not in recorder.seen
    assert set(recorder.seen) == {p.uri for i, p in enumerate(posts) if i != 4}
    assert poller.stats.dead_lettered == 1
    dead = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "poller")
    assert len(dead) == 1 and Post.from_json(base64.b64decode(dead[0]["rawData"])).uri == posts[4].uri
    assert dead[0]["errorCode"] == "RetriesExhausted"


def test_a_raising_handler_is_bisected_down_to_the_poison_record(local_settings: Settings) -> None:
    posts = [make_post(i, "poison" if i == 5 else f"post {i}", did="did:plc:one") for i in range(16)]
    _setup(local_settings, posts, shards=1)
    recorder = Recorder(raise_on="poison")
    poller = _poller(local_settings, recorder, batch_size=16, max_retry_attempts=1)
    _drain(poller)
    assert set(recorder.seen) == {p.uri for i, p in enumerate(posts) if i != 5}
    assert poller.stats.dead_lettered == 1 and poller.stats.handler_errors >= 2


def test_poller_restart_resumes_from_checkpoints_and_loses_nothing(local_settings: Settings) -> None:
    posts = [make_post(i, f"post {i}") for i in range(400)]
    _setup(local_settings, posts)
    first = Recorder()
    poller = _poller(local_settings, first, batch_size=50)
    poller.poll_once(force=True)
    poller.poll_once(force=True)
    assert 0 < len(first.seen) < len(posts)
    del poller  # killed: what it had read but not finished is gone with it
    second = Recorder()
    _drain(_poller(local_settings, second, batch_size=50))
    assert set(first.seen) | set(second.seen) == {p.uri for p in posts}
    assert not set(first.seen) & set(second.seen)  # checkpoints were exact: nothing handled twice


def _delivery(settings: Settings, **kwargs: Any) -> FirehoseDelivery:
    return FirehoseDelivery(
        settings, open_stream(settings), open_state(settings), ObjectStore.from_settings(settings), **kwargs
    )


def _tag_into_stream(settings: Settings, posts: list[Post]) -> None:
    _setup(settings, posts)
    runtime = ScoringRuntime(
        settings,
        open_stream(settings),
        ObjectStore.from_settings(settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    _drain(_poller(settings, ScoringShards(lambda: runtime)))


def test_delivery_writes_firehose_named_parquet_with_the_glue_schema(local_settings: Settings) -> None:
    posts = [make_post(i, "free stuff" if i % 3 == 0 else f"post {i}") for i in range(120)]
    _tag_into_stream(local_settings, posts)
    delivery = _delivery(local_settings, buffer_seconds=3600)
    assert delivery.poll_once() == 0  # buffered, not yet due
    assert delivery.flush() == 120
    objects = ObjectStore.from_settings(local_settings)
    files = list(objects.list_objects(local_settings.posts_prefix))
    assert files and all(
        re.fullmatch(
            rf"posts/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{local_settings.delivery_stream}-1-"
            r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.parquet",
            f.key,
        )
        for f in files
    )
    table = pq.read_table(objects.path(files[0].key), filesystem=objects.fs)
    assert table.schema.equals(TAGGED_ARROW_SCHEMA)
    total = sum(pq.read_metadata(objects.path(f.key), filesystem=objects.fs).num_rows for f in files)
    assert total == 120


def test_delivery_sends_unconvertible_records_to_errors_and_keeps_the_rest(local_settings: Settings) -> None:
    stream = open_stream(local_settings)
    stream.create_stream(local_settings.tagged_stream, 1)
    good = make_post(1)
    runtime_row = {
        "uri": good.uri,
        "time_utc": "2026-11-29T10:00:00.000000Z",
        "did": good.did,
        "operation": "create",
        "text": "ok",
        "is_fraud": False,
    }
    bad_type = dict(runtime_row, uri="at://x/app.bsky.feed.post/2", fraud_score="very high")
    bad_time = dict(runtime_row, uri="at://x/app.bsky.feed.post/3", time_utc="yesterday")
    payloads = [
        orjson.dumps(runtime_row),
        orjson.dumps(bad_type),
        orjson.dumps(bad_time),
        b"not json",
        b"[1]",
    ]
    stream.put_records(local_settings.tagged_stream, [PutEntry("k", p) for p in payloads])
    delivery = _delivery(local_settings, buffer_seconds=0)
    delivery.poll_once()
    delivery.flush()
    assert delivery.stats.rows_written == 1 and delivery.stats.conversion_errors == 4
    errors = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "delivery")
    assert len(errors) == 4 and all(e["errorCode"].startswith("DataFormatConversion.") for e in errors)


def test_delivery_checkpoints_only_after_writing(local_settings: Settings) -> None:
    posts = [make_post(i) for i in range(50)]
    _tag_into_stream(local_settings, posts)
    crashed = _delivery(local_settings, buffer_seconds=3600)
    crashed.poll_once()
    assert crashed.buffered() == 50
    del crashed  # died with a full buffer: nothing was written or checkpointed
    objects = ObjectStore.from_settings(local_settings)
    assert list(objects.list_objects(local_settings.posts_prefix)) == []
    again = _delivery(local_settings, buffer_seconds=0)
    again.poll_once()
    again.flush()
    assert again.stats.rows_written == 50


@pytest.mark.parametrize("shards", [1, 3])
def test_local_path_counts_in_equal_counts_out(local_settings: Settings, shards: int) -> None:
    posts = [make_post(i, f"post {i}") for i in range(200)] + [
        make_post(i, operation="delete") for i in range(10)
    ]
    _setup(local_settings, posts, shards=shards)
    runtime = ScoringRuntime(
        local_settings,
        open_stream(local_settings),
        ObjectStore.from_settings(local_settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    _drain(_poller(local_settings, ScoringShards(lambda: runtime), batch_size=64))
    delivery = _delivery(local_settings, buffer_seconds=0)
    while delivery.poll_once() or delivery.buffered():
        delivery.flush()
    assert runtime.stats.tagged == 210
    assert delivery.stats.rows_written == 210


def test_poller_publishes_the_metrics_aws_lambda_would(local_settings: Settings) -> None:
    import time as _time

    from fraud_pipeline.metrics import open_metrics
    from fraud_pipeline.metrics.local import LocalMetricsSink

    posts = [make_post(i, "bad" if i == 3 else f"post {i}", did="did:plc:one") for i in range(20)]
    _setup(local_settings, posts, shards=1)
    errors = ErrorSink(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "poller")
    poller = EventSourceMappingPoller(
        local_settings,
        open_stream(local_settings),
        open_state(local_settings),
        Recorder(fail_texts={"bad"}),
        errors,
        batch_size=20,
        max_retry_attempts=1,
        service_metrics=LocalMetricsSink(local_settings.metrics_path, allow_service_namespaces=True),
    )
    _drain(poller)
    metrics = open_metrics(local_settings)
    now = int(_time.time() * 1000)
    function = {"FunctionName": local_settings.scoring_function}

    def total(namespace: str, name: str, dimensions: dict[str, str], stat: str = "Sum") -> float:
        points = metrics.query(namespace, name, now - 600_000, now + 1000, 3600, stat, dimensions)
        return sum(p.value for p in points)

    assert total("AWS/Lambda", "Invocations", function) == poller.stats.batches >= 2
    assert total("AWS/Lambda", "IteratorAge", function, "Maximum") >= 0
    assert total("AWS/Lambda", "Invocations", {"FunctionName": "other"}) == 0
    dlq = {"QueueName": local_settings.scoring_dlq}
    assert total("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq, "Maximum") == 1


def test_delivery_keeps_its_buffer_when_the_lake_is_down_and_retries(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from fraud_pipeline.objects import ObjectStoreError

    posts = [make_post(i) for i in range(40)]
    _tag_into_stream(local_settings, posts)
    delivery = _delivery(local_settings, buffer_seconds=0)
    real_put = delivery.objects.put_bytes
    outages = {"left": 2}

    def flaky_put(key: str, data: bytes) -> None:
        if outages["left"] > 0:
            outages["left"] -= 1
            raise ObjectStoreError("bucket unreachable")
        real_put(key, data)

    monkeypatch.setattr(delivery.objects, "put_bytes", flaky_put)
    with pytest.raises(ObjectStoreError):
        delivery.poll_once()
    assert delivery.buffered() == 40  # nothing dropped, nothing checkpointed
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds=None: stop.is_set())  # no real sleeping
    calls = {"n": 0}
    original_poll = delivery.poll_once

    def poll_then_stop(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] >= 3:
            stop.set()
        return original_poll(*args, **kwargs)

    monkeypatch.setattr(delivery, "poll_once", poll_then_stop)
    delivery.run(stop)
    assert delivery.stats.write_failures == 1 and delivery.stats.rows_written == 40
    assert delivery.buffered() == 0


def test_poller_rides_out_a_state_store_outage(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from fraud_pipeline.state import StateError

    posts = [make_post(i, f"post {i}") for i in range(60)]
    _setup(local_settings, posts, shards=1)
    recorder = Recorder()
    poller = _poller(local_settings, recorder, batch_size=20)
    real_put = poller.state.put_checkpoint
    outage = {"left": 1}

    def flaky_put(key: str, value: str) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise StateError("DynamoDB throttled")
        real_put(key, value)

    monkeypatch.setattr(poller.state, "put_checkpoint", flaky_put)
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", lambda seconds=None: stop.is_set())  # no real sleeping
    original = poller.poll_once
    calls = {"n": 0}

    def poll(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] >= 8:
            stop.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(poller, "poll_once", poll)
    poller.run(stop)
    assert poller.stats.store_failures == 1
    assert set(recorder.seen) == {p.uri for p in posts}  # the failed batch was handled again
    latest = open_stream(local_settings).latest_sequence(
        local_settings.untagged_stream, "shardId-000000000000"
    )
    assert (
        open_state(local_settings).get_checkpoint(
            checkpoint_key(local_settings.untagged_stream, "shardId-000000000000")
        )
        == latest
    )


def test_the_local_poller_scores_each_shard_in_its_own_runtime(local_settings: Settings) -> None:
    """As on Lambda: one runtime per shard, nothing shared in memory between them."""
    posts = [make_post(i, f"post {i}") for i in range(60)]
    _setup(local_settings, posts, shards=3)
    made: list[ScoringRuntime] = []

    def make() -> ScoringRuntime:
        runtime = ScoringRuntime(
            local_settings,
            open_stream(local_settings),
            ObjectStore.from_settings(local_settings),
            RecordingMetrics(),
            PostScorer(KeywordScorer(), KeywordScorer()),
        )
        made.append(runtime)
        return runtime

    shards = ScoringShards(make)
    _drain(_poller(local_settings, shards, batch_size=16))
    assert len(made) == 3 and len({id(r.scorer.tracker) for r in made}) == 3
    assert all(r.stats.tagged > 0 for r in made) and shards.stats.tagged == 60
    assert Settings().scoring_runtimes == "per-shard"
    with pytest.raises(SettingsError):
        Settings(scoring_runtimes="pooled")


class OutageStream:
    """The tagged stream, refusing every put for `seconds` from the first put, or for the
    first `calls` puts; then healthy."""

    def __init__(self, inner: Any, seconds: float = 0.0, calls: int = 0) -> None:
        self.inner = inner
        self.seconds = seconds
        self.calls = calls
        self.started: float | None = None
        self.refused = 0

    def put_records(self, name: str, entries: list[PutEntry]) -> Any:
        import time as _time

        from fraud_pipeline.streams.base import StreamError

        now = _time.monotonic()
        self.started = now if self.started is None else self.started
        if now - self.started < self.seconds or self.refused < self.calls:
            self.refused += 1
            raise StreamError("tagged stream unavailable")
        return self.inner.put_records(name, entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _run_until(poller: EventSourceMappingPoller, done: Any, timeout_s: float = 60.0) -> None:
    import threading
    import time as _time

    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    deadline = _time.monotonic() + timeout_s
    while not done() and _time.monotonic() < deadline:
        _time.sleep(0.05)
    stop.set()
    thread.join(timeout_s)


def test_a_brief_tagged_stream_outage_dead_letters_nothing(local_settings: Settings) -> None:
    """Before: a one-second outage was charged to the records (bisected, retried at once) and
    sent some of them to the dead letter."""
    posts = [make_post(i, f"post {i}") for i in range(200)]
    _setup(local_settings, posts, shards=2)
    outage = OutageStream(open_stream(local_settings), seconds=1.0)
    runtime = ScoringRuntime(
        local_settings,
        outage,  # type: ignore[arg-type]
        ObjectStore.from_settings(local_settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    poller = _poller(local_settings, ScoringShards(lambda: runtime), batch_size=50, max_retry_attempts=2)
    _run_until(poller, lambda: poller.stats.records >= 200)
    assert outage.refused > 0, "the outage happened"
    assert poller.stats.dead_lettered == 0 and poller.stats.handler_errors == 0
    assert poller.stats.records == 200
    stream = open_stream(local_settings)
    tagged = set()
    for shard_id in stream.describe(local_settings.tagged_stream).shard_ids:
        reader = stream.shard_reader(local_settings.tagged_stream, shard_id, None)
        tagged |= {orjson.loads(r.data)["uri"] for r in reader.read(10_000)}
    assert tagged == {p.uri for p in posts}


def test_only_a_record_that_fails_on_its_own_is_dead_lettered(local_settings: Settings) -> None:
    from fraud_pipeline.streams.base import MAX_RECORD_BYTES

    # Post 3 just fits the untagged stream; tagged (scores, reasons added) it is over 1 MiB.
    room = MAX_RECORD_BYTES - len(make_post(3, "", did="did:plc:one").to_json()) - len("did:plc:one") - 8
    posts = [make_post(i, "x" * room if i == 3 else f"post {i}", did="did:plc:one") for i in range(8)]
    _setup(local_settings, posts, shards=1)
    runtime = ScoringRuntime(
        local_settings,
        open_stream(local_settings),
        ObjectStore.from_settings(local_settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    poller = _poller(local_settings, ScoringShards(lambda: runtime), batch_size=8, max_retry_attempts=2)
    _drain(poller)
    assert poller.stats.dead_lettered == 1 and poller.stats.records == 8
    dead = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "poller")
    assert len(dead) == 1 and dead[0]["errorCode"] == "RetriesExhausted"
    assert posts[3].uri.encode() in base64.b64decode(dead[0]["rawData"])[:1000]  # (kept truncated)


def test_a_long_outage_backs_off_without_spending_record_retries(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the put's own retries the core raises StoreUnavailable; the poller waits and
    retries the same batch, however many times, and charges no record."""
    import threading

    posts = [make_post(i, f"post {i}") for i in range(40)]
    _setup(local_settings, posts, shards=1)
    monkeypatch.setattr("fraud_pipeline.streams.retry.time.sleep", lambda s: None)
    outage = OutageStream(open_stream(local_settings), calls=8 * 5)  # five whole put_with_retries
    runtime = ScoringRuntime(
        local_settings,
        outage,  # type: ignore[arg-type]
        ObjectStore.from_settings(local_settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )
    poller = _poller(local_settings, ScoringShards(lambda: runtime), batch_size=40, max_retry_attempts=1)
    stop = threading.Event()
    waits: list[float] = []

    def wait(seconds: float | None = None) -> bool:
        waits.append(seconds or 0.0)
        if poller.stats.records >= 40 or len(waits) > 50:
            stop.set()
        return stop.is_set()

    monkeypatch.setattr(stop, "wait", wait)
    poller.run(stop)
    assert poller.stats.records == 40 and poller.stats.dead_lettered == 0
    assert poller.stats.store_failures == 5 and poller.stats.handler_errors == 0
    assert [w for w in waits if w >= 1.0][:5] == [1.0, 2.0, 4.0, 8.0, 16.0]  # backed off, doubling
    assert runtime.stats.store_unavailable == 5
