"""The local stream adapter: a durable append-only log in one SQLite file.

Kinesis semantics on a laptop: streams have shards with equal 128-bit hash-key ranges, a
record's shard is chosen from the MD5 of its partition key (the same routing Kinesis and
moto use, so a key lands on the same shard id on both backends), and sequence numbers
increase within a shard. They come from one AUTOINCREMENT counter over the whole file,
which is increasing per shard, never reused after trimming, and safe across processes
because every put is one `BEGIN IMMEDIATE` transaction. They are returned as zero-padded
decimal strings so string order equals numeric order.

Ingest, the event-source-mapping poller and the delivery share the file from different
threads and processes: WAL mode lets readers run beside the single writer, `busy_timeout`
makes writers queue instead of failing, and each thread gets its own connection.
`synchronous=NORMAL` keeps every committed put across a process crash; an OS crash or
power loss may lose the last few commits (the WAL is synced at checkpoints).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from fraud_pipeline.sqlite_files import ThreadLocalSqlite
from fraud_pipeline.streams.base import (
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_BYTES,
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_GET,
    MAX_RECORDS_PER_PUT,
    PutEntry,
    PutResult,
    StreamDescription,
    StreamError,
    StreamNotFound,
    StreamRecord,
)

log = logging.getLogger(__name__)

HASH_KEY_SPACE = 2**128
SEQUENCE_DIGITS = 20  # int64 fits in 19 digits; padded so string order == numeric order

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    name        TEXT PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shards (
    shard_ref          INTEGER PRIMARY KEY,
    stream             TEXT NOT NULL REFERENCES streams(name),
    shard_id           TEXT NOT NULL,
    starting_hash_key  TEXT NOT NULL,
    ending_hash_key    TEXT NOT NULL,
    UNIQUE (stream, shard_id)
);
CREATE TABLE IF NOT EXISTS records (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    shard_ref     INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    data          BLOB NOT NULL,
    arrival_ms    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_shard ON records (shard_ref, seq);
"""


def shard_id_for(index: int) -> str:
    """Kinesis-style shard id: `shardId-000000000000`."""
    return f"shardId-{index:012d}"


def hash_key_ranges(shard_count: int) -> list[tuple[int, int]]:
    """Equal, inclusive 128-bit hash-key ranges, as Kinesis creates them (last one takes the rest)."""
    step = HASH_KEY_SPACE // shard_count
    ranges = [(i * step, (i + 1) * step - 1) for i in range(shard_count - 1)]
    ranges.append(((shard_count - 1) * step, HASH_KEY_SPACE - 1))
    return ranges


def shard_index_for_key(partition_key: str, shard_count: int) -> int:
    """Index of the shard whose hash-key range holds MD5(partition_key)."""
    hashed = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
    return min(hashed // (HASH_KEY_SPACE // shard_count), shard_count - 1)


def format_sequence(seq: int) -> str:
    return f"{seq:0{SEQUENCE_DIGITS}d}"


def parse_sequence(sequence: str) -> int:
    try:
        value = int(sequence)
    except (TypeError, ValueError) as exc:
        raise StreamError(f"not a sequence number of this log: {sequence!r}") from exc
    if value < 0:
        raise StreamError(f"not a sequence number of this log: {sequence!r}")
    return value


def validate_put(entries: list[PutEntry]) -> list[str | None]:
    """Check a put_records call against the Kinesis limits shared by both adapters.

    Raises StreamError for what Kinesis rejects as a whole request (too many entries, too
    many bytes, a bad partition key, data that is not bytes); returns a per-entry error
    message (or None) for records over the 1 MiB record limit, which fail alone.
    """
    if len(entries) > MAX_RECORDS_PER_PUT:
        raise StreamError(f"put_records takes at most {MAX_RECORDS_PER_PUT} entries, got {len(entries)}")
    total = 0
    errors: list[str | None] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry.data, bytes | bytearray | memoryview):
            raise StreamError(f"entry {index}: data must be bytes, got {type(entry.data).__name__}")
        key = entry.partition_key
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
            raise StreamError(
                f"entry {index}: partition key must be 1..{MAX_PARTITION_KEY_CHARS} characters, "
                f"got {key!r:.80}"
            )
        size = len(entry.data) + len(key.encode("utf-8"))
        total += size
        errors.append(
            f"record size {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit (data + partition key)"
            if size > MAX_RECORD_BYTES
            else None
        )
    if total > MAX_PUT_BYTES:
        raise StreamError(f"put_records takes at most {MAX_PUT_BYTES} bytes per call, got {total}")
    return errors


