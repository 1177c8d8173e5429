"""Helpers shared by the ingest tests: Jetstream event builders and in-memory port fakes.

The fakes implement the stream/state protocols in the smallest honest way (a list per
shard, a dict of checkpoints) so the ingest logic can be tested before, and independently
of, the real adapters.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import orjson

from fraud_pipeline.streams.base import PutEntry, PutResult, StreamDescription, StreamRecord

DID = "did:plc:abcdefghijklmnopqrstuvwx"


def post_event(
    text: str = "hello world",
    *,
    did: str = DID,
    rkey: str = "3lbabcdefgh22",
    time_us: int = 1_732_000_000_000_000,
    operation: str = "create",
    cid: str | None = "bafyreib2rxk3rh6kzwq2q7q3t2xgvj5z3q6f7r4z5n7kq3x2h4y5z6a7b8",
    **record_fields: Any,
) -> dict[str, Any]:
    """A Jetstream commit event for app.bsky.feed.post."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2024-11-20T10:00:00.000Z",
    }
    record.update(record_fields)
    commit: dict[str, Any] = {
        "rev": "3lbxyz",
        "operation": operation,
        "collection": "app.bsky.feed.post",
        "rkey": rkey,
    }
    if operation != "delete":
        commit["record"] = record
        commit["cid"] = cid
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}


def raw(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


class MemoryState:
    """StateStore fake: checkpoints and counters in dicts."""

    def __init__(self) -> None:
        self.checkpoints: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self.writes = 0

    def get_checkpoint(self, key: str) -> str | None:
        return self.checkpoints.get(key)

    def put_checkpoint(self, key: str, value: str) -> None:
        self.writes += 1
        self.checkpoints[key] = value

    def put_checkpoints(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self.put_checkpoint(key, value)

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        self.counters[key] = self.counters.get(key, 0) + by
        return self.counters[key]

    def get_counter(self, key: str) -> int:
        return self.counters.get(key, 0)

    def close(self) -> None:
        pass


class MemoryStream:
    """Stream fake with Kinesis semantics for put_records, plus scripted per-entry failures.

    `fail_plan` is consulted per put call: a set of entry indexes to fail with
    ProvisionedThroughputExceededException (failed entries are not stored, like Kinesis).
    """

    def __init__(self, shard_count: int = 2) -> None:
        self.shard_count = shard_count
        self.shards: dict[str, dict[str, list[StreamRecord]]] = {}
        self.fail_plan: list[set[int]] = []
        self.calls: list[int] = []  # entries per put_records call
        self.call_bytes: list[int] = []  # bytes per put_records call
        self.raise_plan: list[Exception] = []
        self._lock = threading.Lock()
        self._seq = 0

    def create_stream(self, name: str, shard_count: int) -> None:
        self.shards.setdefault(name, {f"shardId-{i:012d}": [] for i in range(shard_count)})

    def describe(self, name: str) -> StreamDescription:
        return StreamDescription(name, "ACTIVE", tuple(self.shards[name]))

    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        assert 0 < len(entries) <= 500, len(entries)
        with self._lock:
            self.calls.append(len(entries))
            self.call_bytes.append(sum(len(e.data) + len(e.partition_key.encode()) for e in entries))
            if self.raise_plan:
                raise self.raise_plan.pop(0)
            failing = self.fail_plan.pop(0) if self.fail_plan else set()
            shard_ids = list(self.shards[name])
            results = []
            for i, entry in enumerate(entries):
                if i in failing:
                    results.append(PutResult(error_code="ProvisionedThroughputExceededException"))
                    continue
                digest = int.from_bytes(hashlib.md5(entry.partition_key.encode()).digest(), "big")
                shard = shard_ids[digest % len(shard_ids)]
                self._seq += 1
                seq = f"{self._seq:020d}"
                self.shards[name][shard].append(StreamRecord(shard, seq, entry.partition_key, entry.data, 0))
                results.append(PutResult(sequence_number=seq, shard_id=shard))
            return results

    def records(self, name: str) -> list[StreamRecord]:
        out = [r for shard in self.shards[name].values() for r in shard]
        return sorted(out, key=lambda r: r.sequence_number)

    def shard_reader(self, name: str, shard_id: str, after_sequence: str | None) -> Any:
        raise NotImplementedError

    def latest_sequence(self, name: str, shard_id: str) -> str | None:
        shard = self.shards[name][shard_id]
        return shard[-1].sequence_number if shard else None

    def close(self) -> None:
        pass
