"""Compactions that touch the same partitions at once, with the interleaving forced, and deletes
that arrive days after their post.

The interleavings are forced, not hoped for: the object store used by the first compaction
runs the second compaction just before the first one writes its partition (the moment a
concurrent run would slip in), on both backends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from lake_fixtures import deletion_of, make_record, write_raw_file

from fraud_pipeline.lake.compaction import compact_hour, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

H0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    settings: Settings = request.getfixturevalue(f"{backend}_settings")
    ObjectStore.from_settings(settings).ensure_bucket()
    return settings


def _uris(store: ObjectStore, settings: Settings, hour: datetime) -> set[str]:
    key = compacted_key(settings, hour)
    if not store.exists(key):
        return set()
    return set(pq.read_table(store.path(key), filesystem=store.fs, columns=["uri"]).column("uri").to_pylist())


def _interrupting(settings: Settings, key: str, interruption: Callable[[], None]) -> ObjectStore:
    """A store that runs `interruption` once, right before the first write of `key`."""
    store = ObjectStore.from_settings(settings)
    fired: list[bool] = []

    def before(written: str) -> None:
        if written == key and not fired:
            fired.append(True)
            interruption()

    put_bytes, put_if = store.put_bytes, getattr(store, "put_if", None)

    def hooked_put_bytes(written: str, data: bytes) -> None:
        before(written)
        put_bytes(written, data)

    store.put_bytes = hooked_put_bytes  # type: ignore[method-assign]
    if put_if is not None:

        def hooked_put_if(written: str, data: bytes, expected: str | None) -> bool:
            before(written)
            return put_if(written, data, expected)

        store.put_if = hooked_put_if  # type: ignore[method-assign]
    return store


@pytest.mark.parametrize("backend", ["local", "aws"])
def test_a_delete_compacted_during_its_posts_compaction_does_not_resurrect_it(
    backend: str, request: pytest.FixtureRequest
) -> None:
    settings = _settings(backend, request)
    rng = random.Random(3)
    t0 = int(H0.timestamp() * 1e6) + 60_000_000
    keep = make_record(rng, t0, fraud=False, text="stays", did="did:plc:a")
    gone = make_record(rng, t0 + 1, fraud=True, text="deleted an hour later", did="did:plc:b")
    write_raw_file(ObjectStore.from_settings(settings), settings, H0 + timedelta(minutes=2), [keep, gone])
    h1 = H0 + timedelta(hours=1)
    later_delete = deletion_of(gone, int(h1.timestamp() * 1e6) + 5_000_000)
    write_raw_file(ObjectStore.from_settings(settings), settings, h1 + timedelta(minutes=3), [later_delete])

    # The hour of the delete is compacted while H0's compaction has read its inputs but not written.
    store = _interrupting(
        settings,
        compacted_key(settings, H0),
        lambda: compact_hour(ObjectStore.from_settings(settings), settings, h1),
    )
    result = compact_hour(store, settings, H0)
    assert _uris(ObjectStore.from_settings(settings), settings, H0) == {keep.uri}
    assert result.conflicts >= 1


@pytest.mark.parametrize("backend", ["local", "aws"])
def test_two_compactions_of_one_hour_keep_the_late_row(backend: str, request: pytest.FixtureRequest) -> None:
    settings = _settings(backend, request)
    rng = random.Random(4)
    t0 = int(H0.timestamp() * 1e6) + 60_000_000
    first = make_record(rng, t0, fraud=False, text="on time", did="did:plc:a")
    late = make_record(rng, t0 + 10, fraud=False, text="in a late file", did="did:plc:c")
    write_raw_file(ObjectStore.from_settings(settings), settings, H0 + timedelta(minutes=2), [first])

    def late_file_and_second_run() -> None:
        fresh = ObjectStore.from_settings(settings)
        write_raw_file(fresh, settings, H0 + timedelta(minutes=50), [late])
        compact_hour(fresh, settings, H0)  # the run the late file triggered finishes first

    store = _interrupting(settings, compacted_key(settings, H0), late_file_and_second_run)
    compact_hour(store, settings, H0)  # the older run writes last
    assert _uris(ObjectStore.from_settings(settings), settings, H0) == {first.uri, late.uri}


def test_a_tombstone_a_week_late_finds_its_hour(local_settings: Settings) -> None:
    settings = local_settings
    store = ObjectStore.from_settings(settings)
    rng = random.Random(5)
    t0 = int(H0.timestamp() * 1e6) + 60_000_000
    keep = make_record(rng, t0, fraud=False, text="stays", did="did:plc:a")
    gone = make_record(rng, t0 + 1, fraud=True, text="deleted a week later", did="did:plc:b")
    write_raw_file(store, settings, H0 + timedelta(minutes=2), [keep, gone])
    compact_hour(store, settings, H0)
    # Unrelated hours in between (the index must pick H0 out of them).
    for back in (1, 30, 100):
        other = H0 + timedelta(hours=back)
        write_raw_file(
            store,
            settings,
            other,
            [make_record(rng, int(other.timestamp() * 1e6), fraud=False, text="noise", did="did:plc:n")],
        )
        compact_hour(store, settings, other)
    week = H0 + timedelta(days=7)
    write_raw_file(
        store, settings, week + timedelta(minutes=1), [deletion_of(gone, int(week.timestamp() * 1e6))]
    )
    result = compact_hour(store, settings, week)
    assert _uris(store, settings, H0) == {keep.uri}
    assert result.partitions_rewritten == [compacted_key(settings, H0)]
    assert result.deletes_applied == 1
    # A late raw file for H0 recompacts it: the post stays deleted.
    write_raw_file(store, settings, H0 + timedelta(minutes=58), [keep])
    compact_hour(store, settings, H0)
    assert _uris(store, settings, H0) == {keep.uri}


def test_an_hour_compacted_first_a_week_after_its_delete_loses_the_post(local_settings: Settings) -> None:
    """The reverse order: the delete's hour is compacted a week after the post's hour, but the
    post's hour is compacted for the first time only after that (a late run, an out-of-order
    backfill), beyond the 24 h of later tombstones a compaction reads by default."""
    settings = local_settings
    store = ObjectStore.from_settings(settings)
    rng = random.Random(6)
    t0 = int(H0.timestamp() * 1e6) + 60_000_000
    keep = make_record(rng, t0, fraud=False, text="stays", did="did:plc:a")
    gone = make_record(rng, t0 + 1, fraud=True, text="deleted a week later", did="did:plc:b")
    write_raw_file(store, settings, H0 + timedelta(minutes=2), [keep, gone])
    week = H0 + timedelta(days=7)
    write_raw_file(
        store, settings, week + timedelta(minutes=1), [deletion_of(gone, int(week.timestamp() * 1e6))]
    )
    first = compact_hour(store, settings, week)  # H0 has no partition (nor index) yet
    assert first.partitions_rewritten == []
    result = compact_hour(store, settings, H0)
    assert _uris(store, settings, H0) == {keep.uri}
    assert result.deletes_applied == 1
    # A post that reaches an already compacted hour in a late raw file, after its delete was
    # compacted more than 24 h later, stays out too.
    late = make_record(rng, t0 + 2, fraud=True, text="late and deleted", did="did:plc:c")
    later = week + timedelta(hours=1)
    write_raw_file(
        store, settings, later + timedelta(minutes=1), [deletion_of(late, int(later.timestamp() * 1e6))]
    )
    compact_hour(store, settings, later)
    write_raw_file(store, settings, H0 + timedelta(minutes=59), [late])
    compact_hour(store, settings, H0)
    assert _uris(store, settings, H0) == {keep.uri}
    # Recompacting is still byte-identical.
    before = store.get_bytes(compacted_key(settings, H0))
    compact_hour(store, settings, H0)
    assert store.get_bytes(compacted_key(settings, H0)) == before


@pytest.mark.parametrize("backend", ["local", "aws"])
def test_conditional_writes(backend: str, request: pytest.FixtureRequest) -> None:
    settings = _settings(backend, request)
    store = ObjectStore.from_settings(settings)
    key = "compacted/probe.bin"
    assert store.version(key) is None
    assert store.put_if(key, b"one", None)
    v1 = store.version(key)
    assert v1 is not None
    assert not store.put_if(key, b"two", None)  # exists now
    assert store.put_if(key, b"two", v1)
    assert store.get_bytes(key) == b"two"
    assert not store.put_if(key, b"three", v1)  # stale version
    assert store.get_bytes(key) == b"two"
