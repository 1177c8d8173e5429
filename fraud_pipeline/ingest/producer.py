"""Batching Kinesis producer: posts -> `put_records` on the untagged stream, nothing dropped.

Why it is shaped this way:
- Batches respect the API limits (500 records, 5 MiB per call, 1 MiB per record); a record
  that could never fit is refused at `put` (ValueError) so the caller can route it to errors.
- Kinesis may fail part of a batch (ProvisionedThroughputExceeded, InternalFailure). Only
  the failed entries are retried, with exponential backoff and full jitter.
- Order per partition key (the author DID) survives retries: a batch carries at most one
  record per key, so a failed record is always re-sent before the same author's next one.
  (Kinesis itself only orders per shard in the order the calls succeed.) Busy authors are
  rare on Bluesky (a few posts a minute), so batches stay full of distinct keys.
- A bounded queue gives backpressure: `put` blocks when the stream cannot keep up.
- One background flusher thread sends a batch when it is full or `linger_s` has passed;
  `flush()` waits until everything queued is acknowledged, `close()` drains and stops.
"""

from __future__ import annotations

import collections
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fraud_pipeline.accounts.events import AccountEvent
from fraud_pipeline.records import Post
from fraud_pipeline.streams.base import (
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_BYTES,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_PUT,
    PutEntry,
    Stream,
    StreamError,
    StreamNotFound,
    partition_key,
)

log = logging.getLogger(__name__)

# Per-entry error codes worth retrying. Kinesis documents these two for PutRecords;
# anything else (e.g. KMS access denied) is retried `max_attempts_other` times, then given
# to `on_failed` so it lands in the errors prefix instead of vanishing.
RETRYABLE_CODES = frozenset({"ProvisionedThroughputExceededException", "InternalFailure"})


@dataclass
class ProducerStats:
    """Counters written by the flusher thread (single writer) and read by anyone."""

    queued: int = 0
    put: int = 0
    retried: int = 0  # entries re-sent after a per-entry or whole-call failure
    failed: int = 0  # entries given up on (non-retryable), handed to on_failed
    batches: int = 0
    call_errors: int = 0  # put_records calls that raised


class ProducerClosed(RuntimeError):
    """put() after close(), or the flusher died (the cause is chained)."""


def entry_size(entry: PutEntry) -> int:
    """Bytes an entry counts against the 1 MiB / 5 MiB limits (data + partition key)."""
    return len(entry.data) + len(entry.partition_key.encode())


