"""The SQLite store's session-11 fast paths held to what they replaced.

`fraud_pipeline/state/sqlite.py` is compiled by mypyc in the production build, and a few of its
checks and look-ups take a form that is cheaper compiled (`INTERPRETED` is False there): the
tests run both forms here (interpreted, with the flag switched) on random and malformed input and
ask for the same answers and the same errors. The set log's count of the sets each row created
(`_SetLog.created`, which replaced a dict of each set's first row) is held to that dict's answer,
and the tables' writes from JSON (`json_each`) to the rows the old per-row statements wrote."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.state import StateError
from fraud_pipeline.state import sqlite as state_sqlite
from fraud_pipeline.state.base import MAX_MEMBER_CHARS, Sighting, SightingRuns
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import (
    MAX_KEY_CHARS,
    SqliteStateStore,
    _rows_fit,
    _SetLog,
    check_sightings,
    run_columns,
    sighting_columns,
)


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=[True, False], ids=["interpreted-form", "compiled-form"])
def form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Each test once with the checks' interpreted form and once with the compiled one."""
    monkeypatch.setattr(state_sqlite, "INTERPRETED", request.param)
    yield request.param


def _error(call: object, *args: object) -> str | None:
    try:
        call(*args)  # type: ignore[operator]
    except StateError as exc:
        return str(exc)
    return None


_MALFORMED_RUNS = [
    (["k1", "k2"], ["m"], ["v"], [1]),
    (["k1", "k2"], ["m", "n"], ["v"], [1, 1]),
    (["k1"], ["m"], ["v"], [0]),
    (["k1"], ["m"], ["v"], [-1]),
    (["k1", "k2"], ["m", "n"], ["v", "w"], [2, 0]),
    (["k1"], ["m"], ["v"], [True]),
    (["k1"], ["m"], ["v"], [1.0]),
    (["k1", ""], ["m"], ["v"], [2]),
    (["k1", 7], ["m"], ["v"], [2]),
    (["k1", b"k2"], ["m"], ["v"], [2]),
    (["k1"], [""], ["v"], [1]),
    (["k1"], [None], ["v"], [1]),
    (["k1"], ["m"], [None], [1]),
    (["k1"], ["m"], [b"v"], [1]),
    (["k1", "x" * (MAX_KEY_CHARS + 1)], ["m"], ["v"], [2]),
    (["k1"], ["x" * (MAX_MEMBER_CHARS + 1)], ["v"], [1]),
    (["k1"], ["m"], ["x" * (MAX_MEMBER_CHARS + 1)], [1]),
    ([], [], [], [1]),
    ([], ["m"], ["v"], [1]),
    (("k1",), ["m"], ["v"], [1]),
    (["k1"], ("m",), ["v"], [1]),
    (["k1"], ["m"], ["v"], (1,)),
]


