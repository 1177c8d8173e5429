"""The stream port: what "a stream" means to the pipeline, kept by Kinesis or a SQLite log.

Semantics follow Kinesis: records go to a shard chosen by partition key, each gets a
sequence number that orders it within its shard, readers read a shard from a position
(trim horizon, or after a sequence number) and keep their own checkpoints.
`put_records` may fail part of a batch: the result says which entries failed and why, and
the caller retries just those (see `ingest.producer`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Kinesis API limits, enforced by both adapters so the local run catches what AWS would reject.
MAX_RECORDS_PER_PUT = 500
MAX_RECORD_BYTES = 1024 * 1024
MAX_PUT_BYTES = 5 * 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256
MAX_RECORDS_PER_GET = 10_000


EMPTY_PARTITION_KEY = "-"  # Kinesis needs 1..256 characters; a record without an author gets this
_KEY_DIGEST_CHARS = 32  # hex characters of a 128-bit digest


def partition_key(author: str) -> str:
    """The partition key of a record by `author` (a DID): the one place keys are derived.

    A DID that fits is its own key, so each author's records keep their order on one shard.
    A longer one (a legal `did:web` can exceed Kinesis' 256 characters) keeps a readable prefix
    and ends in a digest of the whole DID, so it is still within the limit, still the same for
    every record of that author, and differs from another long DID with the same prefix.
    """
    if not author:
        return EMPTY_PARTITION_KEY
    if len(author) <= MAX_PARTITION_KEY_CHARS:
        return author
    digest = hashlib.blake2b(author.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return author[: MAX_PARTITION_KEY_CHARS - _KEY_DIGEST_CHARS - 1] + "#" + digest


class StreamError(RuntimeError):
    """A stream operation failed in a way the caller cannot retry record by record."""


class StreamNotFound(StreamError):
    """The named stream does not exist (run `fraud-pipeline provision`)."""


@dataclass(frozen=True, slots=True)
class PutEntry:
    partition_key: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    """Per-entry outcome of put_records, in input order (Kinesis `Records[i]`)."""

    sequence_number: str | None = None
    shard_id: str | None = None
    error_code: str | None = None  # e.g. ProvisionedThroughputExceededException
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record read from a shard (Kinesis `Record`)."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    approximate_arrival_ms: int  # when the stream accepted it


@dataclass(frozen=True, slots=True)
class StreamDescription:
    name: str
    status: str  # ACTIVE | CREATING | ...
    shard_ids: tuple[str, ...]


@runtime_checkable
class ShardReader(Protocol):
    """Reads one shard forward from a position; keeps its own place between calls."""

    shard_id: str

    def read(self, limit: int = 1000) -> list[StreamRecord]:
        """The next records (maybe none). Never blocks for long."""
        ...

    def lag_records(self) -> int | None:
        """Records behind the shard's tip, when the backend can tell (None otherwise)."""
        ...


@runtime_checkable
class Stream(Protocol):
    """A set of named streams (the Kinesis service, or the SQLite log file)."""

    def create_stream(self, name: str, shard_count: int) -> None:
        """Create the stream if missing and wait until it is ACTIVE (idempotent)."""
        ...

    def describe(self, name: str) -> StreamDescription: ...

    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        """Put up to MAX_RECORDS_PER_PUT entries; one result per entry, in order."""
        ...

    def shard_reader(self, name: str, shard_id: str, after_sequence: str | None) -> ShardReader:
        """A reader positioned after `after_sequence`, or at the trim horizon when None."""
        ...

    def latest_sequence(self, name: str, shard_id: str) -> str | None:
        """The newest sequence number in the shard (None when empty or unknown)."""
        ...

    def newest_arrival_ms(self, name: str, shard_id: str) -> int | None:
        """When the shard's newest record arrived (None when empty or unknown); for `status`."""
        ...

    def close(self) -> None: ...