class Producer:
    def __init__(
        self,
        stream: Stream,
        stream_name: str,
        *,
        max_queue: int = 10_000,
        linger_s: float = 0.2,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 5.0,
        max_attempts_other: int = 5,
        max_call_failures: int = 30,
        on_failed: Callable[[PutEntry, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.stream = stream
        self.stream_name = stream_name
        self.stats = ProducerStats()
        self._queue: queue.Queue[PutEntry] = queue.Queue(maxsize=max_queue)
        self._backlog_limit = max(max_queue, 2 * MAX_RECORDS_PER_PUT)
        self._linger_s = linger_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._max_attempts_other = max_attempts_other
        self._max_call_failures = max_call_failures  # consecutive raising calls before giving up
        self._call_failures = 0
        self._on_failed = on_failed
        self._rng = rng or random.Random()
        self._outstanding = 0  # put() calls not yet acknowledged or given up on
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._flush_now = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kinesis-producer", daemon=True)
        self._thread.start()

    # -- caller side ---------------------------------------------------------------------
    def put_post(self, post: Post) -> None:
        """Queue one post, keyed by its author; blocks while the queue is full."""
        self.put(PutEntry(partition_key(post.did), post.to_json()))

    def put_account_event(self, event: AccountEvent) -> None:
        """Queue one account event (profile, follow, identity, status), keyed by its account."""
        self.put(PutEntry(partition_key(event.did), event.to_json()))

    def put(self, entry: PutEntry) -> None:
        if self._error is not None:
            raise ProducerClosed("producer flusher failed") from self._error
        if self._closing.is_set():
            raise ProducerClosed("producer is closed")
        if not entry.partition_key or len(entry.partition_key) > MAX_PARTITION_KEY_CHARS:
            raise ValueError(f"partition key must be 1-{MAX_PARTITION_KEY_CHARS} chars")
        if entry_size(entry) > MAX_RECORD_BYTES:
            raise ValueError(f"record of {entry_size(entry)} bytes exceeds {MAX_RECORD_BYTES}")
        with self._cond:
            self._outstanding += 1
        self.stats.queued += 1
        while True:
            try:
                self._queue.put(entry, timeout=0.5)
                return
            except queue.Full:
                if self._error is not None:
                    raise ProducerClosed("producer flusher failed") from self._error

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued entry is in the stream (or given up on). False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._flush_now.set()
        with self._cond:
            while self._outstanding > 0:
                if self._error is not None:
                    raise ProducerClosed("producer flusher failed") from self._error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.2 if remaining is None else min(0.2, remaining))
        return True

    def close(self, timeout: float | None = None) -> None:
        """Drain everything queued, then stop the flusher thread."""
        try:
            if self._error is None:
                self.flush(timeout)
        finally:
            self._closing.set()
            self._flush_now.set()
            self._thread.join(timeout=5)

    @property
    def outstanding(self) -> int:
        return self._outstanding

    # -- flusher thread ------------------------------------------------------------------
    def _run(self) -> None:
        backlog: collections.deque[PutEntry] = collections.deque()
        attempts: dict[int, int] = {}  # id(entry) -> non-retryable failure count
        consecutive_failures = 0
        try:
            while True:
                self._fill(backlog)
                if not backlog:
                    if self._closing.is_set() and self._queue.empty():
                        return
                    continue
                batch = self._take_batch(backlog)
                failed = self._send(batch, attempts)
                if failed:
                    consecutive_failures += 1
                    # failed entries go back in front, in their original order
                    backlog.extendleft(reversed(failed))
                    self._sleep_backoff(consecutive_failures)
                else:
                    consecutive_failures = 0
        except BaseException as exc:  # surface in the caller's thread instead of dying quietly
            log.exception(
                "kinesis producer stopped",
                extra={
                    "next_step": "check the untagged stream exists (fraud-pipeline provision) and the "
                    "credentials may put records; restart ingest, it resumes from its cursor"
                },
            )
            self._error = exc
            with self._cond:
                self._cond.notify_all()

    def _fill(self, backlog: collections.deque[PutEntry]) -> None:
        """Move queued entries into the backlog until a batch is full or linger_s passes."""
        # Entries left over from the last batch (same author twice, or retries) have waited
        # long enough already: only top up without lingering.
        linger = 0.0 if backlog else self._linger_s
        deadline = time.monotonic() + linger
        while len(backlog) < self._backlog_limit:
            try:
                backlog.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            if len(backlog) >= MAX_RECORDS_PER_PUT or self._closing.is_set() or self._flush_now.is_set():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                backlog.append(self._queue.get(timeout=min(remaining, 0.05)))
            except queue.Empty:
                continue
        if not backlog:
            self._flush_now.clear()

    def _take_batch(self, backlog: collections.deque[PutEntry]) -> list[PutEntry]:
        """The oldest entries with distinct partition keys, within the call limits."""
        batch: list[PutEntry] = []
        keys: set[str] = set()
        size = 0
        kept: list[PutEntry] = []
        while backlog and len(batch) < MAX_RECORDS_PER_PUT:
            entry = backlog.popleft()
            n = entry_size(entry)
            if entry.partition_key in keys:
                kept.append(entry)  # same author already in this batch: next batch
                continue
            if size + n > MAX_PUT_BYTES:
                kept.append(entry)
                break
            keys.add(entry.partition_key)
            batch.append(entry)
            size += n
        backlog.extendleft(reversed(kept))
        return batch

    def _send(self, batch: list[PutEntry], attempts: dict[int, int]) -> list[PutEntry]:
        """One put_records call; returns the entries to retry."""
        try:
            results = self.stream.put_records(self.stream_name, batch)
        except StreamNotFound:
            raise  # not something backoff fixes: run provision
        except Exception as exc:  # network, throttled call, 5xx: retry the whole batch
            self._call_failures += 1
            if self._call_failures > self._max_call_failures:
                raise StreamError(f"put_records failed {self._call_failures} times in a row") from exc
            log.warning(
                "put_records call failed (%s); retrying %d records",
                exc,
                len(batch),
                extra={
                    "next_step": "retried with backoff; if it persists, check the stream and its throughput"
                },
            )
            self.stats.call_errors += 1
            self.stats.retried += len(batch)
            return batch
        self._call_failures = 0
        if len(results) != len(batch):
            raise StreamError(f"put_records returned {len(results)} results for {len(batch)} entries")
        self.stats.batches += 1
        retry: list[PutEntry] = []
        done = 0
        for entry, result in zip(batch, results, strict=True):
            if result.ok:
                done += 1
                self.stats.put += 1
                attempts.pop(id(entry), None)
                continue
            code = result.error_code or "Unknown"
            if code not in RETRYABLE_CODES:
                count = attempts.get(id(entry), 0) + 1
                if count >= self._max_attempts_other:
                    attempts.pop(id(entry), None)
                    self.stats.failed += 1
                    done += 1
                    if self._on_failed is not None:
                        self._on_failed(entry, f"{code}: {result.error_message or ''}".strip())
                    continue
                attempts[id(entry)] = count
            retry.append(entry)
        self.stats.retried += len(retry)
        if done:
            with self._cond:
                self._outstanding -= done
                self._cond.notify_all()
        return retry

    def _sleep_backoff(self, failures: int) -> None:
        """Full-jitter exponential backoff (AWS architecture blog); close() still drains."""
        ceiling = min(self._backoff_max_s, self._backoff_base_s * (2 ** min(failures - 1, 20)))
        time.sleep(self._rng.uniform(0, ceiling))
