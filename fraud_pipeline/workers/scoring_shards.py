"""One scoring runtime per stream shard, sharing nothing in memory, as Lambda runs them.

On AWS each shard of the untagged stream is scored by its own Lambda invocations, in
containers that share no memory: whatever the scorer remembers between posts (behaviour
windows, caches) is per shard unless it lives in a store. Locally the poller used to share
one runtime across shards, which hid that. `ScoringShards` builds a fresh runtime for each
shard on first sight (`settings.scoring_runtimes = "per-shard"`, the default) or one for all
(`"shared"`, for comparison), and hands each its shard's records as decoded records, never
as forged Lambda events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fraud_pipeline.scoring.handler import HandlerStats, InputRecord
from fraud_pipeline.streams.base import StreamRecord

RUNTIME_MODES: tuple[str, ...] = ("per-shard", "shared")


class ScoringCore(Protocol):
    stats: HandlerStats

    def score_batch(self, records: list[InputRecord], shard: str) -> list[str]: ...

    @property
    def errors_written(self) -> int: ...

    def close(self) -> None: ...


class ScoringShards:
    """The poller's scoring callable: routes each shard's batch to that shard's runtime."""

    def __init__(self, make_runtime: Callable[[], ScoringCore], per_shard: bool = True) -> None:
        self.make_runtime = make_runtime
        self.per_shard = per_shard
        self.runtimes: dict[str, ScoringCore] = {}

    def runtime(self, shard_id: str) -> ScoringCore:
        key = shard_id if self.per_shard else "shared"
        runtime = self.runtimes.get(key)
        if runtime is None:
            runtime = self.runtimes[key] = self.make_runtime()
        return runtime

    def __call__(self, shard_id: str, records: list[StreamRecord]) -> list[str]:
        batch = [InputRecord(r.sequence_number, r.data, r.partition_key) for r in records]
        return self.runtime(shard_id).score_batch(batch, shard_id)

    @property
    def stats(self) -> HandlerStats:
        """Totals over every shard's runtime."""
        total = HandlerStats()
        for runtime in self.runtimes.values():
            stats = runtime.stats
            total.records_in += stats.records_in
            total.undecodable += stats.undecodable
            total.tagged += stats.tagged
            total.verdict_updates += stats.verdict_updates
            total.account_events += stats.account_events
            total.account_records += stats.account_records
            total.failed += stats.failed
            total.counts.add(stats.counts)
        return total

    @property
    def errors_written(self) -> int:
        return sum(r.errors_written for r in self.runtimes.values())

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()
