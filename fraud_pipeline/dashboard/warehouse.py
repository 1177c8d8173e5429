"""Read-only access to the dbt warehouse (DuckDB) that never gets in the writer's way.

DuckDB lets one process write a database file, or several read it, never both: a dashboard
holding even a read-only connection would make the next `dbt build` (Dagster) fail to lock
the file, and while dbt builds, a read-only open fails. So the dashboard reads a private
snapshot: it copies the database file (and its WAL, if any) when they change, checks that
neither changed during the copy (a point-in-time image of a crash-safe DuckDB file is a valid
database), opens the copy read-only per query and closes it again. A torn copy is discarded
and the previous snapshot keeps serving, flagged `stale`.

Snapshots live in a folder of the system temp directory named after the dashboard's process
(`fraud-dashboard-warehouse-<pid>-...`), made on the first snapshot. It is removed on
`close()` and at interpreter exit; a dashboard killed outright cannot clean up, so every new
reader first removes the folders of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

COPY_ATTEMPTS = 3
SNAPSHOT_DIR_PREFIX = "fraud-dashboard-warehouse-"
MIN_REFRESH_INTERVAL_S = 2.0

Signature = tuple[tuple[int, int] | None, tuple[int, int] | None]  # (db, wal) as (size, mtime_ns)


class WarehouseMissing(RuntimeError):
    """The warehouse file does not exist yet (dbt has not built the marts)."""


class WarehouseBusy(RuntimeError):
    """The warehouse is being written and no earlier snapshot exists to serve."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    snapshot_mtime_ms: int  # when the warehouse file last changed before the snapshot
    stale: bool  # the file changed since, but could not be snapshotted consistently


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_orphaned_snapshots(temp_dir: str | Path | None = None) -> list[Path]:
    """Remove snapshot folders left by dashboards that are no longer running; returns them.

    A folder without a pid in its name was made before folders carried one: no running
    dashboard of this version uses it.
    """
    root = Path(temp_dir or tempfile.gettempdir())
    removed = []
    for folder in root.glob(SNAPSHOT_DIR_PREFIX + "*"):
        owner = folder.name[len(SNAPSHOT_DIR_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and (int(owner) == os.getpid() or _process_alive(int(owner))):
            continue
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class WarehouseSession:
    """Queries against one snapshot (so the several queries of a request agree with each other)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, snapshot_mtime_ms: int, stale: bool) -> None:
        self._con = con
        self.snapshot_mtime_ms = snapshot_mtime_ms
        self.stale = stale

    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        cursor = self._con.execute(sql, params or [])
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall(), self.snapshot_mtime_ms, self.stale)

    def tables(self) -> dict[str, str]:
        """Table/view name -> schema of everything in the warehouse (main schema first)."""
        result = self.query(
            "SELECT table_name, table_schema FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema <> 'main', table_schema, table_name"
        )
        found: dict[str, str] = {}
        for name, schema in result.rows:
            found.setdefault(str(name), str(schema))
        return found


class WarehouseReader:
    """Queries a private, consistent copy of a DuckDB file that another process writes."""

    def __init__(
        self,
        path: Path,
        *,
        min_refresh_interval_s: float = MIN_REFRESH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._min_interval = min_refresh_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._dir: Path | None = None  # made on the first snapshot
        self._cleanup: weakref.finalize | None = None
        self.orphans_removed = len(remove_orphaned_snapshots())
        self._counter = itertools.count()
        self._snapshot: Path | None = None
        self._snapshot_sig: Signature | None = None
        self._checked_at = float("-inf")
        self.copies = 0  # snapshots taken (for tests and the health endpoint)
        self.torn_copies = 0

    def signature(self) -> Signature:
        return (_stat(self.path), _stat(_wal(self.path)))

    def _copy(self, sig: Signature) -> Path | None:
        """A point-in-time copy of db + WAL, or None when the files changed while copying."""
        target = self._snapshot_dir() / f"snapshot-{next(self._counter)}.duckdb"
        try:
            shutil.copyfile(self.path, target)
            if sig[1] is not None:
                shutil.copyfile(_wal(self.path), _wal(target))
        except FileNotFoundError:
            self._remove(target)
            return None
        if self.signature() != sig:
            self._remove(target)
            return None
        try:
            duckdb.connect(str(target), read_only=True).close()
        except duckdb.Error:
            self._remove(target)
            return None
        return target

    def _snapshot_dir(self) -> Path:
        if self._dir is None or not self._dir.is_dir():
            self._dir = Path(tempfile.mkdtemp(prefix=f"{SNAPSHOT_DIR_PREFIX}{os.getpid()}-"))
            # Runs on close(), on garbage collection, and at interpreter exit (atexit).
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._dir), ignore_errors=True)
        return self._dir

    @staticmethod
    def _remove(snapshot: Path) -> None:
        for path in (snapshot, _wal(snapshot)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _refresh(self) -> bool:
        """Make the snapshot current if the file changed; returns True when it is current."""
        now = self._clock()
        sig = self.signature()
        if sig[0] is None:
            raise WarehouseMissing(f"{self.path} does not exist")
        if sig == self._snapshot_sig:
            return True
        if self._snapshot is not None and now - self._checked_at < self._min_interval:
            return False
        self._checked_at = now
        for _ in range(COPY_ATTEMPTS):
            copied = self._copy(sig)
            if copied is not None:
                old, self._snapshot, self._snapshot_sig = self._snapshot, copied, sig
                self.copies += 1
                if old is not None:
                    self._remove(old)  # open handles keep reading the unlinked file on POSIX
                return True
            self.torn_copies += 1
            time.sleep(0.05)
            sig = self.signature()
            if sig[0] is None:
                raise WarehouseMissing(f"{self.path} does not exist")
        if self._snapshot is None:
            raise WarehouseBusy(f"{self.path} is being written; try again in a few seconds")
        return False

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        """One snapshot, one short-lived read-only connection, for the queries of one request."""
        with self._lock:
            current = self._refresh()
            assert self._snapshot is not None and self._snapshot_sig is not None
            db_sig = self._snapshot_sig[0]
            assert db_sig is not None
            con = duckdb.connect(str(self._snapshot), read_only=True)
            try:
                yield WarehouseSession(con, db_sig[1] // 1_000_000, stale=not current)
            finally:
                con.close()

    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        """Run one read-only query on the current snapshot."""
        with self.session() as session:
            return session.query(sql, params)

    @property
    def snapshot_dir(self) -> Path | None:
        """The folder of this reader's snapshots (None before the first one)."""
        return self._dir

    def close(self) -> None:
        with self._lock:
            self._snapshot = None
            self._snapshot_sig = None
            if self._cleanup is not None:
                self._cleanup()
