"""The dbt project: one `dbt build` (models, data tests, unit tests) over a replayed, compacted lake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from fraud_pipeline.analytics.lake_sql import ensure_schema_file
from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import run_dbt_build
from fraud_pipeline.settings import Settings, load_settings
from tests.lake_fixtures import LakeTruth, build_lake, recent_hours


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, LakeTruth, str]]:
    settings = load_settings(environ={}, backend="local", home=tmp_path_factory.mktemp("dbt") / "home")
    store = ObjectStore.from_settings(settings)
    hours = recent_hours(3)
    truth = build_lake(store, settings, hours, posts_per_hour=90)
    for hour in hours:
        compact_hour(store, settings, hour)
    _write_account_records(store, settings, truth)
    done = run_dbt_build(settings)
    yield settings, truth, done.stdout + done.stderr


def _write_account_records(store: ObjectStore, settings: Settings, truth: LakeTruth) -> None:
    """The accounts table as the delivery lands it: one account with fraud posts flagged and
    cleared again (its newest record says none), one flagged for review, one labelled then
    lowered to review, and the same record twice (a retried batch)."""
    from fraud_pipeline.accounts.lake_table import account_record
    from fraud_pipeline.accounts.tracker import AccountVerdict
    from fraud_pipeline.lake.paths import firehose_object_key
    from fraud_pipeline.records import tagged_rows_to_table
    from fraud_pipeline.workers.delivery import parquet_bytes

    fraud_dids = sorted({r.did for by in truth.live.values() for r in by.values() if r.is_fraud})
    cleared, reviewed = fraud_dids[:2]
    lowered = "did:plc:nopostsatall0000000000"
    t = 1_764_000_000_000_000
    rows = [
        (cleared, t, 0.8, "label"),
        (cleared, t + 10, 0.1, "none"),
        (reviewed, t, 0.6, "review"),
        (reviewed, t, 0.6, "review"),
        (lowered, t, 0.9, "label"),
        (lowered, t + 5, 0.55, "review"),
    ]
    records = [
        account_record(
            AccountVerdict(did, when, score, action, ("profile_services",), None), when + 1, ["scam-account"]
        )
        for did, when, score, action in rows
    ]
    table = tagged_rows_to_table([orjson.loads(r.to_json()) for r in records])
    key = firehose_object_key(settings.accounts_prefix, settings.delivery_stream, truth.hours[0])
    store.put_bytes(key, parquet_bytes(table))
    truth.flagged_accounts = {reviewed: ("review", 0.6), lowered: ("review", 0.55)}  # type: ignore[attr-defined]


def test_dbt_build_is_green(built) -> None:
    _, _, output = built
    assert "Completed successfully" in output, output[-3000:]
    assert "ERROR=0" in output and "PASS=" in output
    assert "unit_test" in output  # the YAML unit tests ran


def test_marts_match_the_lake(built) -> None:
    settings, truth, _ = built
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        posts = con.sql("SELECT sum(posts) FROM fraud_summary").fetchall()[0][0]
        assert posts == len(truth.live_uris)
        per_second = con.sql(
            "SELECT sum(post_processed), sum(post_with_media + post_text_only) FROM seed_metrics_per_second"
        ).fetchall()[0]
        assert per_second == (posts, posts)
        # The campaigns the scorer named (campaign_id), however many accounts: the mart groups
        # by the id, so an edited post stays in its campaign.
        campaigns = dict(con.sql("SELECT campaign_id, accounts FROM fraud_campaigns").fetchall())
        live = [r for by in truth.live.values() for r in by.values()]
        named = {r.campaign_id for r in live if r.campaign_id}
        assert named and set(campaigns) == named
        for campaign in named:
            assert campaigns[campaign] == len({r.did for r in live if r.campaign_id == campaign})
        domains = {d for (d,) in con.sql("SELECT domain FROM top_fraud_domains").fetchall()}
        assert domains == truth.fraud_domains
        # Accounts whose newest account record is flagged, with their posts beside them.
        flagged = con.sql("SELECT did, action, score, posts, fraud_posts FROM flagged_accounts").fetchall()
        assert {did: (action, score) for did, action, score, _, _ in flagged} == truth.flagged_accounts
        live = [r for by in truth.live.values() for r in by.values()]
        for did, _, _, posts, fraud_posts in flagged:
            assert posts == sum(r.did == did for r in live)
            assert fraud_posts == sum(r.did == did and r.is_fraud for r in live)
        drift = con.sql("SELECT count(*), count(psi) FROM score_drift").fetchall()[0]
        assert drift == (3, 2)  # the first hour has no trailing window
    finally:
        con.close()


def test_dbt_builds_green_on_an_empty_lake(tmp_path: Path) -> None:
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    ensure_schema_file(ObjectStore.from_settings(settings), settings)
    done = run_dbt_build(settings, "--exclude", "resource_type:unit_test")
    assert done.returncode == 0, done.stdout[-3000:]
