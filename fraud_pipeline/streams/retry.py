"""Put records and retry only the entries that failed, the way Kinesis asks callers to.

`put_records` can succeed for some entries and fail others (throughput exceeded, internal
failure). Retrying the whole batch would duplicate the successes; this retries just the
failed entries, with exponential backoff and full jitter, and chunks by the API limits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from fraud_pipeline.streams.base import MAX_PUT_BYTES, MAX_RECORDS_PER_PUT, PutEntry, PutResult, Stream


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
) -> tuple[list[PutResult | None], int]:
    """Put every entry; returns (result per entry, retries made).

    A result is None only for an entry still failing after `max_attempts`; the caller decides
    what that means (the handler reports those records as batch item failures).
    """
    results: list[PutResult | None] = [None] * len(entries)
    pending = list(range(len(entries)))
    retries = 0
    for attempt in range(max_attempts):
        failed: list[int] = []
        for chunk in chunk_entries([entries[i] for i in pending]):
            indices = [pending[i] for i in chunk]
            outcome = stream.put_records(name, [entries[i] for i in indices])
            for index, result in zip(indices, outcome, strict=True):
                if result.ok:
                    results[index] = result
                else:
                    failed.append(index)
        if not failed:
            break
        pending = failed
        if attempt + 1 < max_attempts:
            retries += len(failed)
            sleep(random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt)))
    return results, retries
