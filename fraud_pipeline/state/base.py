"""The state port: checkpoints and counters (DynamoDB on AWS, SQLite or memory locally).

Checkpoints are how every worker resumes after a crash: the ingest cursor (Jetstream
`time_us`), the poller's and delivery's sequence number per shard. Counters are small
named integers (events in/out, per-account post counts for behavioural signals), with an
optional time-to-live, after indigo/automod's counter store.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class StateStore(Protocol):
    def get_checkpoint(self, key: str) -> str | None: ...

    def put_checkpoint(self, key: str, value: str) -> None: ...

    def put_checkpoints(self, values: dict[str, str]) -> None:
        """Several checkpoints at once (atomically where the backend allows)."""
        ...

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        """Add to a counter and return the new value; an expired counter restarts at 0."""
        ...

    def get_counter(self, key: str) -> int: ...

    def close(self) -> None: ...
