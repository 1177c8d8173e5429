"""The Lambda event-source-mapping poller: what AWS runs between Kinesis and the handler.

It keeps the mapping's contract so the scoring core runs as it does on AWS: it reads every
shard of the untagged stream, hands the core each shard's records in batches (`BatchSize`,
`MaximumBatchingWindowInSeconds`; no forged Lambda events: the core takes decoded records,
see `scoring_shards.py`), honours the records it did not finish (retry from
the lowest failed record), splits a batch in two when the handler raises
(`BisectBatchOnFunctionError`), gives up on a record after `MaximumRetryAttempts` and sends
it to the on-failure destination (the errors prefix), and checkpoints each shard's sequence
number only after the handler has finished the records before it. A restart resumes from
the checkpoints: records may be handled twice (at-least-once, as on AWS), never skipped.

An outage is not a record's fault: when the core raises one of TRANSIENT_ERRORS (the tagged
stream down, the errors prefix unwritable: the core's `StoreUnavailable` is a StreamError),
the batch is neither bisected nor charged a retry; `run` backs off (1 s doubling to 30 s) and
hands the core the same records again. Only records the core reports unfinished, or a
handler that raises anything else, spend `MaximumRetryAttempts`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from fraud_pipeline.lake.errors import ErrorRecord, ErrorSink
from fraud_pipeline.metrics.base import MetricDatum, MetricsSink
from fraud_pipeline.objects import ObjectStoreError
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import StateError
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import ShardReader, Stream, StreamError, StreamRecord

log = logging.getLogger(__name__)

# Outages of the stores the poller reads and writes; the handler's own errors never get here.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    StreamError,
    StateError,
    ObjectStoreError,
    sqlite3.OperationalError,
    OSError,
)

# The scoring core for one shard's batch: (shard id, records) -> sequence numbers not finished.
ScoreBatch = Callable[[str, list[StreamRecord]], Collection[str]]


@dataclass
class PollerStats:
    batches: int = 0
    records: int = 0
    handler_errors: int = 0
    retried: int = 0
    dead_lettered: int = 0
    store_failures: int = 0  # polls that failed on a store (stream, state, lake) and were retried
    checkpointed: dict[str, str] = field(default_factory=dict)


@dataclass
class _ShardState:
    reader: ShardReader
    pending: list[StreamRecord] = field(default_factory=list)
    attempts: int = 0  # failed attempts of pending[0]
    first_pending_at: float = 0.0


def _age_ms(record: StreamRecord, now_ms: int | None = None) -> int:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0, now_ms - record.approximate_arrival_ms)


def checkpoint_key(stream_name: str, shard_id: str) -> str:
    return f"poller/{stream_name}/{shard_id}"


class EventSourceMappingPoller:
    def __init__(
        self,
        settings: Settings,
        stream: Stream,
        state: StateStore,
        score: ScoreBatch,
        dead_letters: ErrorSink,
        batch_size: int = 500,
        batching_window_s: float = 0.2,
        max_retry_attempts: int = 3,
        bisect_on_error: bool = True,
        service_metrics: MetricsSink | None = None,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.state = state
        self.score = score
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.batching_window_s = batching_window_s
        self.max_retry_attempts = max_retry_attempts
        self.bisect_on_error = bisect_on_error
        self.service_metrics = service_metrics
        self.stream_name = settings.untagged_stream
        self.stats = PollerStats()
        self._invocations = 0
        self._shards: dict[str, _ShardState] = {}
        for shard_id in stream.describe(self.stream_name).shard_ids:
            after = state.get_checkpoint(checkpoint_key(self.stream_name, shard_id))
            self._shards[shard_id] = _ShardState(stream.shard_reader(self.stream_name, shard_id, after))

    def _first_unfinished(self, shard_id: str, batch: list[StreamRecord]) -> int | None:
        """Score the batch; index of the first record the core did not finish."""
        self._invocations += 1
        try:
            failed = set(self.score(shard_id, batch))
        except TRANSIENT_ERRORS:
            raise  # a store is down: `run` backs off and retries; no record is blamed
        except Exception:
            self.stats.handler_errors += 1
            log.exception(
                "handler raised on a batch of %d records from %s",
                len(batch),
                shard_id,
                extra={
                    "shard": shard_id,
                    "record": batch[0].sequence_number,
                    "next_step": "read the traceback; the batch is bisected and retried, records that "
                    "keep failing go to the dead-letter errors prefix",
                },
            )
            if not self.bisect_on_error or len(batch) == 1:
                return 0
            middle = len(batch) // 2
            first = self._first_unfinished(shard_id, batch[:middle])
            if first is not None:
                return first
            second = self._first_unfinished(shard_id, batch[middle:])
            return None if second is None else middle + second
        if not failed:
            return None
        for index, record in enumerate(batch):
            if record.sequence_number in failed:
                return index
        return 0  # unknown identifiers: the mapping treats the whole batch as failed

    # -- polling --------------------------------------------------------------------
    def poll_once(self, force: bool = False) -> int:
        """One pass over every shard; returns how many records the handler finished."""
        finished = 0
        self._oldest_read_age_ms = 0
        for shard_id, shard in self._shards.items():
            fresh: list[StreamRecord] = []
            if len(shard.pending) < self.batch_size:
                fresh = shard.reader.read(self.batch_size - len(shard.pending))
                if fresh and not shard.pending:
                    shard.first_pending_at = time.monotonic()
                shard.pending.extend(fresh)
            if not shard.pending:
                continue
            if fresh:
                self._oldest_read_age_ms = max(self._oldest_read_age_ms, _age_ms(fresh[0]))
            window_open = time.monotonic() - shard.first_pending_at < self.batching_window_s
            if len(shard.pending) < self.batch_size and window_open and not force:
                continue
            finished += self._process(shard_id, shard)
        return finished

    def _process(self, shard_id: str, shard: _ShardState) -> int:
        batch = shard.pending[: self.batch_size]
        self.stats.batches += 1
        self._invocations = 0
        errors_before = self.stats.handler_errors
        first_failed = self._first_unfinished(shard_id, batch)
        self._publish(batch, self.stats.handler_errors - errors_before)
        done = len(batch) if first_failed is None else first_failed
        if first_failed is None:
            shard.attempts = 0
        else:
            # `attempts` counts the failures of the record now at the head of the shard.
            shard.attempts = shard.attempts + 1 if first_failed == 0 else 1
            self.stats.retried += len(batch) - done
            if shard.attempts > self.max_retry_attempts:
                self._dead_letter(shard_id, batch[first_failed])
                done += 1
                shard.attempts = 0
        if done:
            last = batch[done - 1].sequence_number
            self.state.put_checkpoint(checkpoint_key(self.stream_name, shard_id), last)
            self.stats.checkpointed[shard_id] = last
            shard.pending = shard.pending[done:]
            shard.first_pending_at = time.monotonic()
        self.stats.records += done
        return done

    def _publish(self, batch: list[StreamRecord], errors: int) -> None:
        """The metrics AWS publishes for a Lambda event source mapping, under the same names
        and dimensions, so the CloudWatch dashboard and alarms read the local run alike."""
        if self.service_metrics is None:
            return
        now_ms = int(time.time() * 1000)
        function = {"FunctionName": self.settings.scoring_function}
        self.service_metrics.put(
            "AWS/Lambda",
            [
                MetricDatum("Invocations", float(self._invocations), "Count", now_ms, function),
                MetricDatum("Errors", float(errors), "Count", now_ms, function),
                MetricDatum("Throttles", 0.0, "Count", now_ms, function),
                # IteratorAge: age of the last record of the batch when the function got it.
                MetricDatum(
                    "IteratorAge", float(_age_ms(batch[-1], now_ms)), "Milliseconds", now_ms, function
                ),
            ],
        )
        self.service_metrics.put(
            "AWS/Kinesis",
            [
                MetricDatum(
                    "GetRecords.IteratorAgeMilliseconds",
                    float(self._oldest_read_age_ms),
                    "Milliseconds",
                    now_ms,
                    {"StreamName": self.stream_name},
                )
            ],
        )
        self.service_metrics.put(
            "AWS/SQS",
            [
                MetricDatum(
                    "ApproximateNumberOfMessagesVisible",
                    float(self.stats.dead_lettered),
                    "Count",
                    now_ms,
                    {"QueueName": self.settings.scoring_dlq},
                )
            ],
        )

    def _dead_letter(self, shard_id: str, record: StreamRecord) -> None:
        self.dead_letters.write(
            [
                ErrorRecord(
                    "RetriesExhausted",
                    f"handler did not finish the record after {self.max_retry_attempts} retries",
                    record.data,
                    {
                        "shardId": shard_id,
                        "sequenceNumber": record.sequence_number,
                        "partitionKey": record.partition_key,
                    },
                )
            ]
        )
        self.stats.dead_lettered += 1

    def pending(self) -> int:
        return sum(len(s.pending) for s in self._shards.values())

    def lag_records(self) -> int:
        """Records in the stream not yet finished by the handler (pending + unread)."""
        unread = 0
        for shard in self._shards.values():
            behind = shard.reader.lag_records()
            unread += behind or 0
        return unread + self.pending()

    def run(self, stop: threading.Event, idle_sleep_s: float = 0.02, max_backoff_s: float = 30.0) -> None:
        """Poll until `stop`, riding out outages of the stores; then drain what was read."""
        backoff = 0.0
        while not stop.is_set():
            try:
                finished = self.poll_once()
            except TRANSIENT_ERRORS as exc:
                # A store is down: nothing past the last checkpoint is lost, it is retried.
                backoff = min(max_backoff_s, max(1.0, backoff * 2))
                self.stats.store_failures += 1
                log.warning("poller: %s; retrying in %.0f s", exc, backoff)
                stop.wait(backoff)
                continue
            backoff = 0.0
            if finished == 0:
                stop.wait(idle_sleep_s)
        # Drain what was already read so a clean stop loses no work.
        while self.pending():
            try:
                if self.poll_once(force=True) == 0 and self.pending():
                    stop.wait(idle_sleep_s)
            except TRANSIENT_ERRORS as exc:
                log.warning("poller: %s while draining; the rest resumes from the checkpoint", exc)
                return
