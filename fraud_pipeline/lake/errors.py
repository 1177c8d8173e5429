"""The errors prefix: every record the pipeline could not process, with the reason.

Nothing is silently dropped. Each stage (ingest, scoring, delivery) writes its rejects as
JSON lines under `errors/<stage>/YYYY/MM/DD/HH/`, in the shape Firehose uses for its own
error output (`errorCode`, `errorMessage`, `rawData` base64), so one tool reads them all.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fraud_pipeline.lake.paths import error_object_key
from fraud_pipeline.objects import ObjectStore

MAX_RAW_BYTES = 256 * 1024  # keep enough of a bad record to debug it, not a 1 MB blob


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    error_code: str  # machine-readable: Undecodable, NotAPost, FormatConversionFailed, ...
    error_message: str
    raw: bytes
    source: dict[str, Any] | None = None  # e.g. {"sequenceNumber": ..., "shardId": ...}

    def to_dict(self, stage: str, now: datetime) -> dict[str, Any]:
        return {
            "stage": stage,
            "errorCode": self.error_code,
            "errorMessage": self.error_message[:2000],
            "rawData": base64.b64encode(self.raw[:MAX_RAW_BYTES]).decode(),
            "rawDataTruncated": len(self.raw) > MAX_RAW_BYTES,
            "rawDataBytes": len(self.raw),
            "source": self.source or {},
            "approximateArrivalTimestamp": int(now.timestamp() * 1000),
        }


class ErrorSink:
    """Writes one JSON-lines object per batch of errors of one stage."""

    def __init__(self, objects: ObjectStore, errors_prefix: str, stage: str) -> None:
        self.objects = objects
        self.errors_prefix = errors_prefix
        self.stage = stage
        self.written = 0

    def write(self, errors: list[ErrorRecord]) -> str | None:
        """Persist the errors; returns the key (None when there was nothing to write)."""
        if not errors:
            return None
        now = datetime.now(UTC)
        body = b"".join(orjson.dumps(e.to_dict(self.stage, now)) + b"\n" for e in errors)
        key = error_object_key(
            self.errors_prefix, self.stage, now, f"{self.stage}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4()}.jsonl"
        )
        self.objects.put_bytes(key, body)
        self.written += len(errors)
        return key


def read_errors(objects: ObjectStore, errors_prefix: str, stage: str | None = None) -> list[dict[str, Any]]:
    """All error records under the prefix (optionally one stage), oldest key first."""
    prefix = errors_prefix + (f"{stage}/" if stage else "")
    rows: list[dict[str, Any]] = []
    for info in sorted(objects.list_objects(prefix), key=lambda i: i.key):
        rows.extend(orjson.loads(line) for line in objects.get_bytes(info.key).splitlines() if line)
    return rows


class BatchingErrorSink:
    """Collects error records from a hot loop and writes them in batches (one object each).

    Ingest sees malformed events one at a time at tens of thousands per second; one object
    per event would be slow and expensive on S3, so they are grouped by count or age.
    """

    def __init__(self, sink: ErrorSink, max_records: int = 1000, max_age_s: float = 5.0) -> None:
        self.sink = sink
        self.max_records = max_records
        self.max_age_s = max_age_s
        self._pending: list[ErrorRecord] = []
        self._oldest = 0.0
        self._lock = threading.Lock()

    def add(self, error: ErrorRecord) -> None:
        with self._lock:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(error)
            due = len(self._pending) >= self.max_records or time.monotonic() - self._oldest >= self.max_age_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        self.sink.write(pending)

    @property
    def written(self) -> int:
        return self.sink.written
