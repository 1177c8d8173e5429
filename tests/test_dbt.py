"""The dbt project: one `dbt build` (models, data tests, unit tests) over a replayed, compacted lake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
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
    done = run_dbt_build(settings)
    yield settings, truth, done.stdout + done.stderr


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
        flagged = con.sql("SELECT count(*) FROM flagged_accounts").fetchall()[0][0]
        live_fraud_dids = {r.did for by in truth.live.values() for r in by.values() if r.is_fraud}
        assert flagged == len(live_fraud_dids)
        drift = con.sql("SELECT count(*), count(psi) FROM score_drift").fetchall()[0]
        assert drift == (3, 2)  # the first hour has no trailing window
    finally:
        con.close()


def test_dbt_builds_green_on_an_empty_lake(tmp_path: Path) -> None:
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    ensure_schema_file(ObjectStore.from_settings(settings), settings)
    done = run_dbt_build(settings, "--exclude", "resource_type:unit_test")
    assert done.returncode == 0, done.stdout[-3000:]