@pytest.mark.parametrize("columns", _MALFORMED_RUNS)
def test_run_columns_reject_the_same_batches_in_both_forms(
    columns: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = []
    for interpreted in (True, False):
        monkeypatch.setattr(state_sqlite, "INTERPRETED", interpreted)
        errors.append(_error(run_columns, SightingRuns(*columns)))
    assert errors[0] is not None and errors[0] == errors[1]


def _random_runs(rng: random.Random) -> SightingRuns:
    runs = [rng.choice([1, 1, 1, 2, 16]) for _ in range(rng.randint(0, 40))]
    keys = [rng.choice(["k", "acct:d#1", "x" * rng.randint(1, MAX_KEY_CHARS)]) for _ in range(sum(runs))]
    members = [rng.choice(["m", "did:plc:1", "y" * rng.randint(1, MAX_MEMBER_CHARS)]) for _ in runs]
    values = [rng.choice(["", "1|2", "z" * rng.randint(0, MAX_MEMBER_CHARS)]) for _ in runs]
    return SightingRuns(keys, members, values, runs)


def test_run_columns_accept_good_batches_in_both_forms(form: bool) -> None:
    rng = random.Random(11)
    for _ in range(300):
        batch = _random_runs(rng)
        assert run_columns(batch) == (batch.keys, batch.members, batch.values, batch.runs)


_BAD_ROWS: list[object] = [
    ("fp:x", 7, "1"),
    ("fp:x", "did:plc:x", None),
    ("fp:x", "did:plc:x"),
    ("fp:x", "did:plc:x", "1", "2"),
    ("x" * (MAX_KEY_CHARS + 1), "d", "1"),
    ("", "d", "1"),
    ("fp:x", "", "1"),
    ("fp:x", "d", "x" * (MAX_MEMBER_CHARS + 1)),
    ("fp:x", "d" * (MAX_MEMBER_CHARS + 1), "1"),
    (b"fp:x", "d", "1"),
    "abcd",
    None,
]


@pytest.mark.parametrize("bad", _BAD_ROWS)
def test_rows_are_rejected_alike_in_both_forms(bad: object, monkeypatch: pytest.MonkeyPatch) -> None:
    good = [(f"fp:{i}", f"did:plc:{i}", str(i)) for i in range(50)]
    rows = [*good[:20], bad, *good[20:]]
    assert not _rows_fit(rows)
    errors = []
    for interpreted in (True, False):
        monkeypatch.setattr(state_sqlite, "INTERPRETED", interpreted)
        errors.append(_error(check_sightings, rows))
    assert errors[0] is not None and errors[0] == errors[1]


def test_rows_fit_exactly_when_sighting_columns_accept_them() -> None:
    """`_rows_fit` (the compiled form's test) never accepts what `sighting_columns` rejects; it
    may send good rows of other shapes (lists) to it, which then accepts them."""
    rng = random.Random(12)
    pieces: list[object] = ["k", "did:plc:1", "", 3, None, b"k", "x" * (MAX_KEY_CHARS + 1), "y" * 600]
    for _ in range(2000):
        row: object = tuple(rng.choice(pieces) for _ in range(rng.choice([2, 3, 3, 3, 4])))
        if rng.random() < 0.1:
            row = list(row)  # type: ignore[call-overload]
        if rng.random() < 0.1:
            row = Sighting("fp:a", "m", "v")
        rows = [("fp:a", "m", "v"), row]
        accepted = _error(sighting_columns, rows) is None
        if _rows_fit(rows):
            assert accepted
        elif isinstance(row, tuple):
            assert not accepted


def test_get_members_reads_the_log_alike_in_both_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled form's loop over the keys (`_live_copies`) against the key view's
    intersection: the same sets, live ones only, each a copy (mutating it changes nothing)."""
    rng = random.Random(13)
    clock = FakeClock()
    store = SqliteStateStore(tmp_path / "s.db", clock=clock)
    for step in range(40):
        batch = [
            (f"k{rng.randint(0, 60)}", f"m{rng.randint(0, 9)}", str(step)) for _ in range(rng.randint(1, 30))
        ]
        store.add_members(batch, ttl_s=rng.choice([30, 60, 600]))
        clock.now += rng.choice([0, 5, 20])
        wanted: object = {f"k{i}" for i in range(0, 70, rng.randint(1, 3))}
        if rng.random() < 0.5:
            wanted = [*wanted, "k1", "k1"]  # a list, duplicates and all
        got = []
        for interpreted in (True, False):
            monkeypatch.setattr(state_sqlite, "INTERPRETED", interpreted)
            got.append(store.get_members(wanted, ttl_s=600))  # type: ignore[arg-type]
        assert got[0] == got[1]
        for found in got[1].values():
            found["intruder"] = "x"
        monkeypatch.setattr(state_sqlite, "INTERPRETED", True)
        assert store.get_members(wanted, ttl_s=600) == got[0]  # type: ignore[arg-type]
    store.close()


class _FirstRows:
    """The set log's bookkeeping before session 11: each set's first row in a dict."""

    def __init__(self) -> None:
        self.first_seq: dict[str, int] = {}
        self.expires: dict[str, int] = {}

    def apply(self, seq: int, expires_at: int, keys: list[str]) -> None:
        for key in keys:
            if key not in self.expires:
                self.first_seq[key] = seq
                self.expires[key] = expires_at
            elif expires_at > self.expires[key]:
                self.expires[key] = expires_at

    def forget_dead(self, now: int, cursor: int) -> int:
        for key in [key for key, expires_at in self.expires.items() if expires_at <= now]:
            del self.expires[key], self.first_seq[key]
        return min(self.first_seq.values(), default=cursor + 1)


def test_set_log_created_counts_give_the_first_rows_a_dict_of_them_gave() -> None:
    """Rows of random keys and expiries (out of order too), purges at random times (sets die,
    are forgotten and created again): the first live row `forget_dead` returns, and the sets it
    keeps, are those of the per-set dict it replaced."""
    rng = random.Random(14)
    for _ in range(30):
        log, reference = _SetLog(), _FirstRows()
        now = 1000
        for seq in range(1, 200):
            keys = [f"s{rng.randint(0, 40)}" for _ in range(rng.randint(1, 8))]
            runs = [1] * len(keys)
            expires_at = now + rng.choice([5, 10, 30, 60])
            log.apply(seq, expires_at, keys, ["m"] * len(keys), ["v"] * len(keys), runs)
            reference.apply(seq, expires_at, keys)
            now += rng.choice([0, 1, 3])
            if rng.random() < 0.15:
                assert log.forget_dead(now) == reference.forget_dead(now, log.cursor)
                assert log.expires == reference.expires
                assert list(log.members) == list(reference.first_seq)
                assert sum(count for _, count in log.created) == len(log.members)
        assert log.forget_dead(now + 1000) == log.cursor + 1 and log.created == [] and log.members == {}


def test_set_log_counts_what_a_failing_row_created() -> None:
    """A foreign row that fails halfway (a key that is not a string, from another writer's file)
    still counts the sets it created, so the next purge walks the sets in step."""
    log = _SetLog()
    with pytest.raises(TypeError):
        log.apply(1, 100, ["a", "b", ["x"], "c"], ["m"], ["v"], [4])  # type: ignore[list-item]
    assert log.created == [(1, 2)] and list(log.members) == ["a", "b"]
    log.apply(2, 200, ["c"], ["m"], ["v"], [1])
    assert log.forget_dead(150) == 2 and list(log.members) == ["c"]


def _old_tables_write(conn: sqlite3.Connection, rows: list[tuple[str, str, str]], expires: int) -> None:
    """`_add_to_tables`' statements before session 11: one per row, from Python."""
    keys = dict.fromkeys(row[0] for row in rows)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO member_sets (key, expires_at) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at",
        [(key, expires) for key in keys],
    )
    conn.executemany("INSERT OR IGNORE INTO set_members (key, member, value) VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")


def _tables(conn: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
    return (
        conn.execute("SELECT key, expires_at FROM member_sets ORDER BY key").fetchall(),
        conn.execute("SELECT key, member, value FROM set_members ORDER BY key, member").fetchall(),
    )


def test_tables_written_from_json_hold_what_rows_wrote(tmp_path: Path) -> None:
    """Random batches of lasting sightings (duplicates, members already there, odd characters,
    `Sighting`s and plain tuples), written by the store and by the old per-row statements into a
    second file: the same tables, row for row."""
    rng = random.Random(15)
    clock = FakeClock()
    store = SqliteStateStore(tmp_path / "new.db", clock=clock)
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.executescript(state_sqlite._SCHEMA)
    memory = MemoryStateStore(clock=clock)
    texts = ["first:did:plc:a", "acct:record:did:b", 'k"q', "k\\b", "k\nn", "ключ", "k\U0001f600", "k:1"]
    for step in range(30):
        rows = [
            (
                rng.choice(texts) + str(rng.randint(0, 5)),
                rng.choice(["t", "seen", "p:1", 'm"']),
                rng.choice(["", "1", "é"]),
            )
            for _ in range(rng.randint(1, 25))
        ]
        batch = [Sighting(*row) for row in rows] if step % 2 else rows
        store.add_members(batch, ttl_s=30 * 86400)
        memory.add_members(batch, ttl_s=30 * 86400)
        _old_tables_write(old, rows, int(clock.now) + 30 * 86400)
        clock.now += rng.choice([0, 1, 7])
    assert _tables(store._conn()) == _tables(old)
    keys = sorted({row[0] for row in _tables(old)[0]})
    assert store.get_members(keys) == memory.get_members(keys)
    store.close()
    old.close()


@pytest.mark.parametrize("bad", ["", "x" * (MAX_KEY_CHARS + 1), 7, None, b"k"])
def test_checkpoint_keys_are_checked_alike_in_both_forms(
    bad: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStateStore(tmp_path / "c.db", clock=FakeClock())
    store.put_checkpoints({"a": "1", "b": "2"})
    errors = []
    for interpreted in (True, False):
        monkeypatch.setattr(state_sqlite, "INTERPRETED", interpreted)
        assert store.get_checkpoints(iter(["a", "b", "z"])) == {"a": "1", "b": "2"}
        errors.append(_error(store.get_checkpoints, ["a", bad, "b"]))
    assert errors[0] is not None and errors[0] == errors[1]
    store.close()


def test_keys_that_are_not_strings_read_alike_in_both_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get_members` does not check its keys: one that is not a string is not found, in the log
    or the tables (compiled too, where a loop over `str` keys would be mypyc's `TypeError`);
    `count_members` names a bad key with a `StateError`."""
    store = SqliteStateStore(tmp_path / "k.db", clock=FakeClock())
    store.add_members([("k1", "m", "1")], ttl_s=600)
    store.add_members([("t1", "m", "2")], ttl_s=30 * 86400)  # the tables
    for interpreted in (True, False):
        monkeypatch.setattr(state_sqlite, "INTERPRETED", interpreted)
        assert store.get_members(["k1", 7, None], ttl_s=600) == {"k1": {"m": "1"}}  # type: ignore[list-item]
        assert store.get_members(["t1", 7, None], ttl_s=30 * 86400) == {"t1": {"m": "2"}}  # type: ignore[list-item]
        assert store.get_members(["k1", "t1", 7]) == {"k1": {"m": "1"}, "t1": {"m": "2"}}  # type: ignore[list-item]
        with pytest.raises(StateError):
            store.count_members({"g": (["k1", 7], "0")})  # type: ignore[list-item]
    store.close()