def validate_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_RECORDS_PER_GET:
        raise StreamError(f"read limit must be 1..{MAX_RECORDS_PER_GET}, got {limit}")


class SqliteLogStream:
    """All streams of the local backend, kept in one SQLite file."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._shard_cache: dict[str, dict[str, int]] = {}  # stream -> shard id -> shard_ref
        self._db = ThreadLocalSqlite(self.path, _SCHEMA)
        self._conn = self._db.conn

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        self._db.close()

    # -- streams --------------------------------------------------------------------
    def create_stream(self, name: str, shard_count: int) -> None:
        if not name:
            raise StreamError("stream name must not be empty")
        if shard_count < 1:
            raise StreamError(f"shard_count must be >= 1, got {shard_count}")
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT shard_count FROM streams WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO streams (name, shard_count, created_ms) VALUES (?, ?, ?)",
                    (name, shard_count, int(self._clock() * 1000)),
                )
                conn.executemany(
                    "INSERT INTO shards (stream, shard_id, starting_hash_key, ending_hash_key) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (name, shard_id_for(i), str(start), str(end))
                        for i, (start, end) in enumerate(hash_key_ranges(shard_count))
                    ],
                )
            elif row[0] != shard_count:
                log.warning(
                    "stream %s exists with %d shards; keeping them (asked for %d)", name, row[0], shard_count
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _shards(self, name: str) -> dict[str, int]:
        shards = self._shard_cache.get(name)
        if shards is None:
            rows = (
                self._conn()
                .execute("SELECT shard_id, shard_ref FROM shards WHERE stream = ? ORDER BY shard_id", (name,))
                .fetchall()
            )
            if not rows:
                raise StreamNotFound(f"stream {name!r} does not exist in {self.path} (run provision)")
            shards = dict(rows)
            self._shard_cache[name] = shards
        return shards

    def _shard_ref(self, name: str, shard_id: str) -> int:
        shards = self._shards(name)
        if shard_id not in shards:
            raise StreamError(f"stream {name!r} has no shard {shard_id!r} (shards: {sorted(shards)})")
        return shards[shard_id]

    def describe(self, name: str) -> StreamDescription:
        return StreamDescription(name=name, status="ACTIVE", shard_ids=tuple(sorted(self._shards(name))))

    def list_streams(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT name FROM streams ORDER BY name")]

    # -- writing --------------------------------------------------------------------
    def put_records(self, name: str, entries: list[PutEntry]) -> list[PutResult]:
        errors = validate_put(entries)
        if not entries:
            return []
        shards = self._shards(name)
        shard_ids = sorted(shards)
        refs = [shards[s] for s in shard_ids]
        count = len(shard_ids)
        arrival_ms = int(self._clock() * 1000)
        rows: list[tuple[int, str, bytes, int]] = []
        targets: list[int] = []
        for entry, error in zip(entries, errors, strict=True):
            if error is not None:
                continue
            index = shard_index_for_key(entry.partition_key, count)
            targets.append(index)
            rows.append((refs[index], entry.partition_key, bytes(entry.data), arrival_ms))
        sequences: list[int] = []
        if rows:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                # AUTOINCREMENT inside one IMMEDIATE transaction allocates consecutive rowids
                # after the largest ever used, so the batch's sequences are first..last.
                cursor = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'")
                row = cursor.fetchone()
                first = (row[0] if row else 0) + 1
                conn.executemany(
                    "INSERT INTO records (shard_ref, partition_key, data, arrival_ms) VALUES (?, ?, ?, ?)",
                    rows,
                )
                last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if last - first + 1 != len(rows):  # cannot happen inside one IMMEDIATE transaction
                raise StreamError(f"sequence allocation mismatch: {first}..{last} for {len(rows)} records")
            sequences = list(range(first, last + 1))
        results: list[PutResult] = []
        it = iter(zip(targets, sequences, strict=True))
        for error in errors:
            if error is not None:
                results.append(PutResult(error_code="InvalidArgumentException", error_message=error))
                continue
            index, seq = next(it)
            results.append(PutResult(sequence_number=format_sequence(seq), shard_id=shard_ids[index]))
        return results

    def trim(self, older_than_ms: int, name: str | None = None) -> int:
        """Retention: delete records that arrived more than `older_than_ms` ago; returns how many.

        Like Kinesis retention, readers positioned inside the trimmed range continue at the
        oldest remaining record.
        """
        cutoff = int(self._clock() * 1000) - older_than_ms
        conn = self._conn()
        if name is None:
            cursor = conn.execute("DELETE FROM records WHERE arrival_ms < ?", (cutoff,))
        else:
            refs = list(self._shards(name).values())
            marks = ",".join("?" * len(refs))
            cursor = conn.execute(
                f"DELETE FROM records WHERE arrival_ms < ? AND shard_ref IN ({marks})", (cutoff, *refs)
            )
        return cursor.rowcount

    # -- reading --------------------------------------------------------------------
    def shard_reader(self, name: str, shard_id: str, after_sequence: str | None) -> SqliteShardReader:
        position = parse_sequence(after_sequence) if after_sequence is not None else 0
        return SqliteShardReader(self, shard_id, self._shard_ref(name, shard_id), position, self._clock)

    def latest_sequence(self, name: str, shard_id: str) -> str | None:
        ref = self._shard_ref(name, shard_id)
        row = self._conn().execute("SELECT max(seq) FROM records WHERE shard_ref = ?", (ref,)).fetchone()
        return format_sequence(row[0]) if row and row[0] is not None else None

    def newest_arrival_ms(self, name: str, shard_id: str) -> int | None:
        ref = self._shard_ref(name, shard_id)
        row = (
            self._conn()
            .execute(
                "SELECT arrival_ms FROM records WHERE shard_ref = ? ORDER BY seq DESC LIMIT 1",
                (ref,),
            )
            .fetchone()
        )
        return int(row[0]) if row else None


class SqliteShardReader:
    """Reads one shard of the log forward; its position is the last sequence it returned."""

    def __init__(
        self, log: SqliteLogStream, shard_id: str, shard_ref: int, position: int, clock: Callable[[], float]
    ) -> None:
        self.shard_id = shard_id
        self._log = log
        self._ref = shard_ref
        self._position = position
        self._clock = clock
        self._last_arrival_ms: int | None = None

    @property
    def position(self) -> str | None:
        """The last sequence number returned (or the start position); None at the trim horizon."""
        return format_sequence(self._position) if self._position else None

    def read(self, limit: int = 1000) -> list[StreamRecord]:
        validate_limit(limit)
        rows = (
            self._log._conn()
            .execute(
                "SELECT seq, partition_key, data, arrival_ms FROM records "
                "WHERE shard_ref = ? AND seq > ? ORDER BY seq LIMIT ?",
                (self._ref, self._position, limit),
            )
            .fetchall()
        )
        if not rows:
            return []
        self._position = rows[-1][0]
        self._last_arrival_ms = rows[-1][3]
        shard_id = self.shard_id
        return [
            StreamRecord(shard_id, format_sequence(seq), key, data, arrival)
            for seq, key, data, arrival in rows
        ]

    def lag_records(self) -> int | None:
        row = (
            self._log._conn()
            .execute(
                "SELECT count(*) FROM records WHERE shard_ref = ? AND seq > ?", (self._ref, self._position)
            )
            .fetchone()
        )
        return int(row[0])

    def millis_behind_latest(self) -> int | None:
        """Age of the oldest unread record (0 when caught up), like Kinesis' MillisBehindLatest."""
        row = (
            self._log._conn()
            .execute(
                "SELECT arrival_ms FROM records WHERE shard_ref = ? AND seq > ? ORDER BY seq LIMIT 1",
                (self._ref, self._position),
            )
            .fetchone()
        )
        if row is None:
            return 0
        return max(0, int(self._clock() * 1000) - int(row[0]))
