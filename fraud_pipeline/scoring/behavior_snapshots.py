"""Keeps the behaviour tracker's window in the object store, one object per stream shard.

Lambda containers and local workers come and go: deploys, scaling, crashes. Without
snapshots, every restart would start the campaign, burst and image-reuse counters from zero
and leave the scorer blind to campaigns for a whole window. Each batch comes from one shard
(the event source mapping reads shard by shard), and the stream is partitioned by author,
so a shard's snapshot holds that shard's accounts.

A runtime restores a shard's snapshot the first time it sees the shard. It rewrites the
snapshot of the shard it just scored at most every `every_s` seconds, and writes all of
them on `flush()` when it stops cleanly. A worker that dies loses at most `every_s` of
sightings. Snapshots are soft state, so a failed read or write never fails a batch. An
unreadable snapshot goes to the errors prefix and the shard starts cold. A failed write
is logged and retried with the next batch.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from fraud_pipeline.lake.errors import ErrorRecord, ErrorSink
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.scoring.signals import BehaviorTracker, SnapshotError

log = logging.getLogger(__name__)

UNSHARDED = "unsharded"  # records that carry no shard id (a hand-made event)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class SnapshotStats:
    restored_shards: int = 0
    restored_accounts: int = 0
    unreadable: int = 0
    read_failures: int = 0
    writes: int = 0
    write_failures: int = 0


def shard_of(event_id: object) -> str:
    """The shard of a Lambda Kinesis record's `eventID` ("shardId-000000000001:4959...")."""
    if isinstance(event_id, str) and ":" in event_id:
        return event_id.split(":", 1)[0] or UNSHARDED
    return UNSHARDED


class BehaviorSnapshots:
    """Restores and saves one tracker's window, per shard, under `prefix` in `objects`."""

    def __init__(
        self,
        objects: ObjectStore,
        prefix: str,
        tracker: BehaviorTracker,
        errors: ErrorSink,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.objects = objects
        self.prefix = prefix
        self.tracker = tracker
        self.errors = errors
        self.every_s = every_s
        self.clock = clock
        self.stats = SnapshotStats()
        self._restored: set[str] = set()
        self._saved_at: dict[str, float] = {}

    def key(self, shard: str) -> str:
        return f"{self.prefix}{_UNSAFE.sub('_', shard)}.json.zst"

    def before_batch(self, shard: str) -> None:
        """Merge the shard's saved window the first time this runtime sees the shard."""
        if shard in self._restored:
            return
        key = self.key(shard)
        try:
            data = self.objects.get_bytes(key)
        except FileNotFoundError:
            data = None
        except ObjectStoreError as exc:
            self.stats.read_failures += 1
            log.warning("behaviour snapshot %s not read (will retry next batch): %s", key, exc)
            return
        self._restored.add(shard)
        self._saved_at[shard] = self.clock()  # what is there is fresh: no need to rewrite it now
        if data is None:
            return
        try:
            accounts = self.tracker.restore(data)
        except (SnapshotError, ValueError, TypeError, OverflowError) as exc:  # never fail the batch
            self.stats.unreadable += 1
            log.warning("behaviour snapshot %s unreadable, starting cold: %s", key, exc)
            self._record_unreadable(key, str(exc), data)
            return
        self.stats.restored_shards += 1
        self.stats.restored_accounts += accounts

    def after_batch(self, shard: str) -> None:
        """Save the window for `shard` if its last save is `every_s` old (and what was saved
        before has been read: a save must never replace a snapshot this runtime could not read)."""
        due = self.clock() - self._saved_at.get(shard, float("-inf")) >= self.every_s
        if shard in self._restored and due:
            self._save(shard)

    def flush(self) -> None:
        """Save the window for every shard this runtime has scored (a clean stop)."""
        for shard in sorted(self._restored):
            self._save(shard)

    def _save(self, shard: str) -> None:
        key = self.key(shard)
        try:
            self.objects.put_bytes(key, self.tracker.snapshot())
        except ObjectStoreError as exc:
            self.stats.write_failures += 1
            log.warning("behaviour snapshot %s not saved (will retry next batch): %s", key, exc)
            return
        self.stats.writes += 1
        self._saved_at[shard] = self.clock()

    def _record_unreadable(self, key: str, reason: str, data: bytes) -> None:
        try:
            self.errors.write([ErrorRecord("BadBehaviorSnapshot", reason, data[:4096], {"key": key})])
        except ObjectStoreError as exc:
            log.warning("could not record the unreadable snapshot %s: %s", key, exc)
