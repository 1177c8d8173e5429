"""The local state store: checkpoints and counters in one SQLite file.

Several workers (ingest, poller, delivery, Dagster) share the file from different threads
and processes, so: WAL mode, busy_timeout, one connection per thread, and every
read-modify-write inside `BEGIN IMMEDIATE`.

Member sets written with a short time-to-live (at most `LOG_MAX_TTL_S`: the behaviour windows)
are a log: each `add_members` call appends ONE row, the whole batch of sightings as a JSON
value (columns; a member and value written once per run of sightings that share them), and
every process keeps the sets the log describes in memory (`_SetLog`, one per file and
process, shared by its stores and threads), reading only the rows appended since it last
looked. A scoring batch thus writes one row however many sets it touches (a post of a
campaign candidate touches about twenty: fingerprint, sixteen LSH bands, images), and reads
back only what other writers appended; before, each (set, member) was two B-tree inserts (20 µs
per sighting here) and each read a JSON join. Replayed in `seq` order the log gives every reader
the same sets: a member keeps the value of its first sighting (the earliest row holding it),
a set lives until the latest expiry of the rows that wrote it. `purge_expired` (also run by
`add_members` every `LOG_PURGE_EVERY_S`) forgets the expired sets in memory and deletes, inside
the write lock, the rows older than the first row of any live set.

Member sets with a longer time-to-live (first sightings, kept for weeks) are one row per
(set, member), keeping the first value (`INSERT OR IGNORE`), and a row per set with its expiry,
refreshed by every write; reads join the members of live sets. A key is read from the log when
the log has it, from these tables otherwise (a set is written with one time-to-live).

Cache entries are one row each with their expiry; an expired one reads as missing.

Counter TTL is a fixed window, as with DynamoDB TTL: `expires_at` (epoch seconds) is set
when a counter starts (or restarts after expiring) and later increments keep it; an
expired counter reads as 0 and the next increment starts it again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import compress, repeat
from operator import itemgetter, ne, sub
from pathlib import Path
from typing import Any, Final, cast

import orjson

from fraud_pipeline.compiled_build import runs_compiled
from fraud_pipeline.sqlite_files import ThreadLocalSqlite
from fraud_pipeline.state import StateError
from fraud_pipeline.state.base import MAX_CACHE_VALUE_CHARS, MAX_MEMBER_CHARS, SightingRow, SightingRuns

MAX_KEY_CHARS = 1024
MIRROR_MAX_SETS = 500_000  # the in-memory mirror of member sets is emptied beyond this
LOG_MAX_TTL_S = 6 * 3600  # member sets written with at most this time-to-live live in the set log
LOG_PURGE_EVERY_S = 300  # add_members purges the set log's dead rows this often (store clock)

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
CREATE TABLE IF NOT EXISTS member_sets (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS set_members (
    key    TEXT NOT NULL,
    member TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (key, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS set_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    expires_at INTEGER NOT NULL,
    sightings  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cache (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""


def check_key(key: object) -> str:
    """Keys are non-empty strings of bounded length (DynamoDB's key limit is 2048 bytes). Takes
    any object: compiled, a parameter typed `str` would reject a bad key with mypyc's `TypeError`
    before the check could name it."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise StateError(f"state key must be a string of 1..{MAX_KEY_CHARS} characters, got {key!r:.80}")
    return key


def check_sightings(sightings: Sequence[SightingRow]) -> None:
    """Every set key is a valid key, every member a non-empty bounded string, every value a string.
    Compiled, one loop over the rows (`_rows_fit`); interpreted, or when a row fails, as
    `sighting_columns` checks them (which names the error)."""
    if INTERPRETED or not _rows_fit(sightings):
        sighting_columns(sightings)


def _rows_fit(rows: Sequence[object]) -> bool:
    """Every row a (key, member, value) tuple of strings within `check_sightings`' bounds: a
    type test and a length read per field once compiled (the transposing `zip` and the C
    builtins of `sighting_columns` cost about 2,500 instructions a row compiled)."""
    for row in rows:
        if not isinstance(row, tuple) or len(row) != 3:
            return False
        key, member, value = row
        if type(key) is not str or type(member) is not str or type(value) is not str:
            return False
        if not (0 < len(key) <= MAX_KEY_CHARS and 0 < len(member) <= MAX_MEMBER_CHARS):
            return False
        if len(value) > MAX_MEMBER_CHARS:
            return False
    return True


def sighting_columns(
    sightings: Sequence[SightingRow],
) -> tuple[Sequence[str], Sequence[str], Sequence[str]]:
    """The sightings as three columns (keys, members, values), checked as `check_sightings` says.

    A batch holds thousands: it is transposed once (the set log stores columns) and the common
    case is checked column by column in C (types, then emptiness and the longest), and only a
    batch that fails that is walked in Python for the error."""
    if not sightings:
        return (), (), ()
    if INTERPRETED:
        try:
            keys, members, values = zip(*sightings, strict=True)
        except (TypeError, ValueError):
            keys = members = values = ()
        if (
            keys
            and {*map(type, keys), *map(type, members), *map(type, values)} == {str}
            and all(keys)
            and all(members)
            and max(map(len, keys)) <= MAX_KEY_CHARS
            and max(map(len, members)) <= MAX_MEMBER_CHARS
            and max(map(len, values)) <= MAX_MEMBER_CHARS
        ):
            return keys, members, values
    elif _rows_fit(sightings):  # compiled: one loop (and the C builtins above fail on a bad row)
        return tuple(zip(*sightings, strict=True))  # type: ignore[return-value]
    # Objects, not `SightingRow`s: compiled, a bad row would be mypyc's `TypeError` at the cast.
    rows: Sequence[object] = sightings
    for sighting in rows:
        try:
            key, member, value = cast(Any, sighting)
        except (TypeError, ValueError):
            raise StateError(f"a sighting is a (key, member, value) tuple, got {sighting!r:.80}") from None
        if (  # one test per sighting on the common path; the precise error below
            type(key) is str
            and type(member) is str
            and type(value) is str
            and 0 < len(key) <= MAX_KEY_CHARS
            and 0 < len(member) <= MAX_MEMBER_CHARS
            and len(value) <= MAX_MEMBER_CHARS
        ):
            continue
        check_key(key)
        if not isinstance(member, str) or not member or len(member) > MAX_MEMBER_CHARS:
            raise StateError(
                f"set member must be a string of 1..{MAX_MEMBER_CHARS} characters, got {member!r:.80}"
            )
        if not isinstance(value, str) or len(value) > MAX_MEMBER_CHARS:
            raise StateError(f"set member value must be a string of at most {MAX_MEMBER_CHARS} characters")
    return tuple(zip(*sightings, strict=True))  # type: ignore[return-value]


def _strings_fault(column: list[object], least: int, most: int) -> int:
    """0 when every item is a `str` of `least`..`most` characters, 1 when one is not a `str`, 2
    when all are but one's length is out of bounds (so a column's errors rank as `run_columns`'
    interpreted form ranks them). One loop, which mypyc compiles to a type test and a length
    read per item (`run_columns` of the bench's batches: 0.3 k instructions per post compiled,
    against 3.1 k for the C builtins the interpreted form uses)."""
    fault = 0
    for item in column:
        if type(item) is not str:
            return 1
        length = len(cast(str, item))
        if length < least or length > most:
            fault = 2
    return fault


def _run_total(runs: list[object]) -> int:
    """The keys the runs cover, or -1 when a run is not a positive `int` (a `bool` is not)."""
    total = 0
    for run in runs:
        if type(run) is not int:
            return -1
        count = cast(int, run)
        if count < 1:
            return -1
        total += count
    return total


# This module runs interpreted (its `.py`) or compiled by mypyc (the production build; its
# functions then have no `__code__`): a few checks take the form that is cheaper in each (a loop
# compiles to a few C instructions an item; interpreted, C builtins over a column win).
INTERPRETED: Final = not runs_compiled(_run_total)


def run_columns(batch: SightingRuns) -> tuple[list[str], list[str], list[str], list[int]]:
    """A `SightingRuns` batch's columns, checked as `check_sightings` checks rows, and its runs
    (positive, covering every key once): a malformed batch is a `StateError` naming the problem.
    Column by column, one compiled loop each (`_strings_fault`): no transposing, no runs to
    find (`_runs`)."""
    # Read untyped: compiled, reading a `list[str]` attribute checks it is a list (mypyc's
    # `TypeError`) before the test below could name the problem.
    raw: Any = batch
    keys: object = raw.keys
    members: object = raw.members
    values: object = raw.values
    runs: object = raw.runs
    if not (type(keys) is list and type(members) is list and type(values) is list and type(runs) is list):
        raise StateError("sighting runs are four lists (keys, members, values, runs)")
    if len(members) != len(runs) or len(values) != len(runs):
        raise StateError("sighting runs need one member and one value per run")
    if not keys:
        if runs:
            raise StateError("sighting runs without keys have no runs")
        return keys, members, values, runs
    if INTERPRETED:  # C builtins over each column: cheaper than a loop in the interpreter
        try:  # every one a string: joined in C, where a type test per value is a call each
            "".join(keys), "".join(members), "".join(values)
            strings = True
        except TypeError:
            strings = False
        keys_fit = strings and all(keys) and max(map(len, keys)) <= MAX_KEY_CHARS
        members_fit = strings and all(members) and max(map(len, members)) <= MAX_MEMBER_CHARS
        values_fit = strings and max(map(len, values)) <= MAX_MEMBER_CHARS
        total = sum(runs) if {*map(type, runs)} == {int} and min(runs) >= 1 else -1
    else:  # compiled: a loop is a few C instructions per item, a builtin a generic call each
        faults = (
            _strings_fault(keys, 1, MAX_KEY_CHARS),
            _strings_fault(members, 1, MAX_MEMBER_CHARS),
            _strings_fault(values, 0, MAX_MEMBER_CHARS),
        )
        strings = 1 not in faults
        keys_fit, members_fit, values_fit = faults[0] == 0, faults[1] == 0, faults[2] == 0
        total = _run_total(runs)
    if not strings:
        raise StateError("set keys, members and values are strings")
    if not keys_fit:
        raise StateError(f"state key must be a string of 1..{MAX_KEY_CHARS} characters")
    if not members_fit:
        raise StateError(f"set member must be a string of 1..{MAX_MEMBER_CHARS} characters")
    if not values_fit:
        raise StateError(f"set member value must be a string of at most {MAX_MEMBER_CHARS} characters")
    if total != len(keys):
        raise StateError("sighting runs are positive counts of keys that add up to the keys")
    return keys, members, values, runs


def sighting_rows(sightings: Sequence[SightingRow] | SightingRuns) -> Sequence[SightingRow]:
    """The sightings one by one, however they were handed over (for stores that write rows);
    runs are checked first (`run_columns`)."""
    if isinstance(sightings, SightingRuns):
        run_columns(sightings)
        return list(sightings)
    return sightings


def check_cache_values(values: Mapping[str, str]) -> None:
    """Cache keys are valid keys, values strings of bounded length."""
    for key, value in values.items():
        check_key(key)
        if not isinstance(value, str) or len(value) > MAX_CACHE_VALUE_CHARS:
            raise StateError(f"cache value must be a string of at most {MAX_CACHE_VALUE_CHARS} characters")


class _SetMirror:
    """Member sets as the file holds them, for one connection: key -> (members, expires_at),
    or None for a set the file does not have; and which of a batch's key kinds have sets in
    the tables (`_kinds_in_tables`). Valid while the connection's `data_version` is the one it
    was filled under (no other connection committed since); the store's own writes to the
    tables update both."""

    __slots__ = ("conn", "kinds", "sets", "version")

    def __init__(self) -> None:
        self.conn: sqlite3.Connection | None = None
        self.version: int | None = None
        self.sets: dict[str, tuple[dict[str, str], int] | None] = {}
        self.kinds: dict[frozenset[str], frozenset[str]] = {}  # kinds asked -> those in the tables

    def validate(self, conn: sqlite3.Connection) -> None:
        """Empty the mirror unless `conn` is its connection and nobody else wrote since."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if conn is not self.conn or version != self.version or len(self.sets) > MIRROR_MAX_SETS:
            self.forget()
            self.conn = conn
            self.version = version

    def forget(self) -> None:
        self.sets.clear()
        self.kinds.clear()


class _SetLog:
    """The member sets the file's `set_log` describes, as of row `cursor`: each set's members and
    expiry (the latest of the rows that wrote it), and which rows created sets (`created`). One
    per file and process (`_set_log`), shared by every store and thread on the file; `lock`
    serializes them.

    Flat dicts of strings and integers, not an object per set: the garbage collector does not
    track them (a list per set made every collection walk the whole index, 4x the cost). The
    dicts hold the sets in the order they were created (rows are applied in order, and only
    `forget_dead` removes sets), so each row's first sightings are one stretch of that order and
    `created` says, per row that created sets, how many: a set's first row is known without a
    third dict (`first_seq`, an insert and an int object per new set until session 11)."""

    __slots__ = ("created", "cursor", "expires", "lock", "members")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cursor = 0
        self.members: dict[str, dict[str, str]] = {}
        self.expires: dict[str, int] = {}
        self.created: list[tuple[int, int]] = []  # (row, sets it created), in row order

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Apply the rows appended since `cursor` (by anyone), in order. Caller holds `lock`."""
        rows = conn.execute(
            "SELECT seq, expires_at, sightings FROM set_log WHERE seq > ? ORDER BY seq", (self.cursor,)
        ).fetchall()
        for seq, expires_at, blob in rows:
            self.apply(seq, expires_at, *orjson.loads(blob))

    def apply(
        self,
        seq: int,
        expires_at: int,
        keys: list[str],
        members: list[str],
        values: list[str],
        runs: list[int] | None = None,
    ) -> None:
        """Apply one row: its sightings as columns, `members` and `values` one per run of
        `runs[j]` consecutive keys (`_runs`), or one per key in rows without `runs`."""
        if runs is None:
            runs = [1] * len(keys)
        if len(members) != len(runs) or len(values) != len(runs) or sum(runs) != len(keys):
            raise StateError(f"set log row {seq} is malformed")
        sets, expires = self.members, self.expires
        # The row's expiry as one int object for every store (compiled, an `int` is unboxed and
        # each store into a dict would make an int object of its own).
        expiry: object = expires_at
        stored = cast("dict[str, object]", expires)
        created = 0
        start = 0
        try:
            for member, value, run in zip(members, values, runs, strict=True):
                end = start + run
                for key in keys[start:end]:
                    found = sets.get(key)
                    if found is None:
                        sets[key] = {member: value}
                        stored[key] = expiry
                        created += 1
                        continue
                    if member not in found:
                        found[member] = value
                    if expires_at > expires[key]:
                        stored[key] = expiry
                start = end
        finally:  # what was created is counted even if a foreign row fails halfway
            if created:
                self.created.append((seq, created))
        self.cursor = seq

    def forget_dead(self, now: int) -> int:
        """Forget the sets expired at `now`; returns the first row a live set was written in
        (rows before it hold no live set), or the next row if none lives. Walks the sets in
        creation order beside `created`, which keeps only the live sets' counts."""
        expires = self.expires
        dead: list[str] = []
        kept: list[tuple[int, int]] = []
        in_order = iter(expires.items())
        for seq, count in self.created:
            live = 0
            for _ in range(count):
                key, expires_at = next(in_order)
                if expires_at <= now:
                    dead.append(key)
                else:
                    live += 1
            if live:
                kept.append((seq, live))
        for key in dead:
            del self.members[key], expires[key]
        self.created = kept
        return kept[0][0] if kept else self.cursor + 1


def _live_copies(log: _SetLog, keys: Collection[str], now: int) -> dict[str, dict[str, str]]:
    """A copy of each live set of the log among `keys`: compiled, a loop of one look-up per key
    (two for a set found) is cheaper than the key view's intersection in C and the look-ups
    after it (`get_members`' interpreted path)."""
    sets, expires = log.members, log.expires
    out: dict[str, dict[str, str]] = {}
    asked: Collection[object] = keys  # objects: a key that is not a `str` is not found, as interpreted
    for key in asked:
        if type(key) is not str:
            continue
        found = sets.get(key)
        if found is not None and expires[key] > now:
            out[key] = dict(found)
    return out


def _runs(
    keys: Sequence[str], members: Sequence[str], values: Sequence[str]
) -> tuple[list[str], list[str], list[str], list[int]]:
    """Sightings' columns as one set-log row: every key, then one member and value per run
    of consecutive sightings that share them, and each run's length. The behaviour tracker
    writes a near-duplicate post's sixteen band sets in a row with one member and value (its
    account and sighting with signature): the row is a third of the plain columns' size, and
    SQLite writes and every reader parses that much less. Found in C (`map`, `compress`)."""
    n = len(keys)
    pairs = list(zip(members, values, strict=True))
    starts = [0, *compress(range(1, n), map(ne, pairs[1:], pairs))]
    runs = list(map(sub, [*starts[1:], n], starts))
    return list(keys), list(map(members.__getitem__, starts)), list(map(values.__getitem__, starts)), runs


_SET_LOGS: dict[tuple[str, str], _SetLog] = {}
_SET_LOGS_LOCK = threading.Lock()


def _set_log(path: Path, log_id: str) -> _SetLog:
    """The process's set log of one file (its identity: path and the id stored in it, so a file
    deleted and created again at the same path gets a fresh one)."""
    with _SET_LOGS_LOCK:
        return _SET_LOGS.setdefault((str(path.resolve()), log_id), _SetLog())


def count_in_window(
    sets: Mapping[str, Mapping[str, str]], groups: Mapping[str, tuple[Collection[str], str]]
) -> dict[str, int]:
    """`count_members` from sets already read: distinct members per group at or above its bound."""
    out: dict[str, int] = {}
    for name, (keys, since) in groups.items():
        members = {m for key in keys for m, value in sets.get(key, {}).items() if value >= since}
        if members:
            out[name] = len(members)
    return out


class SqliteStateStore:
    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = ThreadLocalSqlite(self.path, _SCHEMA)
        self._conn = self._db.conn
        self._mirror = _SetMirror()
        self._mirror_lock = threading.Lock()
        conn = self._conn()
        conn.execute(
            "INSERT OR IGNORE INTO state_meta (key, value) VALUES ('set_log_id', ?)", (uuid.uuid4().hex,)
        )
        log_id = conn.execute("SELECT value FROM state_meta WHERE key = 'set_log_id'").fetchone()[0]
        self._log = _set_log(self.path, str(log_id))
        self._next_purge = self._clock() + LOG_PURGE_EVERY_S

    def get_checkpoint(self, key: str) -> str | None:
        row = (
            self._conn().execute("SELECT value FROM checkpoints WHERE key = ?", (check_key(key),)).fetchone()
        )
        return str(row[0]) if row else None

    def get_checkpoints(self, keys: Collection[str]) -> dict[str, str]:
        """One query for all the keys. The keys are the outer loop (`json_each ... CROSS JOIN`),
        each a primary-key look-up: `key IN (SELECT value FROM json_each(?))` first built the
        keys into a temporary B-tree and then probed the table, a third more work (the same
        form in `_get_from_tables` and `get_cached`)."""
        wanted = list(keys)
        asked = cast("list[object]", wanted)  # objects: compiled, a `str` item is checked on reading
        if INTERPRETED or _strings_fault(asked, 1, MAX_KEY_CHARS):
            wanted = [check_key(k) for k in asked]  # compiled, only to name a bad key
        if not wanted:
            return {}
        rows = (
            self._conn()
            .execute(
                "SELECT c.key, c.value FROM json_each(?) j CROSS JOIN checkpoints c ON c.key = j.value",
                (orjson.dumps(wanted).decode(),),
            )
            .fetchall()
        )
        return {str(k): str(v) for k, v in rows}

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

    def add_members(self, sightings: Sequence[SightingRow] | SightingRuns, ttl_s: int) -> None:
        """Short-lived sets: one row appended to the set log (`SightingRuns` are that row
        already). Others: one transaction, each set's expiry pushed on, members added (first
        value kept). Either way a set written again after it expired but before
        `purge_expired` keeps its old members, as on DynamoDB (behaviour keys carry their time
        bucket, so only replays of old times do that)."""
        if isinstance(sightings, SightingRuns):
            columns = run_columns(sightings)
            if not columns[0]:
                return
            if ttl_s <= LOG_MAX_TTL_S:
                self._append_to_log(columns, ttl_s)
            else:
                self._add_to_tables(list(sightings), ttl_s)
            return
        if ttl_s <= LOG_MAX_TTL_S:
            checked = sighting_columns(sightings)
            if sightings:
                self._append_to_log(_runs(*checked), ttl_s)
            return
        check_sightings(sightings)
        if sightings:
            self._add_to_tables(sightings, ttl_s)

    def _append_to_log(self, columns: tuple[list[str], list[str], list[str], list[int]], ttl_s: int) -> None:
        now = self._clock()
        expires = int(now) + ttl_s
        blob = orjson.dumps(columns)
        conn = self._conn()
        log = self._log
        with log.lock:  # no other thread of this process applies our row meanwhile
            cursor = conn.execute(
                "INSERT INTO set_log (expires_at, sightings) VALUES (?, ?)", (expires, blob)
            )
            seq = int(cursor.lastrowid or 0)
            if seq == log.cursor + 1:  # nobody appended since we last looked: apply our own row
                log.apply(seq, expires, *columns)
            else:
                log.catch_up(conn)
        if now >= self._next_purge:
            self._next_purge = now + LOG_PURGE_EVERY_S
            self._purge_log(int(now))

    def _add_to_tables(self, sightings: Sequence[SightingRow], ttl_s: int) -> None:
        expires = int(self._clock()) + ttl_s
        rows: list[tuple[str, str, str]] = list(sightings)  # Sighting is a (key, member, value) tuple
        keys = dict.fromkeys([row[0] for row in rows])
        conn = self._conn()
        with self._mirror_lock:
            mirror = self._mirror
            conn.execute("BEGIN IMMEDIATE")
            try:
                mirror.validate(conn)  # under the write lock: nobody else can commit until we do
                known = mirror.sets
                if known:  # members the file already has need no insert
                    rows = [row for row in rows if (e := known.get(row[0])) is None or row[1] not in e[0]]
                # One statement per table, the rows as JSON (`json_each`): no binding, stepping
                # and resetting of a statement per row from Python.
                conn.execute(
                    "INSERT INTO member_sets (key, expires_at) SELECT value, ? FROM json_each(?) WHERE true "
                    "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at",
                    (expires, orjson.dumps(list(keys)).decode()),
                )
                if rows:
                    conn.execute(
                        "INSERT OR IGNORE INTO set_members (key, member, value) "
                        "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)",
                        (orjson.dumps(rows, default=tuple).decode(),),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                mirror.forget()
                raise
            if mirror.kinds:  # the kinds just written live in the tables from now on
                written = frozenset(key.partition(":")[0] for key in keys)
                mirror.kinds = {asked: held | (asked & written) for asked, held in mirror.kinds.items()}
            if known:  # the same change in the mirror, for the sets it holds
                for key, member, value in rows:
                    if key in known:
                        entry = known[key]
                        if entry is None:
                            known[key] = ({member: value}, expires)
                        else:
                            entry[0].setdefault(member, value)
                for key in keys:
                    entry = known.get(key)
                    if entry is not None:
                        known[key] = (entry[0], expires)

    def get_members(self, keys: Collection[str], ttl_s: int | None = None) -> dict[str, dict[str, str]]:
        """Sets the log has, from memory (after reading the rows appended since); the others from
        the tables (or their mirror). With `ttl_s`, only where sets of that time-to-live are
        written: the log (a behaviour batch's keys the log lacks, about a thousand, are then not
        sorted by kind and probed in the tables: the accounts' records share the `acct` kind with
        the tracker's keys, so each such key was looked up there) or the tables."""
        if not keys:
            return {}
        now = int(self._clock())
        conn = self._conn()
        if ttl_s is not None and ttl_s > LOG_MAX_TTL_S:
            return self._get_from_tables(keys, now, conn)
        log = self._log
        if ttl_s is not None and not INTERPRETED:  # compiled: one loop over the keys
            with log.lock:
                log.catch_up(conn)
                return _live_copies(log, keys, now)
        wanted = keys if isinstance(keys, set | frozenset) else set(keys)
        with log.lock:
            log.catch_up(conn)
            sets, expires = log.members, log.expires
            in_log = sets.keys() & wanted  # in C: the Python loop below walks only found sets
            out = {key: dict(sets[key]) for key in in_log if expires[key] > now}
        if ttl_s is not None:
            return out
        missing: Collection[object] = wanted - in_log if len(in_log) < len(wanted) else ()
        elsewhere = [key for key in missing if type(key) is str]  # another type is not found
        if elsewhere:
            elsewhere = self._kinds_in_tables(elsewhere, conn)
        if elsewhere:
            out.update(self._get_from_tables(elsewhere, now, conn))
        return out

    def _kinds_in_tables(self, keys: list[str], conn: sqlite3.Connection) -> list[str]:
        """The keys whose kind (the text before the first ':', or the whole key) has a set in
        the tables.

        Most keys a scoring batch asks for and the log lacks are sets nobody wrote (the bucket
        before, near-duplicate bands of a new text), and their kinds never live in the tables
        (behaviour sets are short-lived): one range probe per distinct kind, in one statement,
        spares looking each key up, and remembering its absence, which another connection's
        commit forgets (every batch, when each shard has its own store). The kinds are found
        in C (`map`), and the probe's answer is kept in the mirror
        until another connection writes the file (a batch's kinds are mostly the last batch's;
        the store's own writes add their kinds to it)."""
        kinds = frozenset(map(itemgetter(0), map(str.partition, keys, repeat(":"))))
        with self._mirror_lock:
            mirror = self._mirror
            mirror.validate(conn)
            present = mirror.kinds.get(kinds)
            if present is None:
                present = mirror.kinds[kinds] = frozenset(
                    str(row[0])
                    for row in conn.execute(
                        "SELECT k.value FROM json_each(?) k WHERE EXISTS (SELECT 1 FROM member_sets "
                        "WHERE key = k.value OR (key >= k.value || ':' AND key < k.value || ';'))",
                        (orjson.dumps(list(kinds)).decode(),),
                    )
                )
        if len(present) == len(kinds):
            return keys
        if not present:  # a scoring batch's behaviour keys: none
            return []
        return [key for key in keys if key.partition(":")[0] in present]

    def _get_from_tables(
        self, keys: Collection[str], now: int, conn: sqlite3.Connection
    ) -> dict[str, dict[str, str]]:
        # A key that is not a `str` is not found (read as objects: compiled, a loop over `str`
        # keys would be mypyc's `TypeError`).
        keys = [key for key in cast("Collection[object]", keys) if type(key) is str]
        out: dict[str, dict[str, str]] = {}
        with self._mirror_lock:
            mirror = self._mirror
            mirror.validate(conn)
            known = mirror.sets
            unknown = [key for key in dict.fromkeys(keys) if key not in known]
            if unknown:
                # Expired sets too (and their expiry): the mirror must hold what the file holds.
                rows = conn.execute(
                    "SELECT s.key, s.expires_at, m.member, m.value FROM json_each(?) j "
                    "CROSS JOIN member_sets s ON s.key = j.value JOIN set_members m ON m.key = s.key",
                    (orjson.dumps(unknown).decode(),),
                ).fetchall()
                for key in unknown:
                    known[key] = None
                for key, expires_at, member, value in rows:
                    entry = known[key]
                    if entry is None:
                        entry = known[key] = ({}, expires_at)
                    entry[0][member] = value
            for key in keys:
                entry = known.get(key)
                if entry is not None and entry[1] > now and entry[0]:
                    out[key] = dict(entry[0])
        return out

    def get_cached(self, keys: Collection[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = (
            self._conn()
            .execute(
                "SELECT c.key, c.value FROM json_each(?) j CROSS JOIN cache c ON c.key = j.value "
                "WHERE c.expires_at > ?",
                (orjson.dumps(list(keys)).decode(), int(self._clock())),
            )
            .fetchall()
        )
        return {str(key): str(value) for key, value in rows}

    def put_cached(self, values: Mapping[str, str], ttl_s: int) -> None:
        check_cache_values(values)
        if not values:
            return
        expires = int(self._clock()) + ttl_s
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value, expires_at = excluded.expires_at",
                [(key, value, expires) for key, value in values.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count_members(self, groups: Mapping[str, tuple[Collection[str], str]]) -> dict[str, int]:
        """Sets in the log are counted in memory; otherwise one query: the groups as JSON rows
        (group, set key, bound), joined to the live sets' members and counted in SQLite; no
        member row leaves the database."""
        rows = [
            [name, check_key(key), since]
            for name, (keys, since) in groups.items()
            for key in cast("Collection[object]", keys)  # objects: check_key names a bad one
        ]
        if not rows:
            return {}
        log = self._log
        with log.lock:
            log.catch_up(self._conn())
            in_log = any(row[1] in log.members for row in rows)
        if in_log:  # counted from memory, the log's sets and the tables' read alike
            return count_in_window(self.get_members({row[1] for row in rows}), groups)
        found = (
            self._conn()
            .execute(
                "SELECT q.value ->> 0, count(DISTINCT m.member) FROM json_each(?) q "
                "JOIN member_sets s ON s.key = q.value ->> 1 AND s.expires_at > ? "
                "JOIN set_members m ON m.key = s.key AND m.value >= q.value ->> 2 "
                "GROUP BY 1",
                (orjson.dumps(rows).decode(), int(self._clock())),
            )
            .fetchall()
        )
        return {str(name): int(count) for name, count in found}

    def purge_expired(self) -> int:
        """Delete expired counters, member sets (and the set log's dead rows) and cache entries
        (DynamoDB's TTL sweeper does this on AWS); returns how many."""
        now = int(self._clock())
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "DELETE FROM counters WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
            removed = cursor.rowcount
            conn.execute(
                "DELETE FROM set_members WHERE key IN (SELECT key FROM member_sets WHERE expires_at <= ?)",
                (now,),
            )
            removed += conn.execute("DELETE FROM member_sets WHERE expires_at <= ?", (now,)).rowcount
            removed += conn.execute("DELETE FROM cache WHERE expires_at <= ?", (now,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            with self._mirror_lock:
                self._mirror.forget()
        return removed + self._purge_log(now)

    def _purge_log(self, now: int) -> int:
        """Forget the sets expired at `now` and delete the rows written before the first row of
        any live set. Inside the write lock (nobody can append meanwhile) and after reading every
        row, so a fresh reader still sees every member of every live set. The log's lock is
        taken before the file's, as `add_members` does. (A set that lives for hours keeps the
        rows after its first one: they are deleted once it expires.)"""
        conn = self._conn()
        log = self._log
        with log.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                log.catch_up(conn)
                keep_from = log.forget_dead(now)
                removed = conn.execute("DELETE FROM set_log WHERE seq < ?", (keep_from,)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(removed)

    def close(self) -> None:
        self._db.close()
