"""The Athena target: `dbt parse` offline, and every model's Athena SQL checked in Trino's dialect.

Compiling needs an adapter connection (is_incremental() asks the catalog), so the models are
compiled for the athena target against moto's Glue on 127.0.0.1: nothing leaves the machine,
nothing runs on Athena. Each compiled model must then parse as Trino SQL (sqlglot) and use
none of DuckDB's spellings, which the cross-database macros in dbt/macros/cross_db.sql replace.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import boto3
import pytest
import sqlglot

from fraud_pipeline.analytics.lake_sql import dbt_env
from fraud_pipeline.orchestration.dbt_project import DBT_DIR, DBT_EXECUTABLE
from fraud_pipeline.settings import Settings

# DuckDB-only spellings that Athena (Trino) would reject.
DUCKDB_ONLY = re.compile(
    r"::|\blist_\w+\(|\blist\(|\blen\(|\bquantile_cont\(|\bmake_timestamp\(|\brange\(\d|\[:\d|'g'\)"
)


def _dbt(settings: Settings, command: str, target_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **dbt_env(settings),
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    return subprocess.run(
        [DBT_EXECUTABLE, command, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target", "athena", "--target-path", str(target_path), *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.moto
def test_athena_target_parses_offline_and_every_model_is_trino_sql(
    aws_settings: Settings, tmp_path: Path
) -> None:
    parsed = _dbt(aws_settings, "parse", tmp_path / "parse")
    assert parsed.returncode == 0, (parsed.stdout + parsed.stderr)[-3000:]

    glue = boto3.client("glue", region_name=aws_settings.aws_region, endpoint_url=aws_settings.endpoint_url)
    glue.create_database(DatabaseInput={"Name": aws_settings.athena_database})
    compiled = _dbt(aws_settings, "compile", tmp_path / "compile", "--exclude", "resource_type:unit_test")
    assert compiled.returncode == 0, (compiled.stdout + compiled.stderr)[-3000:]
    models = sorted((tmp_path / "compile" / "compiled" / "fraud_pipeline" / "models").rglob("*.sql"))
    names = {p.stem for p in models}
    assert {"stg_posts", "fraud_summary", "flagged_accounts", "fraud_campaigns", "score_drift"} <= names
    for path in models:
        sql = path.read_text()
        assert not DUCKDB_ONLY.search(sql), f"{path.name}: DuckDB-only SQL: {DUCKDB_ONLY.search(sql)}"
        tree = sqlglot.parse_one(sql, read="trino")  # raises on anything Trino cannot parse
        assert sqlglot.parse_one(tree.sql(dialect="trino"), read="trino") is not None
    stg = tmp_path / "compile" / "compiled" / "fraud_pipeline" / "models" / "staging" / "stg_posts.sql"
    text = stg.read_text()
    assert f'"{aws_settings.glue_database}"."{aws_settings.glue_compacted_table}"' in text  # the Glue table
    assert "cardinality(" in text and "from_unixtime(" in text


def test_the_engine_setting_picks_athena_only_on_the_aws_backend(tmp_path: Path) -> None:
    from fraud_pipeline.orchestration.dbt_project import uses_athena
    from fraud_pipeline.settings import SettingsError, load_settings

    athena = {"FRAUD_PIPELINE_ANALYTICS_ENGINE": "athena"}
    assert uses_athena(load_settings(environ=athena, backend="aws", home=tmp_path))
    assert not uses_athena(load_settings(environ=athena, backend="local", home=tmp_path))
    assert not uses_athena(load_settings(environ={}, backend="aws", home=tmp_path))
    with pytest.raises(SettingsError):
        load_settings(environ={"FRAUD_PIPELINE_ANALYTICS_ENGINE": "spark"})
