"""`fraud-pipeline query`: read-only SQL over the lake and the dashboard tables, three formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lake_fixtures import build_lake, recent_hours

from fraud_pipeline.cli import main
from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings


@pytest.fixture()
def lake(local_settings: Settings) -> tuple[Settings, int]:
    store = ObjectStore.from_settings(local_settings)
    hours = recent_hours(2)
    truth = build_lake(store, local_settings, hours, posts_per_hour=40)
    for hour in hours:
        compact_hour(store, local_settings, hour)
    return local_settings, len(truth.live_uris)


def _run(settings: Settings, *args: str):
    return CliRunner().invoke(main, ["query", "--home", str(settings.home), *args], catch_exceptions=False)


def test_query_posts_view_in_three_formats(lake) -> None:
    settings, live = lake
    as_json = _run(settings, "SELECT count(*) AS n, count(DISTINCT uri) AS u FROM posts", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [{"n": live, "u": live}]
    as_csv = _run(settings, "SELECT hour, count(*) AS n FROM posts GROUP BY 1 ORDER BY 1", "--format", "csv")
    lines = as_csv.output.strip().splitlines()
    assert lines[0] == "hour,n" and sum(int(x.split(",")[1]) for x in lines[1:]) == live
    table = _run(settings, "SELECT 'a' AS x UNION ALL SELECT 'bb'")
    assert "(2 rows)" in table.output and table.output.splitlines()[0].startswith("x")


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO posts SELECT * FROM posts",
        "COPY (SELECT 1) TO '/tmp/fraud_pipeline_query_write.csv'",
        "SELECT 1; DROP VIEW posts",
        "ATTACH '/tmp/x.duckdb' AS x",
    ],
)
def test_query_refuses_writes(lake, sql: str) -> None:
    settings, _ = lake
    result = _run(settings, sql)
    assert result.exit_code != 0
    assert "read-only" in result.output
    assert not Path("/tmp/fraud_pipeline_query_write.csv").exists()


def test_query_reads_dashboard_tables_without_locking(lake) -> None:
    import duckdb

    settings, _ = lake
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("CREATE TABLE fraud_summary AS SELECT 7 AS posts")
    con.close()
    result = _run(settings, "SELECT posts FROM fraud_summary", "--format", "json")
    assert json.loads(result.output) == [{"posts": 7}]
    # The query session holds no lock afterwards: a writer can open the warehouse.
    duckdb.connect(str(settings.warehouse_path)).close()


def test_query_reports_bad_sql_clearly(lake) -> None:
    settings, _ = lake
    result = _run(settings, "SELECT nope FROM posts")
    assert result.exit_code != 0 and "query failed" in result.output
