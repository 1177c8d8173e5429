"""Both label-store adapters keep the same contract: SQLite (local) and Postgres (AWS).

The Postgres tests run against a real, throw-away PostgreSQL cluster started with the
machine's `initdb`/`pg_ctl` on a free 127.0.0.1 port; without those binaries they skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.labeler.keys import SigningKey
from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.store import UNKNOWN_ACTOR, LabelStore, Override, SqliteLabelStore
from tests.conftest import free_port
from tests.labeler_fixtures import post_uri


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root; the Debian package's `postgres` user runs the cluster
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin.
    search = os.pathsep.join([os.environ.get("PATH", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"))])
    initdb, pg_ctl = shutil.which("initdb", path=search), shutil.which("pg_ctl", path=search)
    if not initdb or not pg_ctl:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    # Not under pytest's tmp folders: those are private to root, and the cluster runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="labeler-postgres-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LabelStore]:
    if request.param == "sqlite":
        opened: LabelStore = SqliteLabelStore(tmp_path / "labels.sqlite")
    else:
        import psycopg

        from fraud_pipeline.labeler.postgres_store import PostgresLabelStore

        url = request.getfixturevalue("postgres_url")
        with psycopg.connect(url, autocommit=True) as admin:  # a fresh database per test
            name = f"labels_{abs(hash(request.node.name)) % 10**9}"
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        opened = PostgresLabelStore(url.rsplit("/", 1)[0] + f"/{name}")
    yield opened
    opened.close()


KEY = SigningKey.generate()


def _label(i: int, val: str = "scam", neg: bool = False, did: str = "did:plc:author") -> Label:
    uri = post_uri(i, did)
    return Label("did:web:localhost", uri, val, "2026-11-30T07:00:00.000Z", "bafyreiaaa", neg).signed(KEY)


def test_sequence_state_and_positions(store: LabelStore) -> None:
    assert store.head() == 0 and store.after(0, 10) == []
    seqs = store.append([_label(i) for i in range(5)], positions={"tagged/shard-0": "41"})
    assert seqs == [1, 2, 3, 4, 5] and store.head() == 5 and store.first_seq() == 1
    store.append([_label(2, neg=True), _label(2, val="phishing")], positions={"tagged/shard-0": "42"})
    assert store.positions() == {"tagged/shard-0": "42"}
    assert [s.seq for s in store.after(3, 10)] == [4, 5, 6, 7]
    assert store.after(5, 1)[0].label == _label(2, neg=True).__class__.from_cbor(store.after(5, 1)[0].cbor)
    active = store.active([post_uri(2), post_uri(3), post_uri(99)])
    assert {key: (a.seq, a.neg) for key, a in active.items()} == {
        (post_uri(2), "scam"): (6, True),
        (post_uri(2), "phishing"): (7, False),
        (post_uri(3), "scam"): (4, False),
    }
    store.set_meta("k", "v1")
    store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2" and store.get_meta("missing") is None


def test_query_is_prefix_exact_source_and_page(store: LabelStore) -> None:
    store.append([_label(i) for i in range(12)] + [_label(1, did="did:plc:authorx")])
    store.append([_label(4, neg=True)])
    prefix = "at://did:plc:author/*"
    pages, after = [], 0
    while page := store.query([prefix], None, after, 5):
        pages.append([s.seq for s in page])
        after = page[-1].seq
    assert pages == [[1, 2, 3, 4, 6], [7, 8, 9, 10, 11], [12, 14]]  # 5 is superseded by 14
    # the prefix is a prefix of the string: did:plc:authorx's posts are not under did:plc:author/
    assert [s.uri for s in store.query(["at://did:plc:authorx/*"], None, 0, 50)] == [
        post_uri(1, "did:plc:authorx")
    ]
    assert [s.seq for s in store.query([post_uri(3), post_uri(7)], None, 0, 50)] == [4, 8]
    assert store.query([prefix], ["did:web:elsewhere"], 0, 50) == []
    assert len(store.query([prefix], ["did:web:localhost"], 0, 50)) == 12


def test_overrides_block_labels_but_not_negations(store: LabelStore) -> None:
    store.append([], overrides=[Override(post_uri(1), "scam", "checked", "2026-11-30T07:00:00.000Z")])
    assert store.append([_label(1), _label(1, neg=True), _label(2)]) == [1, 2]
    assert store.overrides([post_uri(1), post_uri(2)]) == {(post_uri(1), "scam")}
    assert [o.reason for o in store.list_overrides()] == ["checked"]


def test_overrides_keep_who_made_them(store: LabelStore) -> None:
    store.append([], overrides=[Override(post_uri(1), "scam", "checked", "2026-11-30T07:00:00.000Z", "ana")])
    store.append([], overrides=[Override(post_uri(2), "scam", "checked", "2026-11-30T07:01:00.000Z")])
    assert [(o.uri, o.made_by) for o in store.list_overrides()] == [
        (post_uri(1), "ana"),
        (post_uri(2), UNKNOWN_ACTOR),
    ]
    # a second override of the same (uri, value) takes the new person with the new reason
    store.append([], overrides=[Override(post_uri(1), "scam", "again", "2026-11-30T07:02:00.000Z", "bo")])
    assert {o.uri: (o.reason, o.made_by) for o in store.list_overrides()}[post_uri(1)] == ("again", "bo")


_OLD_OVERRIDES = """CREATE TABLE {table} (
    uri TEXT NOT NULL, val TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (uri, val))"""


def test_sqlite_store_made_before_made_by_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    with sqlite3.connect(path) as old:  # the overrides table as the first release made it
        old.execute(_OLD_OVERRIDES.format(table="overrides"))
        old.execute(
            "INSERT INTO overrides VALUES (?, 'scam', 'old', '2026-11-01T00:00:00.000Z')", (post_uri(1),)
        )
    store = SqliteLabelStore(path)
    assert [(o.reason, o.made_by) for o in store.list_overrides()] == [("old", UNKNOWN_ACTOR)]
    store.append([], overrides=[Override(post_uri(2), "scam", "new", "2026-11-30T07:00:00.000Z", "ana")])
    store.close()
    reopened = SqliteLabelStore(path)  # opening again finds the column and leaves it
    assert [o.made_by for o in reopened.list_overrides()] == [UNKNOWN_ACTOR, "ana"]
    reopened.close()


def test_postgres_store_made_before_made_by_gains_the_column(postgres_url: str) -> None:
    import psycopg

    from fraud_pipeline.labeler.postgres_store import PostgresLabelStore

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS labels_old_release")
        admin.execute("CREATE DATABASE labels_old_release")
    url = postgres_url.rsplit("/", 1)[0] + "/labels_old_release"
    with psycopg.connect(url, autocommit=True) as old:
        old.execute("CREATE SCHEMA labeler")
        old.execute(_OLD_OVERRIDES.format(table="labeler.label_overrides"))
        old.execute(
            "INSERT INTO labeler.label_overrides VALUES (%s, 'scam', 'old', '2026-11-01T00:00:00.000Z')",
            (post_uri(1),),
        )
    store = PostgresLabelStore(url)
    assert [(o.reason, o.made_by) for o in store.list_overrides()] == [("old", UNKNOWN_ACTOR)]
    store.append([], overrides=[Override(post_uri(2), "scam", "new", "2026-11-30T07:00:00.000Z", "ana")])
    store.close()
    reopened = PostgresLabelStore(url)
    assert [o.made_by for o in reopened.list_overrides()] == [UNKNOWN_ACTOR, "ana"]
    reopened.close()


def test_concurrent_writers_commit_in_sequence_order(store: LabelStore) -> None:
    """A follower reading `seq > head` while two writers append must never skip a number."""
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:
        head = 0
        while not done.is_set() or head < store.head():
            for stored in store.after(head, 1000):
                seen.append(stored.seq)
                head = stored.seq

    def write(offset: int) -> None:
        for batch in range(20):
            store.append([_label(offset + batch * 5 + i) for i in range(5)])

    follower = threading.Thread(target=follow)
    writers = [threading.Thread(target=write, args=(base,)) for base in (0, 10_000)]
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    follower.join(60)
    assert seen == list(range(1, 201))
