"""Incremental marts: after hours land (and a late tombstone rewrites an old hour), the marts
built incrementally equal a full rebuild of the same lake, table by table."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from lake_fixtures import build_lake, deletion_of, make_record, recent_hours, write_raw_file

from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import hours_env, needs_full_refresh, run_dbt_build
from fraud_pipeline.settings import Settings, load_settings

MARTS = (
    "fraud_summary",
    "score_distribution",
    "score_drift",
    "seed_metrics_per_second",
    "seed_metrics_per_minute",
    "latency_percentiles",
    "top_fraud_domains",
    "flagged_accounts",
    "fraud_campaigns",
)


def _rows(warehouse: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return sorted(con.sql(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        con.close()


def _build(settings: Settings, *args: str, warehouse: Path | None = None, hours=None) -> None:
    done = run_dbt_build(settings, *args, warehouse=warehouse, hours=hours)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.mark.slow
def test_incremental_marts_equal_a_full_rebuild(tmp_path: Path) -> None:
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    store = ObjectStore.from_settings(settings)
    hours = recent_hours(4)
    truth = build_lake(store, settings, hours[:3], posts_per_hour=60)
    for hour in hours[:2]:
        compact_hour(store, settings, hour)
    _build(settings)  # first build: every model from scratch

    # Hour 2 lands; its deletes of hour-1 posts rewrite hour 1.
    result = compact_hour(store, settings, hours[2])
    assert result.partitions_rewritten, "the fixture deletes hour-1 posts in hour 2"
    _build(settings, hours=[hours[2], hours[1]])

    # Hour 3 carries a late delete of an hour-0 post (a campaign post: its account and text lose one).
    victim = next(r for r in truth.live[hours[0]].values() if r.is_fraud)
    late = deletion_of(victim, int(hours[3].timestamp() * 1e6) + 1_000_000)
    extra = make_record(
        random.Random(9),
        int(hours[3].timestamp() * 1e6) + 2_000_000,
        fraud=True,
        text=victim.text,
        did="did:plc:late",
        domain="late-scam.example",
    )
    write_raw_file(store, settings, hours[3] + timedelta(minutes=1), [late, extra])
    result = compact_hour(store, settings, hours[3])
    assert len(result.partitions_rewritten) == 1  # hour 0, found through the uri index
    _build(settings, hours=[hours[3], hours[0]])

    full = tmp_path / "full.duckdb"
    _build(settings, "--full-refresh", warehouse=full)
    for table in MARTS:
        assert _rows(settings.warehouse_path, table) == _rows(full, table), table
    summary = dict((h, n) for h, n, *_ in _rows(full, "fraud_summary"))
    assert sum(summary.values()) == len(truth.live_uris) - 1 + 1  # one post deleted late, one added
    assert not needs_full_refresh(settings.warehouse_path)


def test_a_warehouse_from_before_the_incremental_marts_is_rebuilt_in_full(tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE TABLE fraud_summary AS SELECT 1 AS posts")
    con.close()
    assert needs_full_refresh(old)
    assert not needs_full_refresh(tmp_path / "missing.duckdb")  # dbt builds a new one in full anyway
    assert hours_env([recent_hours(1)[0]])["DBT_MART_HOURS"].startswith('["')
    assert hours_env(None) == {"DBT_MART_HOURS": ""}
