"""The label store on AWS: the Postgres the Dagster deployment already runs (a database of its own).

Why Postgres: the labels need one durable, gap-free, ordered sequence that several tasks
read (each labeler replica follows it) and that survives task replacement; a `BIGSERIAL`
on the RDS instance `infra/` already keeps for Dagster gives that with backups and no new
service to run. DynamoDB has no ordered cross-partition read by sequence, and a Kinesis
stream forgets after its retention, while a labeler must replay from cursor 0.

Writers take a transaction-scoped advisory lock before inserting, so sequence numbers
commit in order: a reader following `seq > head` can never see seq 7 committed before 6
and skip 6. The `uri` column uses the "C" collation so a prefix pattern is an index range.
Same behaviour as the SQLite adapter (`store.py`); the tests run both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import psycopg

from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.store import (
    MAX_PAGE,
    UNKNOWN_ACTOR,
    ActiveLabel,
    LabelStoreError,
    Override,
    StoredLabel,
    prefix_bounds,
)

_WRITE_LOCK = 0x6C6162656C73  # advisory lock id ("labels")

# Its own schema in the shared database: nothing of Dagster's is touched.
_SCHEMA = (
    """
CREATE SCHEMA IF NOT EXISTS labeler;
SET search_path TO labeler;
CREATE TABLE IF NOT EXISTS labels (
    seq  BIGSERIAL PRIMARY KEY,
    src  TEXT NOT NULL,
    uri  TEXT COLLATE "C" NOT NULL,
    val  TEXT NOT NULL,
    neg  BOOLEAN NOT NULL,
    cid  TEXT,
    cts  TEXT NOT NULL,
    cbor BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS label_state (
    uri TEXT COLLATE "C" NOT NULL,
    val TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (uri, val)
);
CREATE INDEX IF NOT EXISTS label_state_seq ON label_state (seq);
CREATE TABLE IF NOT EXISTS label_overrides (
    uri        TEXT COLLATE "C" NOT NULL,
    val        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (uri, val)
);
CREATE TABLE IF NOT EXISTS label_positions (shard TEXT PRIMARY KEY, sequence TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS label_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
    + (
        # Columns added after the first release: stores made before them gain them on open.
        "ALTER TABLE label_overrides ADD COLUMN IF NOT EXISTS made_by TEXT NOT NULL "
        f"DEFAULT '{UNKNOWN_ACTOR}';"
    )
)

_COLUMNS = "l.seq, l.uri, l.val, l.neg, l.cid, l.cbor"


def _stored(row: tuple[Any, ...]) -> StoredLabel:
    return StoredLabel(int(row[0]), row[1], row[2], bool(row[3]), row[4], bytes(row[5]))


class PostgresLabelStore:
    def __init__(self, url: str) -> None:
        try:
            self._conn = psycopg.connect(url, autocommit=True, options="-c search_path=labeler,public")
            with self._conn.transaction():
                self._conn.execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")  # one schema creator
                self._conn.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise LabelStoreError(f"cannot open the label store: {exc}") from exc
        self._lock = threading.Lock()  # one connection, used from the service's worker threads

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, tuple(params)).fetchall())
            except psycopg.Error as exc:
                raise LabelStoreError(f"label store query failed: {exc}") from exc

    def append(
        self,
        labels: list[Label],
        positions: dict[str, str] | None = None,
        overrides: list[Override] | None = None,
    ) -> list[int]:
        seqs: list[int] = []
        with self._lock:
            try:
                with self._conn.transaction():
                    conn = self._conn
                    conn.execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
                    for o in overrides or []:
                        conn.execute(
                            "INSERT INTO label_overrides (uri, val, reason, created_at, made_by) "
                            "VALUES (%s, %s, %s, %s, %s) "
                            "ON CONFLICT (uri, val) DO UPDATE SET reason = excluded.reason, "
                            "created_at = excluded.created_at, made_by = excluded.made_by",
                            (o.uri, o.val, o.reason, o.created_at, o.made_by),
                        )
                    for label in labels:
                        if (
                            not label.neg
                            and conn.execute(
                                "SELECT 1 FROM label_overrides WHERE uri = %s AND val = %s",
                                (label.uri, label.val),
                            ).fetchone()
                        ):
                            continue
                        row = conn.execute(
                            "INSERT INTO labels (src, uri, val, neg, cid, cts, cbor) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                            (
                                label.src,
                                label.uri,
                                label.val,
                                label.neg,
                                label.cid,
                                label.cts,
                                label.to_cbor(),
                            ),
                        ).fetchone()
                        assert row is not None
                        seq = int(row[0])
                        seqs.append(seq)
                        conn.execute(
                            "INSERT INTO label_state (uri, val, seq) VALUES (%s, %s, %s) "
                            "ON CONFLICT (uri, val) DO UPDATE SET seq = excluded.seq",
                            (label.uri, label.val, seq),
                        )
                    for shard, sequence in (positions or {}).items():
                        conn.execute(
                            "INSERT INTO label_positions (shard, sequence) VALUES (%s, %s) "
                            "ON CONFLICT (shard) DO UPDATE SET sequence = excluded.sequence",
                            (shard, sequence),
                        )
            except psycopg.Error as exc:
                raise LabelStoreError(f"cannot store labels: {exc}") from exc
        return seqs

    def head(self) -> int:
        return int(self._rows("SELECT coalesce(max(seq), 0) FROM labels")[0][0])

    def first_seq(self) -> int:
        row = self._rows("SELECT min(seq) FROM labels")[0]
        return int(row[0]) if row[0] is not None else self.head() + 1

    def after(self, seq: int, limit: int) -> list[StoredLabel]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM labels l WHERE l.seq > %s ORDER BY l.seq LIMIT %s", (seq, limit)
        )
        return [_stored(r) for r in rows]

    def active(self, uris: Iterable[str]) -> dict[tuple[str, str], ActiveLabel]:
        wanted = sorted(set(uris))
        if not wanted:
            return {}
        rows = self._rows(
            "SELECT s.uri, s.val, l.seq, l.cid, l.neg FROM label_state s JOIN labels l ON l.seq = s.seq "
            "WHERE s.uri = ANY(%s)",
            (wanted,),
        )
        return {(uri, val): ActiveLabel(int(seq), cid, bool(neg)) for uri, val, seq, cid, neg in rows}

    def overrides(self, uris: Iterable[str]) -> set[tuple[str, str]]:
        wanted = sorted(set(uris))
        if not wanted:
            return set()
        rows = self._rows("SELECT uri, val FROM label_overrides WHERE uri = ANY(%s)", (wanted,))
        return {(uri, val) for uri, val in rows}

    def list_overrides(self) -> list[Override]:
        rows = self._rows(
            "SELECT uri, val, reason, created_at, made_by FROM label_overrides ORDER BY created_at"
        )
        return [Override(*row) for row in rows]

    def query(
        self, patterns: list[str], sources: list[str] | None, after_seq: int, limit: int
    ) -> list[StoredLabel]:
        clauses: list[str] = []
        params: list[Any] = []
        for pattern in patterns:
            if pattern.endswith("*"):
                clauses.append("(s.uri >= %s AND s.uri < %s)")
                params.extend(prefix_bounds(pattern[:-1]))
            else:
                clauses.append("s.uri = %s")
                params.append(pattern)
        where = f"({' OR '.join(clauses)}) AND s.seq > %s"
        params.append(after_seq)
        if sources:
            where += " AND l.src = ANY(%s)"
            params.append(list(sources))
        params.append(min(limit, MAX_PAGE))
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM label_state s JOIN labels l ON l.seq = s.seq "
            f"WHERE {where} ORDER BY s.seq LIMIT %s",
            params,
        )
        return [_stored(r) for r in rows]

    def positions(self) -> dict[str, str]:
        return {
            shard: sequence for shard, sequence in self._rows("SELECT shard, sequence FROM label_positions")
        }

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM label_meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO label_meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        self._conn.close()
