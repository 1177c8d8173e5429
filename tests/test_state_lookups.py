"""SQLite's batch look-ups (`get_checkpoints`, `get_cached`, `get_members` of long-lived sets),
written as the keys joined to the table (`json_each ... CROSS JOIN`), held to the memory store
on random batches: duplicate keys, missing keys, expired entries, keys of every kind."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_batch_lookups_match_the_memory_store(tmp_path: Path) -> None:
    rng = random.Random(7)
    clock = Clock()
    sqlite = SqliteStateStore(tmp_path / "state.db", clock=clock)
    memory = MemoryStateStore(clock=clock)
    names = [f"k:{i}" for i in range(60)] + [f"acct:record:did:plc:{i}" for i in range(60)]
    for step in range(40):
        checkpoints = {rng.choice(names): f"v{step}-{rng.random()}" for _ in range(rng.randrange(0, 12))}
        cached = {rng.choice(names): f"c{step}" for _ in range(rng.randrange(0, 12))}
        rows = [(rng.choice(names), f"m{rng.randrange(8)}", f"{step}") for _ in range(rng.randrange(0, 20))]
        ttl = rng.choice([5, 50, 500])
        for store in (sqlite, memory):
            if checkpoints:
                store.put_checkpoints(dict(checkpoints))
            if cached:
                store.put_cached(cached, ttl_s=ttl)
            if rows:
                store.add_members(rows, ttl_s=7 * 86_400 + ttl)
        clock.now += rng.choice([0, 3, 40])
        asked = [rng.choice([*names, "k:never", "other"]) for _ in range(rng.randrange(0, 30))]
        assert sqlite.get_checkpoints(asked) == memory.get_checkpoints(asked)
        assert sqlite.get_cached(asked) == memory.get_cached(asked)
        long_ttl = 7 * 86_400 + 500
        assert sqlite.get_members(asked, ttl_s=long_ttl) == memory.get_members(asked, ttl_s=long_ttl)
        assert sqlite.get_members(set(asked)) == memory.get_members(set(asked))
    sqlite.close()


def test_checkpoints_are_looked_up_key_by_key(tmp_path: Path) -> None:
    """The keys drive the query (one primary-key search each), not a temporary B-tree of them
    probed against the table: SQLite's plan for the statement the store runs."""
    store = SqliteStateStore(tmp_path / "state.db")
    statements: list[str] = []
    conn = sqlite3.connect(tmp_path / "state.db")
    store._conn().set_trace_callback(statements.append)
    store.put_checkpoints({"a": "1"})
    assert store.get_checkpoints(["a", "b", "a"]) == {"a": "1"}
    store._conn().set_trace_callback(None)
    select = next(s for s in statements if s.startswith("SELECT") and "checkpoints" in s)
    blob = select.split("json_each('", 1)[1].split("')", 1)[0]
    plan = conn.execute("EXPLAIN QUERY PLAN " + select.replace(f"'{blob}'", "?"), (blob,)).fetchall()
    details = [row[3] for row in plan]
    assert not any("LIST SUBQUERY" in d for d in details), details
    assert details[0].startswith("SCAN") and "json_each" in select, details
    conn.close()
    store.close()
