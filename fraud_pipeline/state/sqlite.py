"""The local state store: checkpoints and counters in one SQLite file.

Several workers (ingest, poller, delivery, Dagster) share the file from different threads
and processes, so: WAL mode, busy_timeout, one connection per thread, and every
read-modify-write inside `BEGIN IMMEDIATE`.

Counter TTL is a fixed window, as with DynamoDB TTL: `expires_at` (epoch seconds) is set
when a counter starts (or restarts after expiring) and later increments keep it; an
expired counter reads as 0 and the next increment starts it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fraud_pipeline.sqlite_files import ThreadLocalSqlite
from fraud_pipeline.state import StateError

MAX_KEY_CHARS = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    key        TEXT PRIMARY KEY,
    value      INTEGER NOT NULL,
    expires_at INTEGER
);
"""


def check_key(key: str) -> str:
    """Keys are non-empty strings of bounded length (DynamoDB's key limit is 2048 bytes)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise StateError(f"state key must be a string of 1..{MAX_KEY_CHARS} characters, got {key!r:.80}")
    return key


class SqliteStateStore:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = ThreadLocalSqlite(self.path, _SCHEMA)
        self._conn = self._db.conn

    def get_checkpoint(self, key: str) -> str | None:
        row = (
            self._conn().execute("SELECT value FROM checkpoints WHERE key = ?", (check_key(key),)).fetchone()
        )
        return str(row[0]) if row else None

    def put_checkpoint(self, key: str, value: str) -> None:
        self.put_checkpoints({key: value})

    def put_checkpoints(self, values: dict[str, str]) -> None:
        """All in one transaction: either every checkpoint moves or none does."""
        now_ms = int(self._clock() * 1000)
        rows = [(check_key(k), str(v), now_ms) for k, v in values.items()]
        if not rows:
            return
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO checkpoints (key, value, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def increment(self, key: str, by: int = 1, ttl_s: int | None = None) -> int:
        check_key(key)
        now = int(self._clock())
        expires = now + ttl_s if ttl_s is not None else None
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "  value = CASE WHEN counters.expires_at IS NOT NULL AND counters.expires_at <= ?"
                "               THEN excluded.value ELSE counters.value + excluded.value END,"
                "  expires_at = CASE WHEN counters.expires_at IS NOT NULL AND counters.expires_at <= ?"
                "                    THEN excluded.expires_at ELSE counters.expires_at END "
                "RETURNING value",
                (key, by, expires, now, now),
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(row[0])

    def get_counter(self, key: str) -> int:
        row = (
            self._conn()
            .execute(
                "SELECT value FROM counters WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                (check_key(key), int(self._clock())),
            )
            .fetchone()
        )
        return int(row[0]) if row else 0

    def purge_expired(self) -> int:
        """Delete expired counters (DynamoDB's TTL sweeper does this on AWS); returns how many."""
        cursor = self._conn().execute(
            "DELETE FROM counters WHERE expires_at IS NOT NULL AND expires_at <= ?", (int(self._clock()),)
        )
        return cursor.rowcount

    def close(self) -> None:
        self._db.close()
