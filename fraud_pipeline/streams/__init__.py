"""The stream port and its adapters: `open_stream(settings)` picks Kinesis or the SQLite log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraud_pipeline.streams.base import (
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_BYTES,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_GET,
    MAX_RECORDS_PER_PUT,
    PutEntry,
    PutResult,
    ShardReader,
    Stream,
    StreamDescription,
    StreamError,
    StreamNotFound,
    StreamRecord,
)

if TYPE_CHECKING:
    from fraud_pipeline.settings import Settings

__all__ = [
    "MAX_PARTITION_KEY_CHARS",
    "MAX_PUT_BYTES",
    "MAX_RECORDS_PER_GET",
    "MAX_RECORDS_PER_PUT",
    "MAX_RECORD_BYTES",
    "PutEntry",
    "PutResult",
    "ShardReader",
    "Stream",
    "StreamDescription",
    "StreamError",
    "StreamNotFound",
    "StreamRecord",
    "open_stream",
]


def open_stream(settings: Settings) -> Stream:
    """The stream service of the configured backend (adapters import lazily: boto3 is slow to load)."""
    if settings.backend == "aws":
        from fraud_pipeline.streams.kinesis import KinesisStream, kinesis_client

        return KinesisStream(kinesis_client(settings.aws_region, settings.endpoint_url))
    from fraud_pipeline.streams.sqlite_log import SqliteLogStream

    return SqliteLogStream(settings.stream_log_path)
