"""DuckDB over the compacted lake, on both backends, for dbt, Dagster and ad hoc queries.

S3 choice: DuckDB 2.0.x has no httpfs extension on PyPI (the `duckdb-extension-httpfs`
packages stop at 1.5) and nothing may be downloaded at run time, so DuckDB reads S3 through
fsspec: `ArrowFSWrapper` over the very `pyarrow.fs.S3FileSystem` the object store uses
(same endpoint, region and credentials), registered under the `s3` protocol. One
filesystem object for every reader means the moto/LocalStack endpoint and real AWS behave
alike, and no second S3 client (s3fs/aiobotocore, whose botocore pins fight boto3's) is
needed. Locally the lake is a folder and DuckDB reads it directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.arrow import ArrowFSWrapper

from fraud_pipeline.lake.compaction import meta_prefix
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA
from fraud_pipeline.settings import Settings, env_var_names

SCHEMA_FILE = "schema/posts.parquet"  # under compacted_meta/: outside the table location


class S3ArrowFileSystem(ArrowFSWrapper):
    """fsspec view of a pyarrow S3FileSystem that answers to `s3://` paths (for DuckDB)."""

    protocol = "s3"


def lake_uri(settings: Settings, key: str) -> str:
    """What DuckDB reads for a lake key: an absolute local path, or s3://bucket/key."""
    if settings.backend == "aws":
        return f"s3://{settings.bucket}/{key.lstrip('/')}"
    return str(Path(settings.lake_path).resolve() / key.lstrip("/"))


def compacted_glob(settings: Settings) -> str:
    return lake_uri(settings, f"{settings.compacted_prefix}dt=*/hour=*/*.parquet")


def schema_file_uri(settings: Settings) -> str:
    return lake_uri(settings, meta_prefix(settings) + SCHEMA_FILE)


def ensure_schema_file(store: ObjectStore, settings: Settings) -> None:
    """A zero-row Parquet file with the lake schema, so views work before the first partition."""
    key = meta_prefix(settings) + SCHEMA_FILE
    if not store.exists(key):
        sink = pa.BufferOutputStream()
        pq.write_table(TAGGED_ARROW_SCHEMA.empty_table(), sink)
        store.put_bytes(key, sink.getvalue().to_pybytes())


def register_lake_filesystem(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Let DuckDB read s3:// paths of the lake bucket (no-op on the local backend)."""
    if settings.backend != "aws" or con.filesystem_is_registered("s3"):
        return
    con.register_filesystem(S3ArrowFileSystem(ObjectStore.from_settings(settings).fs))


def posts_relation_sql(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """SQL for the compacted lake with `dt` (DATE) and `hour` (INTEGER) partition columns."""
    glob = compacted_glob(settings)
    found = con.sql(f"SELECT count(*) FROM glob('{_quote(glob)}')").fetchall()[0][0]
    if found:
        return (
            f"SELECT * FROM read_parquet('{_quote(glob)}', hive_partitioning = true, "
            "hive_types = {'dt': DATE, 'hour': INTEGER})"
        )
    # Empty lake: the same columns, no rows (read from the schema file, typed as the lake).
    return (
        f"SELECT *, NULL::DATE AS dt, NULL::INTEGER AS hour "
        f"FROM read_parquet('{_quote(schema_file_uri(settings))}') WHERE false"
    )


def create_posts_view(con: duckdb.DuckDBPyConnection, settings: Settings, name: str = "posts") -> None:
    register_lake_filesystem(con, settings)
    ensure_schema_file(ObjectStore.from_settings(settings), settings)
    con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {posts_relation_sql(con, settings)}')


def dbt_env(settings: Settings, warehouse_path: Path | None = None) -> dict[str, str]:
    """Environment for a dbt process: where the lake is and which DuckDB file to build."""
    env = {var: str(getattr(settings, name)) for name, var in env_var_names().items()}
    env["FRAUD_PIPELINE_HOME"] = str(Path(settings.home).resolve())
    env |= {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "FRAUD_PIPELINE_COMPACTED_GLOB": compacted_glob(settings),
        "FRAUD_PIPELINE_ACCOUNTS_GLOB": lake_uri(settings, f"{settings.accounts_prefix}*/*/*/*/*.parquet"),
        "FRAUD_PIPELINE_POSTS_SCHEMA_FILE": schema_file_uri(settings),
        "FRAUD_PIPELINE_WAREHOUSE_PATH": str((warehouse_path or settings.warehouse_path).resolve()),
        "FRAUD_PIPELINE_POLICY_VARS": policy_dbt_vars(settings),
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def policy_dbt_vars(settings: Settings) -> str:
    """The detection policy's numbers the marts use (dbt's `policy_value` macro), as JSON."""
    import orjson

    from fraud_pipeline.policy.runtime import current_policy

    policy = current_policy(settings)
    return orjson.dumps(
        {"policy_version": policy.version, "fraud_rate_jump": policy.spec.fraud_rate_jump.model_dump()}
    ).decode()


def _quote(text: str) -> str:
    return text.replace("'", "''")
