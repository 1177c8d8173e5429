"""The label store: signed labels under a monotonically increasing sequence number.

It is the labeler's source of truth. `subscribeLabels` replays it from any cursor, and
`queryLabels` reads the current state of each (uri, value). Beside the labels it keeps,
in the same transaction:
- `label_state`: the newest label per (uri, value), so the worker knows what is active
  and a re-delivered verdict publishes nothing twice;
- the stream position per shard the labels were made from, so "stored" and "checkpointed"
  can never disagree (a crash between them re-reads nothing already stored);
- human overrides: (uri, value) pairs the worker must never label again, with who made
  each (`made_by`; a store made before that column existed gains it on open, its old
  overrides reading "unknown").

A port with two adapters: SQLite under the home folder locally (this module), and on AWS
the Postgres the Dagster deployment already runs (`postgres_store`), whose sequence is
durable and ordered across the labeler's tasks.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.settings import Settings
from fraud_pipeline.sqlite_files import ThreadLocalSqlite

log = logging.getLogger(__name__)

# queryLabels: pages of at most this many labels (the lexicon's limit maximum).
MAX_PAGE = 250

# Who made an override stored before the store recorded a person.
UNKNOWN_ACTOR = "unknown"


class LabelStoreError(RuntimeError):
    """The label store cannot be read or written."""


@dataclass(frozen=True, slots=True)
class StoredLabel:
    seq: int
    uri: str
    val: str
    neg: bool
    cid: str | None
    cbor: bytes  # the signed label, DAG-CBOR

    @property
    def label(self) -> Label:
        return Label.from_cbor(self.cbor)


@dataclass(frozen=True, slots=True)
class ActiveLabel:
    seq: int
    cid: str | None
    neg: bool


@dataclass(frozen=True, slots=True)
class Override:
    uri: str
    val: str
    reason: str
    created_at: str
    made_by: str = UNKNOWN_ACTOR  # the person who made it (`labels negate --by`)


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """[low, high) such that exactly the strings starting with `prefix` lie in it."""
    return prefix, prefix + "\U0010ffff"


class LabelStore(Protocol):
    def append(
        self,
        labels: list[Label],
        positions: dict[str, str] | None = None,
        overrides: list[Override] | None = None,
    ) -> list[int]:
        """Store signed labels (in order), stream positions and overrides atomically; their seqs.

        A label (not a negation) for an overridden (uri, value) is not stored: the check runs
        inside the write, so an override made while the worker was deciding still holds.
        """
        ...

    def head(self) -> int:
        """The newest sequence number (0 when empty)."""
        ...

    def first_seq(self) -> int:
        """The oldest sequence number still stored (1 when nothing was ever removed)."""
        ...

    def after(self, seq: int, limit: int) -> list[StoredLabel]:
        """Labels with a sequence number above `seq`, in order."""
        ...

    def active(self, uris: Iterable[str]) -> dict[tuple[str, str], ActiveLabel]:
        """The newest label per (uri, value) for these uris."""
        ...

    def overrides(self, uris: Iterable[str]) -> set[tuple[str, str]]: ...

    def list_overrides(self) -> list[Override]: ...

    def query(
        self, patterns: list[str], sources: list[str] | None, after_seq: int, limit: int
    ) -> list[StoredLabel]:
        """The current label of each (uri, value) matching a pattern (exact, or prefix ending in `*`)."""
        ...

    def positions(self) -> dict[str, str]:
        """Stream position (last sequence number stored) per shard key."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    src  TEXT NOT NULL,
    uri  TEXT NOT NULL,
    val  TEXT NOT NULL,
    neg  INTEGER NOT NULL,
    cid  TEXT,
    cts  TEXT NOT NULL,
    cbor BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS label_state (
    uri TEXT NOT NULL,
    val TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (uri, val)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS label_state_seq ON label_state (seq);
CREATE TABLE IF NOT EXISTS overrides (
    uri        TEXT NOT NULL,
    val        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (uri, val)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    shard    TEXT PRIMARY KEY,
    sequence TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

_COLUMNS = "l.seq, l.uri, l.val, l.neg, l.cid, l.cbor"


def _stored(row: tuple[int, str, str, int, str | None, bytes]) -> StoredLabel:
    return StoredLabel(row[0], row[1], row[2], bool(row[3]), row[4], bytes(row[5]))


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteLabelStore:
    """The local label store: one SQLite file (WAL; the worker writes, the service reads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = ThreadLocalSqlite(self.path, _SCHEMA)
        self._conn = self._db.conn
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added after the first release, added on open to new and old stores alike
        (SQLite has no `ADD COLUMN IF NOT EXISTS`: look first; a concurrent opener may win)."""
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(overrides)")}
        if "made_by" not in columns:
            try:
                conn.execute(
                    f"ALTER TABLE overrides ADD COLUMN made_by TEXT NOT NULL DEFAULT '{UNKNOWN_ACTOR}'"
                )
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise LabelStoreError(f"cannot upgrade the label store: {exc}") from exc

    def append(
        self,
        labels: list[Label],
        positions: dict[str, str] | None = None,
        overrides: list[Override] | None = None,
    ) -> list[int]:
        conn = self._conn()
        seqs: list[int] = []
        try:
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time: seqs commit in order
            for override in overrides or []:
                conn.execute(
                    "INSERT INTO overrides (uri, val, reason, created_at, made_by) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (uri, val) DO UPDATE SET reason = excluded.reason, "
                    "created_at = excluded.created_at, made_by = excluded.made_by",
                    (override.uri, override.val, override.reason, override.created_at, override.made_by),
                )
            for label in labels:
                if (
                    not label.neg
                    and conn.execute(
                        "SELECT 1 FROM overrides WHERE uri = ? AND val = ?", (label.uri, label.val)
                    ).fetchone()
                ):
                    continue
                cursor = conn.execute(
                    "INSERT INTO labels (src, uri, val, neg, cid, cts, cbor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (label.src, label.uri, label.val, int(label.neg), label.cid, label.cts, label.to_cbor()),
                )
                seq = int(cursor.lastrowid or 0)
                seqs.append(seq)
                conn.execute(
                    "INSERT INTO label_state (uri, val, seq) VALUES (?, ?, ?) "
                    "ON CONFLICT (uri, val) DO UPDATE SET seq = excluded.seq",
                    (label.uri, label.val, seq),
                )
            for shard, sequence in (positions or {}).items():
                conn.execute(
                    "INSERT INTO positions (shard, sequence) VALUES (?, ?) "
                    "ON CONFLICT (shard) DO UPDATE SET sequence = excluded.sequence",
                    (shard, sequence),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LabelStoreError(f"cannot store labels: {exc}") from exc
        return seqs

    def head(self) -> int:
        row = self._conn().execute("SELECT max(seq) FROM labels").fetchone()
        return int(row[0] or 0)

    def first_seq(self) -> int:
        row = self._conn().execute("SELECT min(seq) FROM labels").fetchone()
        return int(row[0]) if row[0] is not None else self.head() + 1

    def after(self, seq: int, limit: int) -> list[StoredLabel]:
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM labels l WHERE l.seq > ? ORDER BY l.seq LIMIT ?", (seq, limit)
        )
        return [_stored(row) for row in rows]

    def active(self, uris: Iterable[str]) -> dict[tuple[str, str], ActiveLabel]:
        found: dict[tuple[str, str], ActiveLabel] = {}
        for chunk in _chunks(sorted(set(uris))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn().execute(
                f"SELECT s.uri, s.val, l.seq, l.cid, l.neg FROM label_state s JOIN labels l ON l.seq = s.seq "
                f"WHERE s.uri IN ({marks})",
                chunk,
            )
            for uri, val, seq, cid, neg in rows:
                found[(uri, val)] = ActiveLabel(int(seq), cid, bool(neg))
        return found

    def overrides(self, uris: Iterable[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(set(uris))):
            marks = ",".join("?" * len(chunk))
            rows = self._conn().execute(f"SELECT uri, val FROM overrides WHERE uri IN ({marks})", chunk)
            found.update((uri, val) for uri, val in rows)
        return found

    def list_overrides(self) -> list[Override]:
        rows = self._conn().execute(
            "SELECT uri, val, reason, created_at, made_by FROM overrides ORDER BY created_at"
        )
        return [Override(*row) for row in rows]

    def query(
        self, patterns: list[str], sources: list[str] | None, after_seq: int, limit: int
    ) -> list[StoredLabel]:
        clauses: list[str] = []
        params: list[object] = []
        for pattern in patterns:
            if pattern.endswith("*"):
                low, high = prefix_bounds(pattern[:-1])
                clauses.append("(s.uri >= ? AND s.uri < ?)")
                params.extend((low, high))
            else:
                clauses.append("s.uri = ?")
                params.append(pattern)
        where = f"({' OR '.join(clauses)}) AND s.seq > ?"
        params.append(after_seq)
        if sources:
            where += f" AND l.src IN ({','.join('?' * len(sources))})"
            params.extend(sources)
        params.append(min(limit, MAX_PAGE))
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM label_state s JOIN labels l ON l.seq = s.seq "
            f"WHERE {where} ORDER BY s.seq LIMIT ?",
            params,
        )
        return [_stored(row) for row in rows]

    def positions(self) -> dict[str, str]:
        return {
            shard: sequence
            for shard, sequence in self._conn().execute("SELECT shard, sequence FROM positions")
        }

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn().execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self._db.close()


def open_label_store(settings: Settings) -> LabelStore:
    """The label store of the configured backend: Postgres on AWS (`labeler_database_url`),
    SQLite under the home folder otherwise (also for `--backend aws` against an emulator,
    which has no Postgres)."""
    if settings.backend == "aws" and settings.labeler_database_url:
        from fraud_pipeline.labeler.postgres_store import PostgresLabelStore

        return PostgresLabelStore(settings.labeler_database_url)
    if settings.backend == "aws" and not settings.aws_endpoint_url:
        log.warning("no FRAUD_PIPELINE_LABELER_DATABASE_URL on AWS: labels go to %s", settings.labels_path)
    return SqliteLabelStore(settings.labels_path)
