"""Compaction of raw lake hours: dedup, deletes (same hour and later hour), idempotence, bad files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from fraud_pipeline.lake.compaction import (
    CompactionError,
    compact_hour,
    compacted_key,
    raw_hours,
)
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA
from fraud_pipeline.settings import Settings
from tests.lake_fixtures import build_lake, make_record, write_raw_file

HOURS = [datetime(2026, 11, 29, h, tzinfo=UTC) for h in (10, 11, 12)]


def _read(store: ObjectStore, settings: Settings, hour: datetime):
    return pq.read_table(store.path(compacted_key(settings, hour)), filesystem=store.fs)


@pytest.fixture()
def lake(local_settings: Settings):
    store = ObjectStore.from_settings(local_settings)
    truth = build_lake(store, local_settings, HOURS, posts_per_hour=150)
    return store, truth


def test_compaction_keeps_newest_live_version_per_uri(lake, local_settings: Settings) -> None:
    store, truth = lake
    results = [compact_hour(store, local_settings, h) for h in HOURS]
    assert sum(r.rows_in for r in results) == truth.rows_written
    assert sum(r.duplicates_dropped for r in results) > 0
    for hour in HOURS:
        table = _read(store, local_settings, hour)
        assert table.schema.equals(TAGGED_ARROW_SCHEMA.with_metadata(None), check_metadata=False)
        uris = table.column("uri").to_pylist()
        assert len(uris) == len(set(uris)), "a uri appears twice in one partition"
        assert set(uris) == set(truth.live.get(hour, {})), hour
        texts = dict(zip(uris, table.column("text").to_pylist(), strict=True))
        for uri, rec in truth.live.get(hour, {}).items():
            assert texts[uri] == rec.text  # the edited text where an edit arrived
        times = table.column("time_us").to_pylist()
        assert times == sorted(times)
    all_uris = {u for h in HOURS for u in _read(store, local_settings, h).column("uri").to_pylist()}
    assert not all_uris & truth.deleted
    assert sum(r.deletes_applied for r in results) >= len(truth.deleted) > 0
    assert results[0].fraud_rate > 0.1


def test_cross_hour_delete_is_applied_in_any_order(lake, local_settings: Settings) -> None:
    store, truth = lake
    # Later hour first: its tombstones must keep the earlier hour's deleted posts out.
    for hour in reversed(HOURS):
        compact_hour(store, local_settings, hour)
    first = set(_read(store, local_settings, HOURS[0]).column("uri").to_pylist())
    assert first == set(truth.live[HOURS[0]])
    # And in order: the later hour rewrites the earlier partition.
    other = ObjectStore.local(local_settings.lake_path)
    second = compact_hour(other, local_settings, HOURS[1])
    assert compacted_key(local_settings, HOURS[0]) not in second.partitions_rewritten  # already clean


def test_later_hour_rewrites_earlier_partition(local_settings: Settings) -> None:
    import random

    store = ObjectStore.from_settings(local_settings)
    rng = random.Random(1)
    h0, h1 = HOURS[0], HOURS[1]
    t0 = int(h0.timestamp() * 1e6) + 60_000_000
    keep = make_record(rng, t0, fraud=False, text="stays", did="did:plc:a")
    gone = make_record(rng, t0 + 1, fraud=True, text="deleted later", did="did:plc:b")
    write_raw_file(store, local_settings, h0 + timedelta(minutes=1), [keep, gone])
    compact_hour(store, local_settings, h0)
    assert _read(store, local_settings, h0).num_rows == 2
    from tests.lake_fixtures import deletion_of

    write_raw_file(store, local_settings, h1 + timedelta(minutes=1), [deletion_of(gone, t0 + 3_600_000_000)])
    result = compact_hour(store, local_settings, h1)
    assert result.partitions_rewritten == [compacted_key(local_settings, h0)]
    assert result.deletes_applied == 1
    assert _read(store, local_settings, h0).column("uri").to_pylist() == [keep.uri]
    assert _read(store, local_settings, h1).num_rows == 0


def test_compacting_twice_is_byte_identical(lake, local_settings: Settings) -> None:
    store, _ = lake
    for hour in HOURS:
        compact_hour(store, local_settings, hour)
    first = {h: store.get_bytes(compacted_key(local_settings, h)) for h in HOURS}
    for hour in HOURS:
        again = compact_hour(store, local_settings, hour)
        assert again.partitions_rewritten == []
    assert {h: store.get_bytes(compacted_key(local_settings, h)) for h in HOURS} == first


def test_bad_raw_file_is_rejected_and_counted(lake, local_settings: Settings) -> None:
    store, _ = lake
    hour = HOURS[0]
    store.put_bytes(
        f"{local_settings.posts_prefix}{hour:%Y/%m/%d/%H}/broken-1.parquet", b"not parquet at all"
    )
    result = compact_hour(store, local_settings, hour)
    assert [r.key.rsplit("/", 1)[-1] for r in result.rejected_files] == ["broken-1.parquet"]
    assert "ArrowInvalid" in result.rejected_files[0].reason or "Parquet" in result.rejected_files[0].reason
    assert result.rows_out > 0


def test_hour_with_only_unreadable_files_fails_clearly(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    store.put_bytes(f"{local_settings.posts_prefix}2026/11/29/10/x.parquet", b"\x00\x01")
    with pytest.raises(CompactionError, match="none of the 1 raw files"):
        compact_hour(store, local_settings, HOURS[0])


def test_empty_hour_writes_empty_partition(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    result = compact_hour(store, local_settings, HOURS[2])
    assert (result.files_in, result.rows_out) == (0, 0)
    assert _read(store, local_settings, HOURS[2]).num_rows == 0


def test_raw_hours_walks_prefixes(lake, local_settings: Settings) -> None:
    store, _ = lake
    assert raw_hours(store, local_settings) == HOURS
