"""The stream port on both backends: the SQLite log and Kinesis (moto server over HTTP)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fraud_pipeline.settings import Settings
from fraud_pipeline.streams import (
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_PUT,
    PutEntry,
    ShardReader,
    Stream,
    StreamError,
    StreamNotFound,
    StreamRecord,
    open_stream,
)
from fraud_pipeline.streams.kinesis import KinesisStream, kinesis_client
from fraud_pipeline.streams.sqlite_log import SqliteLogStream, hash_key_ranges, shard_index_for_key

BACKENDS = ["local", pytest.param("aws", marks=pytest.mark.moto)]


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "local_settings" if request.param == "local" else "aws_settings"
    return request.getfixturevalue(name)


@pytest.fixture()
def stream(settings: Settings) -> Iterator[Stream]:
    s = open_stream(settings)
    s.create_stream(settings.untagged_stream, 2)
    yield s
    s.close()


def read_all(reader: ShardReader, limit: int = 1000) -> list[StreamRecord]:
    out: list[StreamRecord] = []
    while batch := reader.read(limit):
        out.extend(batch)
    return out


def put(stream: Stream, name: str, keys_and_data: list[tuple[str, bytes]]) -> list[str]:
    results = stream.put_records(name, [PutEntry(k, d) for k, d in keys_and_data])
    assert all(r.ok for r in results), results
    return [r.sequence_number or "" for r in results]


def test_create_is_idempotent_and_describes_shards(stream: Stream, settings: Settings) -> None:
    stream.create_stream(settings.untagged_stream, 2)
    desc = stream.describe(settings.untagged_stream)
    assert desc.status == "ACTIVE"
    assert desc.shard_ids == ("shardId-000000000000", "shardId-000000000001")


def test_unknown_stream_raises_not_found(stream: Stream) -> None:
    with pytest.raises(StreamNotFound):
        stream.describe("no-such-stream")
    with pytest.raises(StreamNotFound):
        stream.put_records("no-such-stream", [PutEntry("k", b"x")])


def test_put_then_read_keeps_order_per_shard(stream: Stream, settings: Settings) -> None:
    name = settings.untagged_stream
    entries = [(f"did:plc:{i % 7}", f"record-{i}".encode()) for i in range(60)]
    results = stream.put_records(name, [PutEntry(k, d) for k, d in entries])
    by_shard: dict[str, list[bytes]] = {}
    for (_, data), result in zip(entries, results, strict=True):
        assert result.ok and result.shard_id and result.sequence_number
        by_shard.setdefault(result.shard_id, []).append(data)
    assert len(by_shard) == 2  # 7 keys spread over both shards
    for shard_id, expected in by_shard.items():
        records = read_all(stream.shard_reader(name, shard_id, None))
        assert [r.data for r in records] == expected
        sequences = [r.sequence_number for r in records]
        assert [int(s) for s in sequences] == sorted(int(s) for s in sequences)
        if settings.backend == "local":
            assert sequences == sorted(sequences)  # zero-padded: string order is numeric order
        assert len(set(sequences)) == len(sequences)
        assert all(r.approximate_arrival_ms > 1_600_000_000_000 for r in records)
        assert stream.latest_sequence(name, shard_id) == sequences[-1]


def test_partition_key_routing_is_stable_and_follows_md5_hash_ranges(
    stream: Stream, settings: Settings
) -> None:
    name = settings.untagged_stream
    keys = [f"did:plc:author{i}" for i in range(40)]
    first = stream.put_records(name, [PutEntry(k, b"a") for k in keys])
    second = stream.put_records(name, [PutEntry(k, b"b") for k in reversed(keys)])
    shard_of = {k: r.shard_id for k, r in zip(keys, first, strict=True)}
    assert {k: r.shard_id for k, r in zip(reversed(keys), second, strict=True)} == shard_of
    # The same key lands on the same shard id on both backends: MD5 over equal hash-key ranges.
    assert shard_of == {k: f"shardId-{shard_index_for_key(k, 2):012d}" for k in keys}


def test_hash_key_ranges_cover_the_space_like_kinesis() -> None:
    ranges = hash_key_ranges(3)
    assert ranges[0][0] == 0 and ranges[-1][1] == 2**128 - 1
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(2))


def test_resume_after_sequence_and_readers_are_independent(stream: Stream, settings: Settings) -> None:
    name = settings.untagged_stream
    key = "did:plc:same"
    sequences = put(stream, name, [(key, f"{i}".encode()) for i in range(10)])
    shard = stream.put_records(name, [PutEntry(key, b"10")])[0].shard_id
    assert shard is not None
    a = stream.shard_reader(name, shard, None)
    b = stream.shard_reader(name, shard, None)
    assert [r.data for r in a.read(4)] == [b"0", b"1", b"2", b"3"]
    assert [r.data for r in b.read(2)] == [b"0", b"1"]  # b is not moved by a
    assert [r.data for r in a.read(3)] == [b"4", b"5", b"6"]
    resumed = stream.shard_reader(name, shard, sequences[6])
    assert [r.data for r in read_all(resumed)] == [b"7", b"8", b"9", b"10"]
    assert resumed.read(10) == []
    assert resumed.lag_records() == 0


def test_limits_are_enforced(stream: Stream, settings: Settings) -> None:
    name = settings.untagged_stream
    with pytest.raises(StreamError, match="at most 500"):
        stream.put_records(name, [PutEntry("k", b"x")] * (MAX_RECORDS_PER_PUT + 1))
    with pytest.raises(StreamError, match="partition key"):
        stream.put_records(name, [PutEntry("", b"x")])
    with pytest.raises(StreamError, match="partition key"):
        stream.put_records(name, [PutEntry("k" * 257, b"x")])
    with pytest.raises(StreamError, match="bytes per call"):
        stream.put_records(name, [PutEntry(f"k{i}", b"x" * 900_000) for i in range(6)])
    with pytest.raises(StreamError, match="must be bytes"):
        stream.put_records(name, [PutEntry("k", "text")])  # type: ignore[arg-type]
    # An oversized record fails alone; its neighbours are written.
    results = stream.put_records(
        name, [PutEntry("a", b"ok-1"), PutEntry("b", b"x" * MAX_RECORD_BYTES), PutEntry("c", b"ok-2")]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_code == "InvalidArgumentException" and "exceeds" in (
        results[1].error_message or ""
    )
    shard = results[0].shard_id or ""
    with pytest.raises(StreamError, match="limit"):
        stream.shard_reader(name, shard, None).read(10_001)


def test_empty_put_and_empty_shard(stream: Stream, settings: Settings) -> None:
    name = settings.untagged_stream
    assert stream.put_records(name, []) == []
    reader = stream.shard_reader(name, "shardId-000000000000", None)
    assert reader.read() == []
    assert reader.lag_records() == 0
    assert stream.latest_sequence(name, "shardId-000000000000") is None


def test_sqlite_log_survives_reopen(local_settings: Settings) -> None:
    name = local_settings.untagged_stream
    first = SqliteLogStream(local_settings.stream_log_path)
    first.create_stream(name, 2)
    results = first.put_records(name, [PutEntry(f"k{i}", f"v{i}".encode()) for i in range(20)])
    first.close()
    second = SqliteLogStream(local_settings.stream_log_path)
    stored = {
        r.data
        for shard in second.describe(name).shard_ids
        for r in read_all(second.shard_reader(name, shard, None))
    }
    assert stored == {f"v{i}".encode() for i in range(20)}
    more = second.put_records(name, [PutEntry("k0", b"after-reopen")])
    same_shard = [r for r in results if r.shard_id == more[0].shard_id]
    assert int(more[0].sequence_number or 0) > max(int(r.sequence_number or 0) for r in same_shard)
    second.close()


def test_sqlite_log_concurrent_writers_in_two_threads(local_settings: Settings) -> None:
    log = SqliteLogStream(local_settings.stream_log_path)
    other = SqliteLogStream(local_settings.stream_log_path)  # a second "process" on the same file
    name = local_settings.untagged_stream
    log.create_stream(name, 2)
    failures: list[BaseException] = []

    def write(stream: SqliteLogStream, tag: str) -> None:
        try:
            for batch in range(20):
                stream.put_records(
                    name, [PutEntry(f"{tag}{i}", f"{tag}-{batch}-{i}".encode()) for i in range(50)]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(s, t)) for s, t in ((log, "a"), (other, "b"), (log, "c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    records = [
        r for shard in log.describe(name).shard_ids for r in read_all(log.shard_reader(name, shard, None))
    ]
    assert len(records) == 3 * 20 * 50
    assert len({r.sequence_number for r in records}) == len(records)
    # Within a batch of one writer, per-shard order is the put order.
    a_batch0 = [
        r.data for r in records if r.data.startswith(b"a-0-") and r.shard_id == "shardId-000000000000"
    ]
    assert a_batch0 == sorted(a_batch0, key=lambda d: int(d.rsplit(b"-", 1)[1]))
    log.close()
    other.close()


def test_sqlite_log_trim_keeps_recent_records_and_sequences_grow(local_settings: Settings) -> None:
    now = [1_000.0]
    log = SqliteLogStream(local_settings.stream_log_path, clock=lambda: now[0])
    name = local_settings.untagged_stream
    log.create_stream(name, 1)
    old = put(log, name, [("k", b"old-1"), ("k", b"old-2")])
    now[0] += 3600
    put(log, name, [("k", b"new")])
    assert log.trim(older_than_ms=1_800_000, name=name) == 2
    reader = log.shard_reader(name, "shardId-000000000000", old[0])  # inside the trimmed range
    assert [r.data for r in reader.read()] == [b"new"]
    assert [r.data for r in log.shard_reader(name, "shardId-000000000000", None).read()] == [b"new"]
    now[0] += 1
    assert log.trim(older_than_ms=0) == 1
    later = put(log, name, [("k", b"after-trim")])
    assert later[0] > old[-1]  # AUTOINCREMENT: never reused after trimming
    log.close()


def test_sqlite_reader_reports_lag(local_settings: Settings) -> None:
    log = SqliteLogStream(local_settings.stream_log_path)
    name = local_settings.untagged_stream
    log.create_stream(name, 1)
    put(log, name, [("k", b"%d" % i) for i in range(5)])
    reader = log.shard_reader(name, "shardId-000000000000", None)
    assert reader.lag_records() == 5
    reader.read(2)
    assert reader.lag_records() == 3
    log.close()


def test_bad_sequence_number_is_rejected(local_settings: Settings) -> None:
    log = SqliteLogStream(local_settings.stream_log_path)
    log.create_stream("s", 1)
    with pytest.raises(StreamError, match="sequence"):
        log.shard_reader("s", "shardId-000000000000", "not-a-number")
    with pytest.raises(StreamError, match="no shard"):
        log.shard_reader("s", "shardId-000000000009", None)
    log.close()


class _Flaky:
    """A real moto client that fails chosen calls the way Kinesis does (moto never throttles)."""

    def __init__(self, client: Any, expire_once: bool = False, throttle_index: int | None = None) -> None:
        self._client = client
        self._expire_once = expire_once
        self._throttle_index = throttle_index

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **kwargs: Any) -> Any:
        if self._expire_once:
            self._expire_once = False
            raise ClientError(
                {"Error": {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}}, "GetRecords"
            )
        return self._client.get_records(**kwargs)

    def put_records(self, **kwargs: Any) -> Any:
        response = self._client.put_records(**kwargs)
        if self._throttle_index is not None:
            response["Records"][self._throttle_index] = {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard",
            }
            response["FailedRecordCount"] = 1
        return response


@pytest.mark.moto
def test_kinesis_reacquires_an_expired_iterator_after_the_last_sequence(aws_settings: Settings) -> None:
    client = kinesis_client(aws_settings.aws_region, aws_settings.endpoint_url)
    flaky = _Flaky(client)
    stream = KinesisStream(flaky)
    name = aws_settings.untagged_stream
    stream.create_stream(name, 1)
    put(stream, name, [("k", b"%d" % i) for i in range(6)])
    reader = stream.shard_reader(name, "shardId-000000000000", None)
    assert [r.data for r in reader.read(3)] == [b"0", b"1", b"2"]
    flaky._expire_once = True
    assert [r.data for r in reader.read(10)] == [b"3", b"4", b"5"]  # resumed after "2", nothing repeated
    stream.close()


@pytest.mark.moto
def test_kinesis_maps_per_entry_failures(aws_settings: Settings) -> None:
    stream = KinesisStream(
        _Flaky(kinesis_client(aws_settings.aws_region, aws_settings.endpoint_url), throttle_index=1)
    )
    name = aws_settings.untagged_stream
    stream.create_stream(name, 1)
    results = stream.put_records(
        name,
        [
            PutEntry("a", b"1"),
            PutEntry("b", b"2"),
            PutEntry("c", b"x" * MAX_RECORD_BYTES),
            PutEntry("d", b"4"),
        ],
    )
    assert [r.error_code for r in results] == [
        None,
        "ProvisionedThroughputExceededException",
        "InvalidArgumentException",
        None,
    ]
    assert results[1].error_message == "Rate exceeded for shard"
    assert results[0].shard_id == "shardId-000000000000" and results[3].sequence_number
    stream.close()


_WRITER = """
import sys
from fraud_pipeline.streams.base import PutEntry
from fraud_pipeline.streams.kinesis import KinesisStream, kinesis_client
from fraud_pipeline.streams.sqlite_log import SqliteLogStream
log = SqliteLogStream(sys.argv[1])
for batch in range(10):
    results = log.put_records("s", [PutEntry(f"p{i}", b"proc-%d" % batch) for i in range(100)])
    assert all(r.ok for r in results)
log.close()
"""


def test_sqlite_log_shared_by_two_processes(local_settings: Settings) -> None:
    log = SqliteLogStream(local_settings.stream_log_path)
    log.create_stream("s", 2)
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(local_settings.stream_log_path)])
    for batch in range(10):
        put(log, "s", [(f"m{i}", b"main-%d" % batch) for i in range(100)])
    assert child.wait(timeout=120) == 0
    records = [
        r for shard in log.describe("s").shard_ids for r in read_all(log.shard_reader("s", shard, None))
    ]
    assert len(records) == 2_000
    assert len({r.sequence_number for r in records}) == 2_000
    assert sum(r.data.startswith(b"proc-") for r in records) == 1_000
    log.close()
