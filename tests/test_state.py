"""The state port on SQLite, memory and DynamoDB (moto server over HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import boto3
import pytest

from fraud_pipeline.settings import Settings
from fraud_pipeline.state import StateError, StateStore, open_state
from fraud_pipeline.state.base import Sighting, SightingRuns
from fraud_pipeline.state.dynamodb import DynamoDbStateStore, dynamodb_client, ensure_table
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _make(kind: str, request: pytest.FixtureRequest, clock: Callable[[], float]) -> StateStore:
    if kind == "memory":
        return MemoryStateStore(clock=clock)
    if kind == "sqlite":
        settings: Settings = request.getfixturevalue("local_settings")
        return SqliteStateStore(settings.state_path, clock=clock)
    settings = request.getfixturevalue("aws_settings")
    client = dynamodb_client(settings.aws_region, settings.endpoint_url)
    ensure_table(client, settings.state_table)
    return DynamoDbStateStore(client, settings.state_table, clock=clock)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("dynamodb", marks=pytest.mark.moto)])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[StateStore]:
    s = _make(request.param, request, clock)
    yield s
    s.close()


def test_checkpoints_roundtrip_and_overwrite(store: StateStore) -> None:
    assert store.get_checkpoint("ingest/cursor") is None
    store.put_checkpoint("ingest/cursor", "1700000000000000")
    store.put_checkpoint("ingest/cursor", "1700000000000123")
    assert store.get_checkpoint("ingest/cursor") == "1700000000000123"


def test_put_checkpoints_in_batches(store: StateStore) -> None:
    values = {f"poller/untagged/shardId-{i:012d}": f"{i:020d}" for i in range(60)}  # > 2 DynamoDB batches
    store.put_checkpoints(values)
    assert {k: store.get_checkpoint(k) for k in values} == values
    store.put_checkpoints({})
    assert store.get_checkpoint("poller/untagged/shardId-000000000007") == f"{7:020d}"


def test_get_checkpoints_reads_many_at_once(store: StateStore) -> None:
    values = {
        f"acct:verdict:did:plc:{i:04d}": f'{{"action": "{i}"}}' for i in range(130)
    }  # > a DynamoDB page
    store.put_checkpoints(values)
    asked = [*values, "acct:verdict:did:plc:missing", "acct:verdict:did:plc:0003"]
    assert store.get_checkpoints(asked) == values
    assert store.get_checkpoints([]) == {}
    store.increment("acct:verdict:did:plc:counter")  # a counter of the same name is not a checkpoint
    assert store.get_checkpoints(["acct:verdict:did:plc:counter"]) == {}
    with pytest.raises(StateError):
        store.get_checkpoints([""])


def test_counters_add_and_checkpoints_do_not_collide(store: StateStore) -> None:
    assert store.get_counter("posts/did:plc:a") == 0
    assert store.increment("posts/did:plc:a") == 1
    assert store.increment("posts/did:plc:a", by=5) == 6
    assert store.increment("posts/did:plc:a", by=-2) == 4
    store.put_checkpoint("posts/did:plc:a", "not-a-counter")
    assert store.get_counter("posts/did:plc:a") == 4
    assert store.get_checkpoint("posts/did:plc:a") == "not-a-counter"


def test_counter_ttl_expires_and_restarts(store: StateStore, clock: FakeClock) -> None:
    assert store.increment("window", ttl_s=60) == 1
    clock.now += 30
    assert store.increment("window", ttl_s=60) == 2  # fixed window: not extended
    clock.now += 29
    assert store.get_counter("window") == 2
    clock.now += 1  # 60 s after the start: expired, although not yet swept
    assert store.get_counter("window") == 0
    assert store.increment("window", by=3, ttl_s=60) == 3  # restarts at 0
    clock.now += 59
    assert store.get_counter("window") == 3
    clock.now += 1
    assert store.get_counter("window") == 0
    assert store.increment("window") == 1  # restarted without a TTL: never expires
    clock.now += 10_000
    assert store.get_counter("window") == 1


def test_bad_keys_are_rejected(store: StateStore) -> None:
    with pytest.raises(StateError):
        store.put_checkpoint("", "x")
    with pytest.raises(StateError):
        store.increment("k" * 5000)


def test_sqlite_state_survives_reopen_and_purges(local_settings: Settings, clock: FakeClock) -> None:
    first = SqliteStateStore(local_settings.state_path, clock=clock)
    first.put_checkpoints({"a": "1", "b": "2"})
    first.increment("c", by=7)
    first.increment("d", ttl_s=5)
    first.close()
    second = SqliteStateStore(local_settings.state_path, clock=clock)
    assert (second.get_checkpoint("a"), second.get_checkpoint("b"), second.get_counter("c")) == ("1", "2", 7)
    clock.now += 5
    assert second.purge_expired() == 1
    assert second.get_counter("c") == 7
    second.close()


def test_sqlite_counters_are_atomic_across_threads(local_settings: Settings) -> None:
    stores = [SqliteStateStore(local_settings.state_path) for _ in range(2)]

    def bump(store: SqliteStateStore) -> None:
        for _ in range(200):
            store.increment("shared")

    threads = [threading.Thread(target=bump, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].get_counter("shared") == 800
    for s in stores:
        s.close()


@pytest.mark.moto
def test_ensure_table_is_idempotent_with_ttl(aws_settings: Settings) -> None:
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    assert ensure_table(client, aws_settings.state_table) == {"created": True, "ttl_enabled": True}
    assert ensure_table(client, aws_settings.state_table) == {"created": False, "ttl_enabled": False}
    ddb = boto3.client(
        "dynamodb", region_name=aws_settings.aws_region, endpoint_url=aws_settings.endpoint_url
    )
    table = ddb.describe_table(TableName=aws_settings.state_table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = ddb.describe_time_to_live(TableName=aws_settings.state_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


@pytest.mark.moto
def test_missing_table_is_a_clear_error(aws_settings: Settings) -> None:
    store = open_state(aws_settings)
    with pytest.raises(StateError, match="provision"):
        store.get_checkpoint("x")


def test_open_state_local_is_sqlite(local_settings: Settings) -> None:
    store = open_state(local_settings)
    store.put_checkpoint("k", "v")
    assert local_settings.state_path.exists()
    store.close()


# -- member sets: behaviour counted once across shards ----------------------------------------
def test_member_sets_keep_the_first_value_and_are_idempotent(store: StateStore) -> None:
    assert store.get_members(["fp:a", "fp:b"]) == {}
    store.add_members([Sighting("fp:a", "did:plc:1", "10"), Sighting("fp:a", "did:plc:2", "11")], ttl_s=600)
    store.add_members([Sighting("fp:a", "did:plc:1", "99"), Sighting("fp:b", "did:plc:1", "12")], ttl_s=600)
    store.add_members([Sighting("fp:a", "did:plc:2", "11")], ttl_s=600)  # a retried batch
    assert store.get_members(["fp:a", "fp:b", "fp:c"]) == {
        "fp:a": {"did:plc:1": "10", "did:plc:2": "11"},
        "fp:b": {"did:plc:1": "12"},
    }
    store.add_members([], ttl_s=600)


def test_count_members_counts_distinct_members_in_a_window_across_sets(
    store: StateStore, clock: FakeClock
) -> None:
    t = 1_764_000_000_000_000
    sightings = [Sighting("fo:a#1", f"did:plc:{i}", str(t + i)) for i in range(10)]
    sightings += [Sighting("fo:a#2", f"did:plc:{i}", str(t + 100 + i)) for i in range(5, 15)]  # 5 again
    sightings += [Sighting("fo:b#2", "did:plc:x", str(t))]
    store.add_members(sightings, ttl_s=60)
    groups = {
        "a": (["fo:a#1", "fo:a#2"], str(t + 3)),  # 3..9 in #1, 5..14 in #2: 12 distinct
        "a-late": (["fo:a#1", "fo:a#2"], str(t + 105)),  # only #2 (5..14): each set keeps its own value
        "b": (["fo:b#2", "fo:missing"], str(t + 1)),  # nothing at or after the bound: left out
        "none": (["fo:missing"], "0"),
    }
    assert store.count_members(groups) == {"a": 12, "a-late": 10}
    assert store.count_members({}) == {}
    clock.now += 61
    assert store.count_members(groups) == {}  # expired sets count nothing


def test_member_sets_expire_after_their_last_write(store: StateStore, clock: FakeClock) -> None:
    store.add_members([Sighting("acct:x#1", "r1", "1")], ttl_s=60)
    clock.now += 50
    store.add_members([Sighting("acct:x#1", "r2", "2")], ttl_s=60)  # pushes the expiry on
    clock.now += 50
    assert store.get_members(["acct:x#1"]) == {"acct:x#1": {"r1": "1", "r2": "2"}}
    clock.now += 11
    assert store.get_members(["acct:x#1"]) == {}


def test_member_sets_in_large_batches(store: StateStore) -> None:
    """More sets than one DynamoDB call takes, and one set with more members than one update."""
    sightings = [Sighting(f"band:{i}", f"did:plc:{i % 7}", str(i)) for i in range(230)]
    sightings += [Sighting("fp:big", f"did:plc:{i:04d}", str(i)) for i in range(150)]
    store.add_members(sightings, ttl_s=600)
    got = store.get_members([f"band:{i}" for i in range(230)] + ["fp:big"])
    assert len(got) == 231
    assert got["band:229"] == {"did:plc:5": "229"}
    assert len(got["fp:big"]) == 150 and got["fp:big"]["did:plc:0149"] == "149"


@pytest.mark.moto
def test_dynamodb_member_sets_one_update_per_set_for_emulators(aws_settings: Settings) -> None:
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    ensure_table(client, aws_settings.state_table)
    store = open_state(aws_settings)  # an endpoint URL: moto
    assert isinstance(store, DynamoDbStateStore) and store.set_writes == "update"
    store.add_members([Sighting("fp:a", "did:plc:1", "1"), Sighting("fp:a", "did:plc:2", "2")], ttl_s=60)
    store.add_members([Sighting("fp:a", "did:plc:1", "9")], ttl_s=60)
    assert store.get_members(["fp:a"]) == {"fp:a": {"did:plc:1": "1", "did:plc:2": "2"}}
    assert store.calls["update_item"] == 2 and "transact_write_items" not in store.calls


def test_member_sets_reject_bad_input(store: StateStore) -> None:
    with pytest.raises(StateError):
        store.add_members([Sighting("fp:a", "", "1")], ttl_s=60)
    with pytest.raises(StateError):
        store.add_members([Sighting("", "did:plc:1", "1")], ttl_s=60)
    with pytest.raises(StateError):
        store.add_members([Sighting("fp:a", "did:plc:1", "x" * 5000)], ttl_s=60)
    # Among many good sightings (checked column by column), one bad one is still found; plain
    # (key, member, value) tuples are sightings too.
    good = [(f"fp:{i}", f"did:plc:{i}", str(i)) for i in range(500)]
    for bad in [("fp:x", 7, "1"), ("fp:x", "did:plc:x", None), ("fp:x", "did:plc:x"), ("x" * 5000, "d", "1")]:
        with pytest.raises(StateError):
            store.add_members([*good[:250], bad, *good[250:]], ttl_s=60)  # type: ignore[list-item]
    assert store.get_members(["fp:0", "fp:499"]) == {}  # a rejected batch writes nothing
    store.add_members(good, ttl_s=60)
    assert store.get_members(["fp:0", "fp:499"]) == {
        "fp:0": {"did:plc:0": "0"},
        "fp:499": {"did:plc:499": "499"},
    }


def test_sighting_runs_are_the_same_sightings_as_rows(store: StateStore, clock: FakeClock) -> None:
    """A batch handed over as runs (the behaviour tracker's way: a post's sixteen bands one run)
    writes what its rows write, first value kept across both forms, short- and long-lived."""
    runs = SightingRuns(
        ["acct:a#1", "lsh0:x#1", "lsh1:y#1", "lsh2:z#1", "fp:f#1", "lsh0:x#1"],
        ["r1", "did:plc:1", "did:plc:2", "did:plc:1"],
        ["10", "11|sig", "12", "13|late"],
        [1, 3, 1, 1],
    )
    assert list(runs) == [
        ("acct:a#1", "r1", "10"),
        ("lsh0:x#1", "did:plc:1", "11|sig"),
        ("lsh1:y#1", "did:plc:1", "11|sig"),
        ("lsh2:z#1", "did:plc:1", "11|sig"),
        ("fp:f#1", "did:plc:2", "12"),
        ("lsh0:x#1", "did:plc:1", "13|late"),  # already there: the first value stays
    ]
    keys = ["acct:a#1", "lsh0:x#1", "lsh1:y#1", "lsh2:z#1", "fp:f#1"]
    rows_store = MemoryStateStore(clock=clock)
    for ttl_s in (600, 30 * 86400):  # the set log and the tables (SQLite)
        named = [key.replace("#1", f"#{ttl_s}") for key in runs.keys]
        store.add_members(SightingRuns(named, runs.members, runs.values, runs.runs), ttl_s=ttl_s)
        rows_store.add_members([(key.replace("#1", f"#{ttl_s}"), m, v) for key, m, v in runs], ttl_s=ttl_s)
        wanted = [key.replace("#1", f"#{ttl_s}") for key in keys]
        assert store.get_members(wanted) == rows_store.get_members(wanted)
        assert store.get_members(wanted)[f"lsh0:x#{ttl_s}"] == {"did:plc:1": "11|sig"}
    store.add_members(SightingRuns([], [], [], []), ttl_s=600)


@pytest.mark.parametrize(
    "columns",
    [
        (["k1", "k2"], ["m"], ["v"], [1]),  # the runs cover one key of two
        (["k1", "k2"], ["m", "n"], ["v"], [1, 1]),  # a run without its value
        (["k1"], ["m"], ["v"], [0]),  # an empty run
        (["k1", "k2"], ["m", "n"], ["v", "w"], [2, 0]),
        (["k1"], ["m"], ["v"], [True]),  # not a count
        (["k1", ""], ["m"], ["v"], [2]),  # an empty key
        (["k1", 7], ["m"], ["v"], [2]),  # a key that is not a string
        (["k1"], [""], ["v"], [1]),  # an empty member
        (["k1"], ["m"], [None], [1]),
        (["k1", "x" * 2000], ["m"], ["v"], [2]),  # a key too long
        (["k1"], ["m"], ["x" * 5000], [1]),  # a value too long
        ([], [], [], [1]),
        (("k1",), ["m"], ["v"], [1]),  # not lists
    ],
)
def test_malformed_sighting_runs_are_rejected_and_write_nothing(store: StateStore, columns: tuple) -> None:
    with pytest.raises(StateError):
        store.add_members(SightingRuns(*columns), ttl_s=600)
    assert store.get_members(["k1", "k2"]) == {}


def _concurrent_writers(make: Callable[[], StateStore], writers: int = 8, per_writer: int = 40) -> StateStore:
    """`writers` threads, each with its own store (as separate shards' runtimes), add distinct
    members to the same hot sets at once, in batches."""
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            own = make()
            barrier.wait(timeout=120)
            for start in range(0, per_writer, 10):
                batch = []
                for i in range(start, start + 10):
                    batch.append(Sighting("fp:hot", f"did:plc:{w}-{i}", f"{w}.{i}"))
                    batch.append(Sighting(f"band:{i % 3}", f"did:plc:{w}-{i}", "1"))
                own.add_members(batch, ttl_s=600)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()  # the others stop waiting for this writer and fail too

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return make()


def test_sqlite_member_sets_with_concurrent_writers(local_settings: Settings) -> None:
    reader = _concurrent_writers(lambda: SqliteStateStore(local_settings.state_path))
    got = reader.get_members(["fp:hot", "band:0", "band:1", "band:2"])
    assert len(got["fp:hot"]) == 8 * 40
    assert sum(len(got[f"band:{b}"]) for b in range(3)) == 8 * 40


@pytest.fixture()
def isolated_moto_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB isolates transactions; moto 5.2.5 does not: each transaction deep-copies the
    whole table and, if another request changed it meanwhile ("dictionary changed size"),
    restores that copy, wiping other writers' committed items. Serializing moto's handlers
    models the real service; the writers still run concurrently, over HTTP, with their own
    clients, interleaving their batches."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "get_item", "update_item", "put_item"):
        original = getattr(DynamoDBBackend, name)

        def serialized(
            self: object, *args: object, __original: Callable[..., object] = original, **kwargs: object
        ) -> object:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialized)


@pytest.mark.moto
@pytest.mark.usefixtures("isolated_moto_dynamodb")
def test_dynamodb_member_sets_with_concurrent_writers(aws_settings: Settings) -> None:
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    ensure_table(client, aws_settings.state_table)

    def make() -> StateStore:
        return DynamoDbStateStore(
            dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url), aws_settings.state_table
        )

    reader = _concurrent_writers(make)
    got = reader.get_members(["fp:hot", "band:0", "band:1", "band:2"])
    assert len(got["fp:hot"]) == 8 * 40  # no member lost to a concurrent writer
    assert got["fp:hot"]["did:plc:3-17"] == "3.17"
    assert sum(len(got[f"band:{b}"]) for b in range(3)) == 8 * 40


@pytest.mark.moto
def test_dynamodb_member_sets_cost_round_trips_per_batch_not_per_post(aws_settings: Settings) -> None:
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    ensure_table(client, aws_settings.state_table)
    store = DynamoDbStateStore(client, aws_settings.state_table)
    sightings = [Sighting(f"acct:did:plc:{i}#0", f"r{i}", str(i)) for i in range(500)]
    store.add_members(sightings, ttl_s=600)
    store.get_members([s.key for s in sightings])
    assert store.calls == {"transact_write_items": 5, "batch_get_item": 5}


class _ConflictOnce:
    """A DynamoDB client whose first transaction is cancelled by a (simulated) concurrent writer."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.cancelled = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def transact_write_items(self, **kwargs: object) -> object:
        if not self.cancelled:
            self.cancelled += 1
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return self.inner.transact_write_items(**kwargs)  # type: ignore[attr-defined]


@pytest.mark.moto
def test_dynamodb_member_sets_retry_a_cancelled_transaction(aws_settings: Settings) -> None:
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    ensure_table(client, aws_settings.state_table)
    conflicted = _ConflictOnce(client)
    store = DynamoDbStateStore(conflicted, aws_settings.state_table)
    store.add_members([Sighting("fp:a", "did:plc:1", "1"), Sighting("fp:b", "did:plc:1", "2")], ttl_s=60)
    assert conflicted.cancelled == 1
    assert store.get_members(["fp:a", "fp:b"]) == {"fp:a": {"did:plc:1": "1"}, "fp:b": {"did:plc:1": "2"}}


def test_cache_roundtrip_overwrite_and_expiry(store: StateStore, clock: FakeClock) -> None:
    assert store.get_cached(["media:bafyA"]) == {}
    store.put_cached({"media:bafyA": '{"p": 0.9}', "media:bafyB": "{}"}, ttl_s=60)
    assert store.get_cached(["media:bafyA", "media:bafyB", "media:none"]) == {
        "media:bafyA": '{"p": 0.9}',
        "media:bafyB": "{}",
    }
    clock.now += 30
    store.put_cached({"media:bafyB": '{"p": 0.1}'}, ttl_s=60)  # rewritten: a new value, a new expiry
    clock.now += 31
    assert store.get_cached(["media:bafyA", "media:bafyB"]) == {"media:bafyB": '{"p": 0.1}'}
    # Cache keys live apart from checkpoints, counters and member sets of the same name.
    store.put_checkpoint("media:bafyB", "checkpoint")
    assert store.get_cached(["media:bafyB"]) == {"media:bafyB": '{"p": 0.1}'}


def test_cache_in_large_batches_and_bad_input(store: StateStore) -> None:
    values = {f"media:cid{i:04d}": f"v{i}" for i in range(230)}  # > 9 DynamoDB write batches, > 2 reads
    store.put_cached(values, ttl_s=3600)
    assert store.get_cached([*values, "media:absent"]) == values
    store.put_cached({}, ttl_s=60)
    assert store.get_cached([]) == {}
    with pytest.raises(StateError):
        store.put_cached({"": "x"}, ttl_s=60)
    with pytest.raises(StateError):
        store.put_cached({"k": "x" * 70_000}, ttl_s=60)


def test_sqlite_set_mirror_sees_other_writers_and_keeps_the_files_semantics(
    local_settings: Settings, clock: FakeClock
) -> None:
    """The SQLite store mirrors the sets it read or wrote; another connection's commit (another
    store on the file, or the same store from another thread) empties the mirror, so every
    read is what the file holds."""
    mine = SqliteStateStore(local_settings.state_path, clock=clock)
    other = SqliteStateStore(local_settings.state_path, clock=clock)
    mine.add_members([Sighting("fp:a", "did:1", "1")], ttl_s=60)
    assert mine.get_members(["fp:a", "fp:b"]) == {"fp:a": {"did:1": "1"}}
    assert "fp:b" not in mine._mirror.sets  # no "fp" set lives in the tables: fp:b is not looked up

    other.add_members([Sighting("fp:a", "did:2", "2"), Sighting("fp:b", "did:3", "3")], ttl_s=60)
    assert mine.get_members(["fp:a", "fp:b"]) == {
        "fp:a": {"did:1": "1", "did:2": "2"},
        "fp:b": {"did:3": "3"},
    }

    worker = threading.Thread(target=mine.add_members, args=([Sighting("fp:a", "did:4", "4")], 60))
    worker.start()
    worker.join()
    assert mine.get_members(["fp:a"])["fp:a"].keys() == {"did:1", "did:2", "did:4"}

    # Written through: the mirror's own writes keep the first value and push the expiry on.
    mine.add_members([Sighting("fp:a", "did:1", "changed"), Sighting("fp:a", "did:5", "5")], ttl_s=60)
    assert mine.get_members(["fp:a"])["fp:a"]["did:1"] == "1"
    clock.now += 61
    assert mine.get_members(["fp:a"]) == {} == other.get_members(["fp:a"])
    # Expired but not purged: written again, it keeps its old members (as the file and DynamoDB do).
    mine.add_members([Sighting("fp:a", "did:6", "6")], ttl_s=60)
    fresh = SqliteStateStore(local_settings.state_path, clock=clock)
    assert mine.get_members(["fp:a"]) == fresh.get_members(["fp:a"]) == other.get_members(["fp:a"])
    assert len(mine.get_members(["fp:a"])["fp:a"]) == 5
    mine.purge_expired()
    assert mine.get_members(["fp:b"]) == {} == fresh.get_members(["fp:b"])
    for store in (mine, other, fresh):
        store.close()


def test_sqlite_reads_the_tables_only_for_kinds_they_hold(local_settings: Settings, clock: FakeClock) -> None:
    """A key the set log lacks is looked up in the tables only when a set of its kind (the text
    before ':') lives there; every kind, and keys without ':', still read what was written."""
    store = SqliteStateStore(local_settings.state_path, clock=clock)
    other = SqliteStateStore(local_settings.state_path, clock=clock)
    store.add_members([("fp:a", "did:1", "1")], ttl_s=60)  # the log
    other.add_members([("first:did:1", "t", "5"), ("plain", "m", "v")], ttl_s=30 * 86400)  # the tables
    wanted = ["fp:a", "fp:b", "first:did:1", "first:did:2", "firstx:did:1", "plain", "lsh0:ab#1"]
    expected = {"fp:a": {"did:1": "1"}, "first:did:1": {"t": "5"}, "plain": {"m": "v"}}
    assert store.get_members(wanted) == expected == other.get_members(wanted)
    assert "first:did:2" in store._mirror.sets and "fp:b" not in store._mirror.sets
    other.add_members([("fp:b", "did:2", "2")], ttl_s=30 * 86400)  # now "fp" lives in the tables too
    assert store.get_members(["fp:a", "fp:b"]) == {"fp:a": {"did:1": "1"}, "fp:b": {"did:2": "2"}}
    # Which kinds the tables hold is remembered until anyone writes them: another connection
    # (its commit moves `data_version`) or the store itself (which does not).
    assert store.get_members(["media:x", "acct:y"]) == {}
    store.add_members([("media:x", "did:3", "3")], ttl_s=30 * 86400)
    assert store.get_members(["media:x", "acct:y"]) == {"media:x": {"did:3": "3"}}
    other.add_members([("acct:y", "r", "4")], ttl_s=30 * 86400)
    assert store.get_members(["media:x", "acct:y"]) == {"media:x": {"did:3": "3"}, "acct:y": {"r": "4"}}
    # Keys holding the separator the kinds are found with are read the same.
    other.add_members([("odd\nkey:1", "m", "5")], ttl_s=30 * 86400)
    assert store.get_members(["odd\nkey:1", "lsh1:zz#1"]) == {"odd\nkey:1": {"m": "5"}}
    store.close()
    other.close()


# -- the SQLite set log: short-lived sets are one appended row per batch ------------------------
def _log_rows(store: SqliteStateStore) -> list[int]:
    return [seq for (seq,) in store._conn().execute("SELECT seq FROM set_log ORDER BY seq")]


def _replayed(store: SqliteStateStore) -> dict[str, dict[str, str]]:
    """What a reader that never saw the file (another process) builds from the log."""
    from fraud_pipeline.state.sqlite import _SetLog

    fresh = _SetLog()
    fresh.catch_up(store._conn())
    return fresh.members


def test_sqlite_short_lived_sets_are_one_log_row_per_batch(
    local_settings: Settings, clock: FakeClock
) -> None:
    store = SqliteStateStore(local_settings.state_path, clock=clock)
    batch = [
        Sighting(f"lsh{b}:{i}#7", f"did:plc:{i}", f"{i}|1|x.com|r{i}") for i in range(50) for b in range(16)
    ]
    store.add_members(batch, ttl_s=600)
    store.add_members([Sighting("first:did:plc:1", "t", "5")], ttl_s=30 * 86400)  # lasting: the tables
    assert len(_log_rows(store)) == 1
    assert store._conn().execute("SELECT count(*) FROM set_members").fetchone() == (1,)
    got = store.get_members(["lsh3:7#7", "first:did:plc:1", "lsh0:absent#7"])
    assert got == {"lsh3:7#7": {"did:plc:7": "7|1|x.com|r7"}, "first:did:plc:1": {"t": "5"}}
    assert _replayed(store)["lsh15:49#7"] == {"did:plc:49": "49|1|x.com|r49"}
    store.close()


def test_sqlite_set_log_rows_write_a_shared_member_once_per_run(
    local_settings: Settings, clock: FakeClock
) -> None:
    """Consecutive sightings sharing member and value (a post's sixteen bands) store them once;
    rows written before runs existed (plain columns) still replay; a malformed row is an error."""
    import orjson

    from fraud_pipeline.state.sqlite import _runs, sighting_columns

    batch = [("k1", "a", "v"), ("k2", "a", "v"), ("k3", "b", "v"), ("k1", "a", "w"), ("k4", "a", "w")]
    assert _runs(*sighting_columns(batch)) == (
        ["k1", "k2", "k3", "k1", "k4"],
        ["a", "b", "a"],
        ["v", "v", "w"],
        [2, 1, 2],
    )
    store = SqliteStateStore(local_settings.state_path, clock=clock)
    memory = MemoryStateStore(clock=clock)
    for target in (store, memory):
        target.add_members(batch, ttl_s=600)
    old_row = orjson.dumps([["k5", "k1"], ["c", "c"], ["x", "y"]])
    store._conn().execute(
        "INSERT INTO set_log (expires_at, sightings) VALUES (?, ?)", (clock.now + 600, old_row)
    )
    memory.add_members([("k5", "c", "x"), ("k1", "c", "y")], ttl_s=600)
    keys = ["k1", "k2", "k3", "k4", "k5"]
    assert store.get_members(keys) == memory.get_members(keys) == _replayed(store)
    assert store.get_members(["k1"])["k1"] == {"a": "v", "c": "y"}
    store._conn().execute(
        "INSERT INTO set_log (expires_at, sightings) VALUES (?, ?)",
        (clock.now + 600, orjson.dumps([["k1"], ["a", "b"], ["v"], [1]])),
    )
    with pytest.raises(StateError, match="malformed"):
        store.get_members(["k1"])
    store.close()


def test_sqlite_set_log_purge_keeps_the_rows_of_a_live_set(
    local_settings: Settings, clock: FakeClock
) -> None:
    store = SqliteStateStore(local_settings.state_path, clock=clock)
    store.add_members([Sighting("fp:x", "a", "1"), Sighting("fp:y", "b", "2")], ttl_s=60)
    clock.now += 50
    store.add_members([Sighting("fp:x", "c", "3")], ttl_s=60)  # fp:x lives on; fp:y expires at 60
    clock.now += 20
    assert store.purge_expired() == 0  # row 1 also holds fp:x's first member: kept
    assert _replayed(store)["fp:x"] == {"a": "1", "c": "3"} == store.get_members(["fp:x"])["fp:x"]
    assert store.get_members(["fp:y"]) == {}
    assert "fp:y" not in store._log.members  # forgotten in memory
    clock.now += 41
    assert store.purge_expired() == 2 and _log_rows(store) == [] and _replayed(store) == {}
    assert store.get_members(["fp:x"]) == {}
    store.close()


def test_sqlite_set_log_purges_itself_as_batches_are_added(
    local_settings: Settings, clock: FakeClock
) -> None:
    from fraud_pipeline.state.sqlite import LOG_PURGE_EVERY_S

    store = SqliteStateStore(local_settings.state_path, clock=clock)
    for minute in range(30):
        store.add_members([Sighting(f"acct:x#{minute}", f"r{minute}", str(minute))], ttl_s=120)
        clock.now += 60
    # Every LOG_PURGE_EVERY_S the dead rows go: what is left is the last few minutes' sets.
    assert len(_log_rows(store)) <= LOG_PURGE_EVERY_S // 60 + 2
    assert len(store._log.members) <= LOG_PURGE_EVERY_S // 60 + 2
    assert store.get_members([f"acct:x#{m}" for m in range(30)]) == {"acct:x#29": {"r29": "29"}}
    store.close()


def test_sqlite_set_log_reads_what_another_process_appended(local_settings: Settings) -> None:
    import subprocess
    import sys

    store = SqliteStateStore(local_settings.state_path)
    store.add_members([Sighting("fp:hot", "did:plc:here", "1")], ttl_s=600)
    assert store.get_members(["fp:hot"]) == {"fp:hot": {"did:plc:here": "1"}}
    code = (
        "import sys; from fraud_pipeline.state.sqlite import SqliteStateStore; "
        "from fraud_pipeline.state.base import Sighting; s = SqliteStateStore(sys.argv[1]); "
        "s.add_members([Sighting('fp:hot', 'did:plc:here', 'later'), "
        "Sighting('fp:hot', 'did:plc:there', '2'), Sighting('fp:new', 'did:plc:there', '3')], ttl_s=600)"
    )
    subprocess.run([sys.executable, "-c", code, str(local_settings.state_path)], check=True)
    store.add_members([Sighting("fp:new", "did:plc:here", "4")], ttl_s=600)  # after theirs: caught up
    assert store.get_members(["fp:hot", "fp:new"]) == {
        "fp:hot": {"did:plc:here": "1", "did:plc:there": "2"},  # the first value kept across processes
        "fp:new": {"did:plc:there": "3", "did:plc:here": "4"},
    }
    store.close()


def test_get_members_told_the_time_to_live_reads_what_was_written_with_it(
    store: StateStore, clock: FakeClock
) -> None:
    """`ttl_s` is the time-to-live the sets were written with: the same sets are read with it
    as without it (every store), short-lived and lasting ones alike, expired ones left out."""
    short, lasting = 600, 30 * 86400
    store.add_members(
        [("acct:did:1#7", "r1", "10"), ("acct:did:1#7", "r2", "11"), ("fp:a#7", "d", "v")], short
    )
    store.add_members([("acct:record:did:1", "p:1", "x"), ("first:did:1", "t", "5")], lasting)
    short_keys = ["acct:did:1#7", "acct:did:2#7", "fp:a#7", "fp:b#7"]
    lasting_keys = ["acct:record:did:1", "first:did:1", "first:did:2"]
    assert store.get_members(short_keys, ttl_s=short) == store.get_members(short_keys)
    assert store.get_members(short_keys, ttl_s=short) == {
        "acct:did:1#7": {"r1": "10", "r2": "11"},
        "fp:a#7": {"d": "v"},
    }
    assert store.get_members(lasting_keys, ttl_s=lasting) == store.get_members(lasting_keys)
    assert store.get_members(lasting_keys, ttl_s=lasting) == {
        "acct:record:did:1": {"p:1": "x"},
        "first:did:1": {"t": "5"},
    }
    assert store.get_members([], ttl_s=short) == {}
    clock.now += short + 1
    assert store.get_members(short_keys, ttl_s=short) == {} == store.get_members(short_keys)
    assert store.get_members(lasting_keys, ttl_s=lasting) == store.get_members(lasting_keys) != {}


def test_sqlite_get_members_told_a_short_time_to_live_does_not_look_in_the_tables(
    local_settings: Settings, clock: FakeClock
) -> None:
    """The behaviour tracker's keys the set log lacks (its `acct` kind shares the tables with
    the accounts' records) are not looked up in the tables when the read says they are
    short-lived; unhinted, they are (and found nowhere)."""
    store = SqliteStateStore(local_settings.state_path, clock=clock)
    store.add_members([("acct:record:did:1", "p:1", "x")], ttl_s=30 * 86400)
    store.add_members([("acct:did:1#7", "r1", "10")], ttl_s=600)
    wanted = ["acct:did:1#7", "acct:did:1#6", "acct:did:2#7"]
    assert store.get_members(wanted, ttl_s=600) == {"acct:did:1#7": {"r1": "10"}}
    assert not {"acct:did:1#6", "acct:did:2#7"} & store._mirror.sets.keys()  # never looked up
    assert store.get_members(wanted) == {"acct:did:1#7": {"r1": "10"}}
    assert {"acct:did:1#6", "acct:did:2#7"} <= store._mirror.sets.keys()  # looked up in the tables
    store.close()
