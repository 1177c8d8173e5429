"""The streaming path on one machine: ingest -> untagged stream -> poller -> handler ->
tagged stream -> delivery -> lake, on either backend, with counts and a drain.

What AWS runs for us in production (the event source mapping, Firehose) is run here by
`EventSourceMappingPoller` and `FirehoseDelivery`, each in its own thread with its own
connections; the handler is the real Lambda handler. "Drained" is decided from the stores,
not from the threads: every shard's checkpoint has reached the shard's newest record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fraud_pipeline.lake.errors import ErrorSink
from fraud_pipeline.metrics import open_metrics
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.scoring.handler import ScoringRuntime, build_post_scorer
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import Stream, open_stream
from fraud_pipeline.workers import delivery as delivery_module
from fraud_pipeline.workers import poller as poller_module
from fraud_pipeline.workers.delivery import FirehoseDelivery
from fraud_pipeline.workers.poller import EventSourceMappingPoller

log = logging.getLogger(__name__)


def _sequence_value(sequence: str | None) -> int:
    # Kinesis and the SQLite log both use decimal sequence numbers, ordered numerically.
    return -1 if sequence is None else int(sequence)


class Stack:
    """The poller and the delivery around the real handler, sharing one settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        delivery_buffer_seconds: float | None = None,
        batch_size: int = 500,
        invoke: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.objects = ObjectStore.from_settings(settings)
        self.stream: Stream = open_stream(settings)
        self.runtime = ScoringRuntime(
            settings, open_stream(settings), self.objects, open_metrics(settings), build_post_scorer(settings)
        )
        self.poller = EventSourceMappingPoller(
            settings,
            open_stream(settings),
            open_state(settings),
            invoke or self.runtime.handle,
            ErrorSink(self.objects, settings.errors_prefix, "poller"),
            batch_size=batch_size,
        )
        self.delivery = FirehoseDelivery(
            settings,
            open_stream(settings),
            open_state(settings),
            self.objects,
            buffer_seconds=delivery_buffer_seconds,
        )
        self._state = open_state(settings)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- running ----------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self.poller.run, args=(self._stop,), name="esm-poller", daemon=True),
            threading.Thread(target=self.delivery.run, args=(self._stop,), name="delivery", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the workers; each finishes the batch it holds and the delivery flushes."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    # -- drained? ---------------------------------------------------------------------
    def _behind(self, stream_name: str, key_of: Callable[[str, str], str]) -> int:
        """Shards whose checkpoint is short of the newest record."""
        behind = 0
        for shard_id in self.stream.describe(stream_name).shard_ids:
            latest = self.stream.latest_sequence(stream_name, shard_id)
            if latest is None:
                continue
            done = self._state.get_checkpoint(key_of(stream_name, shard_id))
            if _sequence_value(done) < _sequence_value(latest):
                behind += 1
        return behind

    def drained(self) -> bool:
        return (
            self._behind(self.settings.untagged_stream, poller_module.checkpoint_key) == 0
            and self._behind(self.settings.tagged_stream, delivery_module.checkpoint_key) == 0
        )

    def wait_drained(self, timeout: float = 600.0, poll_s: float = 0.1) -> bool:
        """Block until everything put so far is in the lake (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.drained():
                return True
            time.sleep(poll_s)
        return False

    def close(self) -> None:
        self.stop()
        for closable in (self.stream, self._state):
            closable.close()
