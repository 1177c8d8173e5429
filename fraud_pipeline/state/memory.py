"""An in-memory state store: for tests and single-process runs that need no persistence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence

from fraud_pipeline.state.base import SightingRow, SightingRuns
from fraud_pipeline.state.sqlite import (
    check_cache_values,
    check_key,
    check_sightings,
    count_in_window,
    sighting_rows,
)


class MemoryStateStore:
    """Checkpoints, counters and member sets in dicts; anything with a TTL is gone once expired."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._checkpoints: dict[str, str] = {}
        self._counters: dict[str, tuple[int, int | None]] = {}  # key -> (value, expires_at epoch s)
        self._sets: dict[str, tuple[dict[str, str], int]] = {}  # key -> (member -> value, expires_at)
        self._cache: dict[str, tuple[str, int]] = {}  # key -> (value, expires_at)

    def get_checkpoint(self, key: str) -> str | None:
        return self._checkpoints.get(check_key(key))

    def get_checkpoints(self, keys: Collection[str]) -> dict[str, str]:
        with self._lock:
            return {k: self._checkpoints[k] for k in keys if check_key(k) in self._checkpoints}

    def put_checkpoint(self, key: str, value: str) -> None:
        self.put_checkpoints({key: value})

    def put_checkpoints(self, values: dict[str, str]) -> None:
        checked = {check_key(k): str(v) for k, v in values.items()}
        with self._lock:
            self._checkpoints.update(checked)

    def _live(self, key: str, now: int) -> tuple[int, int | None] | None:
        entry = self._counters.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= now:
            return None
        return entry

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        check_key(key)
        with self._lock:
            now = int(self._clock())
            entry = self._live(key, now)
            if entry is None:
                entry = (by, now + ttl_s if ttl_s is not None else None)
            else:
                entry = (entry[0] + by, entry[1])
            self._counters[key] = entry
            return entry[0]

    def get_counter(self, key: str) -> int:
        with self._lock:
            entry = self._live(check_key(key), int(self._clock()))
            return entry[0] if entry else 0

    def add_members(self, sightings: Sequence[SightingRow] | SightingRuns, ttl_s: int) -> None:
        sightings = sighting_rows(sightings)
        check_sightings(sightings)
        with self._lock:
            expires = int(self._clock()) + ttl_s
            sets = self._sets
            for key, member, value in sightings:
                entry = sets.get(key)
                if entry is None:  # as on DynamoDB, an expired set keeps its members: see sqlite.py
                    sets[key] = ({member: value}, expires)
                    continue
                entry[0].setdefault(member, value)
                if entry[1] != expires:
                    sets[key] = (entry[0], expires)

    def get_members(self, keys: Collection[str], ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        """Every set in one dict: `ttl_s` changes nothing."""
        wanted = keys if isinstance(keys, set | frozenset) else set(keys)
        with self._lock:
            now = int(self._clock())
            sets = self._sets
            return {
                key: dict(entry[0])
                for key in sets.keys() & wanted
                if (entry := sets[key])[1] > now and entry[0]
            }

    def get_cached(self, keys: Collection[str]) -> dict[str, str]:
        with self._lock:
            now = int(self._clock())
            out = {}
            for key in keys:
                entry = self._cache.get(key)
                if entry is not None and entry[1] > now:
                    out[key] = entry[0]
            return out

    def put_cached(self, values: Mapping[str, str], ttl_s: int) -> None:
        check_cache_values(values)
        with self._lock:
            expires = int(self._clock()) + ttl_s
            self._cache.update({key: (value, expires) for key, value in values.items()})

    def count_members(self, groups: Mapping[str, tuple[Collection[str], str]]) -> dict[str, int]:
        keys = {key for set_keys, _ in groups.values() for key in set_keys}
        return count_in_window(self.get_members(keys), groups)

    def close(self) -> None:
        """Nothing to release."""
