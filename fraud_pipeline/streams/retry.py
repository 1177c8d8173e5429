"""Put records and retry only the entries that failed, the way Kinesis asks callers to.

`put_records` can succeed for some entries and fail others (throughput exceeded, internal
failure). Retrying the whole batch would duplicate the successes; this retries just the
failed entries, with exponential backoff and full jitter, and chunks by the API limits.

Two kinds of failure are kept apart, because they call for different answers:
- the stream's: throughput, internal failures, KMS, or the call itself failing (the stream
  is down). Retried here with backoff; if it persists, the caller should wait and retry the
  work, not blame the records (`is_stream_failure`).
- the record's own: `InvalidArgumentException` (over the 1 MiB record limit). Retrying
  cannot help, so it is not retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from fraud_pipeline.streams.base import (
    MAX_PUT_BYTES,
    MAX_RECORDS_PER_PUT,
    PutEntry,
    PutResult,
    Stream,
    StreamError,
)

# Per-entry error codes that are the record's own fault: the same record fails every time.
RECORD_ERROR_CODES = frozenset({"InvalidArgumentException"})
# The code given to entries of a put_records call that failed as a whole (the stream is down).
STREAM_UNAVAILABLE = "StreamUnavailable"


def is_stream_failure(result: PutResult) -> bool:
    """A failed entry the stream is to blame for (retry later), not the record."""
    return not result.ok and result.error_code not in RECORD_ERROR_CODES


def chunk_entries(entries: Sequence[PutEntry]) -> list[list[int]]:
    """Index chunks that respect the per-call record and byte limits."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, entry in enumerate(entries):
        entry_size = len(entry.data) + len(entry.partition_key.encode())
        if current and (len(current) >= MAX_RECORDS_PER_PUT or size + entry_size > MAX_PUT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def put_with_retries(
    stream: Stream,
    name: str,
    entries: Sequence[PutEntry],
    max_attempts: int = 8,
    base_delay_s: float = 0.05,
    max_delay_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[PutResult], int]:
    """Put every entry; returns (result per entry, retries made).

    A result that is not `ok` is an entry still failing after `max_attempts` (a stream
    failure, see `is_stream_failure`) or at once for its own reason. A call that raises
    `StreamError` counts as a failed attempt for all of its entries.
    """
    results: list[PutResult] = [PutResult(error_code=STREAM_UNAVAILABLE)] * len(entries)
    pending = list(range(len(entries)))
    retries = 0
    for attempt in range(max_attempts):
        failed: list[int] = []
        for chunk in chunk_entries([entries[i] for i in pending]):
            indices = [pending[i] for i in chunk]
            try:
                outcome = stream.put_records(name, [entries[i] for i in indices])
            except StreamError as exc:
                outcome = [PutResult(error_code=STREAM_UNAVAILABLE, error_message=str(exc)[:500])] * len(
                    indices
                )
            for index, result in zip(indices, outcome, strict=True):
                results[index] = result
                if is_stream_failure(result):
                    failed.append(index)
        if not failed:
            break
        pending = failed
        if attempt + 1 < max_attempts:
            retries += len(failed)
            sleep(random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt)))
    return results, retries
