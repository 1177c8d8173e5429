"""`fraud-pipeline query --engine athena`: Trino SQL checked offline, then run in the workgroup (moto)."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from click.testing import CliRunner

from fraud_pipeline.analytics.athena_query import check_read_only_trino
from fraud_pipeline.analytics.query import QueryRefused
from fraud_pipeline.settings import Settings


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT arrival_hour, posts FROM fraud_summary ORDER BY arrival_hour DESC LIMIT 24",
        "WITH t AS (SELECT dt, count(*) AS n FROM fraud_detect_dev.posts_compacted GROUP BY dt)"
        " SELECT * FROM t",
        "SELECT domain FROM top_fraud_domains UNION SELECT domain FROM top_fraud_domains",
        "SELECT cardinality(fraud_domains) FROM flagged_accounts CROSS JOIN UNNEST(rule_hits) AS r(rule)",
    ],
)
def test_reads_are_allowed(sql: str) -> None:
    check_read_only_trino(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO fraud_summary SELECT * FROM fraud_summary",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE fraud_summary",
        "DELETE FROM fraud_summary",
        "SELECT 1; DROP TABLE fraud_summary",
        "SELEC nonsense FROM",
    ],
)
def test_writes_and_garbage_are_refused(sql: str) -> None:
    with pytest.raises(QueryRefused):
        check_read_only_trino(sql)


def _column(name: str, kind: str) -> dict[str, object]:
    """Column metadata as Athena's GetQueryResults returns it."""
    return {
        "Name": name, "Type": kind, "Label": name, "CatalogName": "hive", "SchemaName": "", "TableName": "",
        "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar", "Precision": 19, "Scale": 0,
    }  # fmt: skip


@pytest.mark.moto
def test_query_runs_in_the_workgroup(aws_settings: Settings, moto_endpoint: str) -> None:
    from fraud_pipeline.cli import main

    athena = boto3.client("athena", region_name=aws_settings.aws_region, endpoint_url=moto_endpoint)
    athena.create_work_group(
        Name=aws_settings.athena_workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{aws_settings.bucket}/athena-results/"},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 10 * 2**30,
        },
    )
    rows = [["arrival_hour", "posts"], ["2026-11-29 14:00:00.000", "120"], ["2026-11-29 15:00:00.000", "80"]]
    body = {
        "region": aws_settings.aws_region,
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": [_column("arrival_hour", "varchar"), _column("posts", "bigint")],
            }
        ],
    }  # fmt: skip
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()
    result = CliRunner().invoke(
        main,
        [
            "query", "--backend", "aws", "--env", aws_settings.env, "--endpoint-url", moto_endpoint,
            "--home", str(aws_settings.home), "--engine", "athena", "--format", "json",
            "SELECT arrival_hour, posts FROM fraud_summary ORDER BY arrival_hour",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"arrival_hour": "2026-11-29 14:00:00.000", "posts": 120},
        {"arrival_hour": "2026-11-29 15:00:00.000", "posts": 80},
    ]
    executions = athena.list_query_executions(WorkGroup=aws_settings.athena_workgroup)["QueryExecutionIds"]
    assert len(executions) == 1  # it ran in the deployment's workgroup


def test_refused_before_anything_is_sent(local_settings: Settings) -> None:
    from fraud_pipeline.cli import main

    result = CliRunner().invoke(
        main, ["query", "--engine", "athena", "--home", str(local_settings.home), "SELECT 1"]
    )
    assert result.exit_code != 0 and "aws backend" in result.output
