"""SQLite files of the local backend (stream log, state, metrics), opened one way.

Ingest, the poller and the delivery use the same files from several threads and
processes at once: each thread gets its own connection, in WAL mode (readers never block
the writer), autocommit unless a transaction is opened explicitly, with a generous busy
timeout so concurrent writers wait instead of failing. `synchronous=NORMAL` keeps commits
durable across a process crash (a power loss may lose the last few).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL mode. Several connections opening a new file at once can get "database is
    locked" here without SQLite's busy handler being asked (the switch needs the file to
    itself), so it is retried, within the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class ThreadLocalSqlite:
    """One connection per thread to one SQLite file; `close()` closes them all."""

    def __init__(self, path: Path | str, schema: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if schema:
            self.conn().executescript(schema)

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection opened through this object, in any thread."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._local = threading.local()
