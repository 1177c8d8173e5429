"""The AWS stream adapter: Kinesis Data Streams through boto3 (real AWS, moto, LocalStack).

Thin on purpose: limits are checked before the call with the same rules as the local log
(`validate_put`), per-entry failures are mapped from the response, and a shard reader keeps
the last sequence number it returned so it can re-acquire an iterator after one expires.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraud_pipeline.aws import aws_client
from fraud_pipeline.streams.base import (
    PutEntry,
    PutResult,
    StreamDescription,
    StreamError,
    StreamNotFound,
    StreamRecord,
)
from fraud_pipeline.streams.sqlite_log import validate_limit, validate_put

log = logging.getLogger(__name__)

ACTIVE_TIMEOUT_S = 300.0
LATEST_SCAN_CALLS = 20  # get_records calls latest_sequence may spend catching up


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _stream_error(exc: Exception, what: str, name: str) -> StreamError:
    if isinstance(exc, ClientError) and _code(exc) == "ResourceNotFoundException":
        return StreamNotFound(f"{what}: Kinesis stream {name!r} not found (run provision): {exc}")
    return StreamError(f"{what} on Kinesis stream {name!r} failed: {exc}")


def kinesis_client(region: str, endpoint_url: str | None) -> Any:
    """A Kinesis client with standard retries (throttling and 5xx are retried by botocore)."""
    return aws_client("kinesis", region, endpoint_url)


class KinesisStream:
    """Kinesis streams behind the stream port."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # Highest sequence number seen per (stream, shard): where latest_sequence resumes scanning.
        self._known: dict[tuple[str, str], str] = {}

    # -- streams --------------------------------------------------------------------
    def create_stream(self, name: str, shard_count: int) -> None:
        try:
            self.client.create_stream(StreamName=name, ShardCount=shard_count)
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise _stream_error(exc, "create_stream", name) from exc
        except BotoCoreError as exc:
            raise _stream_error(exc, "create_stream", name) from exc
        self._wait_active(name)

    def _wait_active(self, name: str) -> None:
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        delay = 0.05
        while True:
            status = self._summary(name)["StreamStatus"]
            if status == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise StreamError(f"Kinesis stream {name!r} still {status} after {ACTIVE_TIMEOUT_S:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _summary(self, name: str) -> dict[str, Any]:
        try:
            return dict(self.client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"])
        except (ClientError, BotoCoreError) as exc:
            raise _stream_error(exc, "describe_stream_summary", name) from exc

    def list_shards(self, name: str) -> list[dict[str, Any]]:
        """Every shard (open and closed) with its hash-key and sequence ranges."""
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": name}
        try:
            while True:
                page = self.client.list_shards(**kwargs)
                shards.extend(page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    return shards
                kwargs = {"NextToken": token}  # StreamName must not be sent with a token
        except (ClientError, BotoCoreError) as exc:
            raise _stream_error(exc, "list_shards", name) from exc

    def describe(self, name: str) -> StreamDescription:
        status = self._summary(name)["StreamStatus"]
        shard_ids = tuple(sorted(s["ShardId"] for s in self.list_shards(name)))
        return StreamDescription(name=name, status=status, shard_ids=shard_ids)

    # -- writing --------------------------------------------------------------------
    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        errors = validate_put(entries)
        sendable = [e for e, err in zip(entries, errors, strict=True) if err is None]
        sent: list[PutResult] = []
        if sendable:
            try:
                response = self.client.put_records(
                    StreamName=name,
                    Records=[{"Data": bytes(e.data), "PartitionKey": e.partition_key} for e in sendable],
                )
            except (ClientError, BotoCoreError) as exc:
                raise _stream_error(exc, "put_records", name) from exc
            for item in response["Records"]:
                if item.get("ErrorCode"):
                    sent.append(
                        PutResult(error_code=item["ErrorCode"], error_message=item.get("ErrorMessage"))
                    )
                else:
                    sent.append(PutResult(sequence_number=item["SequenceNumber"], shard_id=item["ShardId"]))
                    self._remember(name, item["ShardId"], item["SequenceNumber"])
            if len(sent) != len(sendable):
                raise StreamError(f"put_records on {name!r}: {len(sent)} results for {len(sendable)} records")
        results: list[PutResult] = []
        it = iter(sent)
        for error in errors:
            if error is None:
                results.append(next(it))
            else:
                results.append(PutResult(error_code="InvalidArgumentException", error_message=error))
        return results

    # -- reading --------------------------------------------------------------------
    def shard_reader(self, name: str, shard_id: str, after_sequence: str | None) -> KinesisShardReader:
        return KinesisShardReader(self, name, shard_id, after_sequence)

    def _remember(self, name: str, shard_id: str, sequence: str) -> None:
        key = (name, shard_id)
        current = self._known.get(key)
        if current is None or int(sequence) > int(current):
            self._known[key] = sequence

    def latest_sequence(self, name: str, shard_id: str) -> str | None:
        """Scan forward from the newest sequence this object has seen (or the trim horizon).

        Kinesis has no "last sequence number" call and moto does not support LATEST with a
        peek, so this reads at most LATEST_SCAN_CALLS pages; None when the tip was not reached
        or the shard is empty.
        """
        reader = KinesisShardReader(self, name, shard_id, self._known.get((name, shard_id)))
        for _ in range(LATEST_SCAN_CALLS):
            records = reader.read(10_000)
            if not records and reader.millis_behind_latest() in (0, None):
                return reader.position
        return None

    def newest_arrival_ms(self, name: str, shard_id: str) -> int | None:
        """The newest record's ApproximateArrivalTimestamp: GetRecords AT its sequence number."""
        sequence = self.latest_sequence(name, shard_id)
        if sequence is None:
            return None
        try:
            iterator = self.client.get_shard_iterator(
                StreamName=name,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                StartingSequenceNumber=sequence,
            )["ShardIterator"]
            records = self.client.get_records(ShardIterator=iterator, Limit=1)["Records"]
        except (ClientError, BotoCoreError) as exc:
            raise _stream_error(exc, f"get_records({shard_id})", name) from exc
        if not records:
            return None
        return int(records[0]["ApproximateArrivalTimestamp"].timestamp() * 1000)

    def close(self) -> None:
        self.client.close()


class KinesisShardReader:
    """GetShardIterator + GetRecords over one shard, remembering the last sequence returned."""

    def __init__(self, stream: KinesisStream, name: str, shard_id: str, after_sequence: str | None) -> None:
        self.shard_id = shard_id
        self._stream = stream
        self._name = name
        self._last = after_sequence
        self._iterator: str | None = None
        self._closed = False  # the shard was closed (resharding) and fully read
        self._millis_behind: int | None = None

    @property
    def position(self) -> str | None:
        return self._last

    def _acquire(self) -> str:
        kwargs: dict[str, Any] = {"StreamName": self._name, "ShardId": self.shard_id}
        if self._last is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["StartingSequenceNumber"] = self._last
        try:
            return str(self._stream.client.get_shard_iterator(**kwargs)["ShardIterator"])
        except (ClientError, BotoCoreError) as exc:
            raise _stream_error(exc, f"get_shard_iterator({self.shard_id})", self._name) from exc

    def read(self, limit: int = 1000) -> list[StreamRecord]:
        validate_limit(limit)
        if self._closed:
            return []
        if self._iterator is None:
            self._iterator = self._acquire()
        response: dict[str, Any] | None = None
        for attempt in range(2):
            try:
                response = self._stream.client.get_records(ShardIterator=self._iterator, Limit=limit)
                break
            except ClientError as exc:
                code = _code(exc)
                if code == "ExpiredIteratorException" and attempt == 0:
                    self._iterator = self._acquire()  # resumes after the last sequence returned
                    continue
                if code in ("ProvisionedThroughputExceededException", "KMSThrottlingException"):
                    log.warning("get_records throttled on %s/%s: %s", self._name, self.shard_id, exc)
                    return []
                raise _stream_error(exc, f"get_records({self.shard_id})", self._name) from exc
            except BotoCoreError as exc:
                raise _stream_error(exc, f"get_records({self.shard_id})", self._name) from exc
        assert response is not None
        self._iterator = response.get("NextShardIterator")
        if self._iterator is None:
            self._closed = True
        self._millis_behind = response.get("MillisBehindLatest")
        records = [
            StreamRecord(
                shard_id=self.shard_id,
                sequence_number=r["SequenceNumber"],
                partition_key=r["PartitionKey"],
                data=bytes(r["Data"]),
                approximate_arrival_ms=int(r["ApproximateArrivalTimestamp"].timestamp() * 1000),
            )
            for r in response.get("Records", [])
        ]
        if records:
            self._last = records[-1].sequence_number
            self._stream._remember(self._name, self.shard_id, self._last)
        return records

    def lag_records(self) -> int | None:
        """0 when the last read reached the tip; otherwise unknown (Kinesis reports time, not count)."""
        if self._closed or self._millis_behind == 0:
            return 0
        return None

    def millis_behind_latest(self) -> int | None:
        """Kinesis' MillisBehindLatest from the last read (None before the first read)."""
        return 0 if self._closed else self._millis_behind
