"""`fraud-pipeline query`: read-only SQL over the lake and the dashboard tables, three formats."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings
from tests.lake_fixtures import build_lake, recent_hours


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


def _compacted_parts(settings: Settings) -> list[Path]:
    return sorted((Path(settings.lake_path) / settings.compacted_prefix).rglob("*.parquet"))


@pytest.mark.parametrize(
    "template",
    [
        # Before: EXPLAIN ANALYZE ran the COPY and emptied a compacted part (and so the view).
        "EXPLAIN ANALYZE COPY (SELECT * FROM posts LIMIT 0) TO '{part}'",
        "EXPLAIN ANALYSE COPY (SELECT * FROM posts LIMIT 0) TO '{part}'",
        "EXPLAIN /* a comment */ ANALYZE COPY (SELECT * FROM posts LIMIT 0) TO '{part}'",
        "explain (analyze, format json) copy (select * from posts limit 0) to '{part}'",
        "SELECT 1; EXPLAIN ANALYZE COPY (SELECT * FROM posts LIMIT 0) TO '{part}'",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "EXPLAIN ANALYZE INSTALL httpfs",
        "EXPLAIN ANALYZE LOAD httpfs",
        "EXPLAIN ANALYZE SET threads = 1",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA threads = 1",
        "CALL pragma_version()",
        "CREATE MACRO m() AS 1",
    ],
)
def test_query_refuses_writes_however_wrapped(lake, template: str, tmp_path: Path) -> None:
    settings, live = lake
    part = _compacted_parts(settings)[0]
    size = part.stat().st_size
    result = _run(settings, template.format(part=part, outside=tmp_path / "x.duckdb"))
    assert result.exit_code != 0
    assert "read-only" in result.output, result.output
    assert part.stat().st_size == size
    assert not (tmp_path / "x.duckdb").exists()
    counted = _run(settings, "SELECT count(*) AS n FROM posts", "--format", "json")
    assert json.loads(counted.output) == [{"n": live}]


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN SELECT count(*) FROM posts",
        "EXPLAIN ANALYZE SELECT count(*) FROM posts",
        "EXPLAIN (FORMAT json) SELECT count(*) FROM posts",
        "EXPLAIN (SELECT 1)",
        "DESCRIBE posts",
        "SUMMARIZE posts",
        "FROM posts LIMIT 1",
    ],
)
def test_query_still_explains_and_describes_reads(lake, sql: str) -> None:
    settings, _ = lake
    result = _run(settings, sql)
    assert result.exit_code == 0, result.output


def test_query_session_configuration_is_locked(lake, tmp_path: Path) -> None:
    """The second lock: even a statement past the check reaches no file outside the lake."""
    from fraud_pipeline.analytics.query import open_session

    settings, live = lake
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    con, _ = open_session(settings)
    try:
        assert con.sql("SELECT count(*) FROM posts").fetchall() == [(live,)]
        for sql in (
            f"SELECT * FROM read_csv('{outside}')",
            f"COPY (SELECT 1) TO '{tmp_path / 'written.csv'}'",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "LOAD httpfs",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert not (tmp_path / "written.csv").exists()
    finally:
        con.close()


def test_query_reads_the_lake_on_s3_with_the_session_locked(aws_settings: Settings) -> None:
    import boto3

    boto3.client(
        "s3", region_name=aws_settings.aws_region, endpoint_url=aws_settings.endpoint_url
    ).create_bucket(Bucket=aws_settings.bucket)
    store = ObjectStore.from_settings(aws_settings)
    hours = recent_hours(1)
    truth = build_lake(store, aws_settings, hours, posts_per_hour=20)
    for hour in hours:
        compact_hour(store, aws_settings, hour)
    result = CliRunner().invoke(
        main,
        [
            "query",
            "--backend",
            "aws",
            "--endpoint-url",
            aws_settings.aws_endpoint_url,
            "--env",
            aws_settings.env,
            "--home",
            str(aws_settings.home),
            "SELECT count(*) AS n FROM posts",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"n": len(truth.live_uris)}]


def test_query_sees_the_accounts_table(lake) -> None:
    """`accounts`: the account records the delivery landed, or no rows (same columns) before any."""
    import orjson

    from fraud_pipeline.accounts.lake_table import account_record
    from fraud_pipeline.accounts.tracker import AccountVerdict
    from fraud_pipeline.lake.paths import firehose_object_key
    from fraud_pipeline.records import tagged_rows_to_table
    from fraud_pipeline.workers.delivery import parquet_bytes

    settings, _ = lake
    empty = _run(
        settings, "SELECT count(*) AS n, count(account_signals) AS s FROM accounts", "--format", "json"
    )
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.output) == [{"n": 0, "s": 0}]
    did = "did:plc:scammer00000000000000000"
    verdict = AccountVerdict(did, 1_764_000_000_000_000, 0.8, "label", ("profile_services",), "x.bsky.social")
    row = orjson.loads(account_record(verdict, 1_764_000_000_000_001, ["scam-account"]).to_json())
    store = ObjectStore.from_settings(settings)
    key = firehose_object_key(settings.accounts_prefix, settings.delivery_stream, recent_hours(1)[0])
    store.put_bytes(key, parquet_bytes(tagged_rows_to_table([row])))
    found = _run(settings, "SELECT did, action, labels FROM accounts", "--format", "json")
    assert json.loads(found.output) == [{"did": did, "action": "label", "labels": ["scam-account"]}]
