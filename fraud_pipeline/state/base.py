"""The state port: checkpoints and counters (DynamoDB on AWS, SQLite or memory locally).

Checkpoints are how every worker resumes after a crash: the ingest cursor (Jetstream
`time_us`), the poller's and delivery's sequence number per shard. Counters are small
named integers (events in/out), with an optional time-to-live, after indigo/automod's
counter store. Member sets are what behaviour is counted with, once for all shards: named
sets of members (accounts, posts) each with the value of its first sighting, added and read
in batches so a scoring batch costs a bounded number of round trips, not one per post.
Adding a member is idempotent, so a batch scored twice (at-least-once delivery, Lambda
retries) counts nothing twice. The cache is named string values with a time-to-live, read
and written in batches: what is costly to recompute and the same for every shard (an image's
verdict by blob CID, so a campaign's reused image is fetched and read once).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

MAX_MEMBER_CHARS = 512
MAX_CACHE_VALUE_CHARS = 64_000  # far under DynamoDB's 400 KB item limit


class Sighting(NamedTuple):
    """One member seen in one set; the set keeps the value of the member's first sighting.

    A named tuple: a scoring batch makes thousands, and a tuple is built three times faster
    than a frozen dataclass."""

    key: str  # the set, e.g. "fp:<fingerprint>#<bucket>"
    member: str  # e.g. an account DID
    value: str  # e.g. "<event time>|<new>|<domain>|<rkey>" (opaque to the store)


# What `add_members` takes: a `Sighting`, or the same three strings as a plain tuple.
SightingRow = tuple[str, str, str]


class SightingRuns:
    """A batch of sightings as columns: every set key in order, and one member and value per
    run of consecutive keys that share them (`runs[j]` keys each). The SQLite set log's own row
    shape, so a writer that has its sightings in runs already (the behaviour tracker: a
    near-duplicate post's sixteen band sets are one run) hands them over with nothing to
    transpose or regroup. Iterates as its `Sighting`s, as every store may read it."""

    __slots__ = ("keys", "members", "runs", "values")

    def __init__(self, keys: list[str], members: list[str], values: list[str], runs: list[int]) -> None:
        self.keys = keys
        self.members = members
        self.values = values
        self.runs = runs

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Sighting]:
        keys = iter(self.keys)
        for member, value, run in zip(self.members, self.values, self.runs, strict=True):
            for _ in range(run):
                yield Sighting(next(keys), member, value)


@runtime_checkable
class StateStore(Protocol):
    def get_checkpoint(self, key: str) -> str | None: ...

    def get_checkpoints(self, keys: Collection[str]) -> dict[str, str]:
        """The checkpoints among `keys` that exist, in one round trip per backend page (a
        scoring batch reads its accounts' last verdicts this way, not one call per account)."""
        ...

    def put_checkpoint(self, key: str, value: str) -> None: ...

    def put_checkpoints(self, values: dict[str, str]) -> None:
        """Several checkpoints at once (atomically where the backend allows)."""
        ...

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        """Add to a counter and return the new value; an expired counter restarts at 0."""
        ...

    def get_counter(self, key: str) -> int: ...

    def add_members(self, sightings: Sequence[SightingRow] | SightingRuns, ttl_s: int) -> None:
        """Add every sighting's member to its set unless already there (the first value is
        kept); a set may be forgotten `ttl_s` seconds after its last write. A sighting is a
        `Sighting` or a plain (key, member, value) tuple (built ten times faster: the behaviour
        tracker writes thousands per batch); a whole batch may come as `SightingRuns`."""
        ...

    def get_members(self, keys: Collection[str], ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        """member -> value of each live, non-empty set among `keys` (others are left out).

        `ttl_s`: the time-to-live the sets were written with, when the caller knows it. A store
        that keeps sets by their time-to-live then looks only where such sets live (SQLite: its
        set log, or its tables), not first in one and then, for the keys it lacks, in the other;
        a set written with a time-to-live of the other kind may then be left out."""
        ...

    def get_cached(self, keys: Collection[str]) -> dict[str, str]:
        """key -> value of each live cache entry among `keys` (missing or expired ones left out)."""
        ...

    def put_cached(self, values: Mapping[str, str], ttl_s: int) -> None:
        """Store cache entries (a later write replaces a value); each is forgotten `ttl_s`
        seconds after it was written."""
        ...

    def count_members(self, groups: Mapping[str, tuple[Collection[str], str]]) -> dict[str, int]:
        """For each named group of sets: how many distinct members the group's live sets hold
        whose value is at least the group's lower bound (compared as strings: values such as
        fixed-width event times). A count is computed where the members are (SQLite), so a
        window over a big set costs one number, not its rows; groups with none are left out."""
        ...

    def close(self) -> None: ...
