"""The state port on SQLite, memory and DynamoDB (moto server over HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import boto3
import pytest

from fraud_pipeline.settings import Settings
from fraud_pipeline.state import StateError, StateStore, open_state
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
