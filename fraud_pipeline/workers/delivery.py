"""The Firehose-equivalent delivery: tagged stream -> Parquet files in the raw lake.

It keeps the delivery stream's contract: buffer by size and time (`BufferingHints`),
convert JSON to Parquet with the Glue table's schema (`records.TAGGED_ARROW_SCHEMA`, Snappy
compressed), write to `posts/YYYY/MM/DD/HH/` by arrival hour with Firehose's object names
(account records, `operation == "account"`, to `accounts/YYYY/MM/DD/HH/` instead: Firehose's
dynamic partitioning on `operation` does the same on AWS), and send records that fail
conversion to the errors prefix (`errors/delivery/...`, errorCode `DataFormatConversion.*`).
Each shard's sequence number is checkpointed only after the file holding its records is
written, so a crash re-delivers (duplicates the compaction removes) and never loses a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from fraud_pipeline.lake.errors import ErrorRecord, ErrorSink
from fraud_pipeline.lake.paths import firehose_object_key
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.records import ACCOUNT_OPERATION, RecordError, tagged_rows_to_table
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import ShardReader, Stream, StreamRecord

log = logging.getLogger(__name__)


def checkpoint_key(stream_name: str, shard_id: str) -> str:
    return f"delivery/{stream_name}/{shard_id}"


@dataclass
class DeliveryStats:
    records_in: int = 0
    rows_written: int = 0
    account_rows_written: int = 0  # of rows_written: account records (the accounts prefix)
    files_written: int = 0
    bytes_written: int = 0
    conversion_errors: int = 0
    write_failures: int = 0  # flushes that failed and were retried
    flushes: int = 0
    keys: list[str] = field(default_factory=list)


def _hour_of(arrival_ms: int) -> datetime:
    return datetime.fromtimestamp(arrival_ms / 1000, tz=UTC).replace(minute=0, second=0, microsecond=0)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


class FirehoseDelivery:
    def __init__(
        self,
        settings: Settings,
        stream: Stream,
        state: StateStore,
        objects: ObjectStore,
        buffer_bytes: int | None = None,
        buffer_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.state = state
        self.objects = objects
        self.errors = ErrorSink(objects, settings.errors_prefix, "delivery")
        self.buffer_bytes = (
            buffer_bytes if buffer_bytes is not None else settings.delivery_buffer_mb * 1024 * 1024
        )
        self.buffer_seconds = (
            buffer_seconds if buffer_seconds is not None else settings.delivery_buffer_seconds
        )
        self.clock = clock
        self.stream_name = settings.tagged_stream
        self.stats = DeliveryStats()
        self._buffer: list[StreamRecord] = []
        self._buffered_bytes = 0
        self._buffer_started = 0.0
        self._readers: dict[str, ShardReader] = {}
        for shard_id in stream.describe(self.stream_name).shard_ids:
            after = state.get_checkpoint(checkpoint_key(self.stream_name, shard_id))
            self._readers[shard_id] = stream.shard_reader(self.stream_name, shard_id, after)

    def poll_once(self, read_limit: int = 2000) -> int:
        """Read what is available into the buffer and flush when a hint is reached; rows written."""
        for reader in self._readers.values():
            records = reader.read(read_limit)
            if records and not self._buffer:
                self._buffer_started = self.clock()
            self._buffer.extend(records)
            self._buffered_bytes += sum(len(r.data) for r in records)
            self.stats.records_in += len(records)
        if not self._buffer:
            return 0
        if (
            self._buffered_bytes >= self.buffer_bytes
            or self.clock() - self._buffer_started >= self.buffer_seconds
        ):
            return self.flush()
        return 0

    def flush(self) -> int:
        """Write the buffer as Parquet (one file per arrival hour), then checkpoint."""
        if not self._buffer:
            return 0
        buffer, self._buffer, self._buffered_bytes = self._buffer, [], 0
        by_hour: dict[datetime, list[StreamRecord]] = {}
        for record in buffer:
            by_hour.setdefault(_hour_of(record.approximate_arrival_ms), []).append(record)
        written = 0
        try:
            for _, records in sorted(by_hour.items()):
                written += self._write_hour(records)
        except (ObjectStoreError, OSError):
            # Keep the records for the next try (Firehose retries delivery too); a file already
            # written for another hour is written again then: duplicates, never a loss.
            self._buffer = buffer + self._buffer
            self._buffered_bytes = sum(len(r.data) for r in self._buffer)
            raise
        last_by_shard: dict[str, str] = {}
        for record in buffer:  # records of a shard are in sequence order
            last_by_shard[record.shard_id] = record.sequence_number
        self.state.put_checkpoints({checkpoint_key(self.stream_name, s): q for s, q in last_by_shard.items()})
        self.stats.flushes += 1
        return written

    def _write_hour(self, records: list[StreamRecord]) -> int:
        rows: dict[str, list[dict[str, Any]]] = {}  # prefix -> rows (posts, accounts)
        row_records: dict[str, list[StreamRecord]] = {}
        errors: list[ErrorRecord] = []
        for record in records:
            try:
                row = orjson.loads(record.data)
                if not isinstance(row, dict):
                    raise RecordError(f"not a JSON object: {type(row).__name__}")
                prefix = self._prefix_of(row)
                rows.setdefault(prefix, []).append(row)
                row_records.setdefault(prefix, []).append(record)
            except (orjson.JSONDecodeError, RecordError) as exc:
                errors.append(self._conversion_error(record, f"DataFormatConversion.MalformedData: {exc}"))
        tables: list[tuple[str, pa.Table]] = []
        for prefix, prefix_rows in rows.items():
            try:
                table = tagged_rows_to_table(prefix_rows)
            except RecordError:
                table, bad = self._convert_row_by_row(prefix_rows, row_records[prefix])
                errors.extend(bad)
            tables.append((prefix, table))
        if errors:
            self.errors.write(errors)
            self.stats.conversion_errors += len(errors)
        # Named by the newest arrival in it, which lies inside `hour` (records were grouped by it).
        newest = datetime.fromtimestamp(max(r.approximate_arrival_ms for r in records) / 1000, tz=UTC)
        written = 0
        for prefix, table in tables:
            if table.num_rows == 0:
                continue
            key = firehose_object_key(prefix, self.settings.delivery_stream, newest)
            body = parquet_bytes(table)
            self.objects.put_bytes(key, body)
            self.stats.rows_written += table.num_rows
            if prefix == self.settings.accounts_prefix:
                self.stats.account_rows_written += table.num_rows
            self.stats.files_written += 1
            self.stats.bytes_written += len(body)
            self.stats.keys.append(key)
            written += int(table.num_rows)
        return written

    def _prefix_of(self, row: dict[str, Any]) -> str:
        """Where a row lands: account records in the accounts table, everything else with the posts."""
        if row.get("operation") == ACCOUNT_OPERATION:
            return self.settings.accounts_prefix
        return self.settings.posts_prefix

    def _convert_row_by_row(
        self, rows: list[dict[str, Any]], records: list[StreamRecord]
    ) -> tuple[pa.Table, list[ErrorRecord]]:
        """Find the rows that break conversion; keep the rest (Firehose converts per record)."""
        good: list[dict[str, Any]] = []
        bad: list[ErrorRecord] = []
        for row, record in zip(rows, records, strict=True):
            try:
                tagged_rows_to_table([row])
                good.append(row)
            except RecordError as exc:
                bad.append(self._conversion_error(record, f"DataFormatConversion.InvalidSchema: {exc}"))
        return tagged_rows_to_table(good), bad

    def _conversion_error(self, record: StreamRecord, message: str) -> ErrorRecord:
        return ErrorRecord(
            message.split(":", 1)[0],
            message,
            record.data,
            {"shardId": record.shard_id, "sequenceNumber": record.sequence_number},
        )

    def buffered(self) -> int:
        return len(self._buffer)

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.05, max_backoff_s: float = 30.0) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                written = self.poll_once()
            except (ObjectStoreError, OSError) as exc:
                backoff = min(max_backoff_s, max(1.0, backoff * 2))
                self.stats.write_failures += 1
                log.warning(
                    "delivery to the lake failed (%s); retrying in %.0f s",
                    exc,
                    backoff,
                    extra={
                        "next_step": "check that the lake bucket/folder exists and is writable; "
                        "nothing is checkpointed until the write succeeds"
                    },
                )
                stop.wait(backoff)
                continue
            backoff = 0.0
            if written == 0 and not self._buffer:
                stop.wait(idle_sleep_s)
            elif self._buffer:
                stop.wait(min(idle_sleep_s, 0.01))
        self.poll_once()
        self.flush()
