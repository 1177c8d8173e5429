"""dbt-duckdb plugin: give dbt's DuckDB connections the lake's S3 filesystem (see lake_sql).

Named in `dbt/profiles.yml` (`plugins: [{module: fraud_pipeline.analytics.dbt_plugin}]`); it
reads the same `FRAUD_PIPELINE_*` variables as every other process, so dbt reads the bucket
the pipeline writes, through the same endpoint.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from fraud_pipeline.analytics.lake_sql import register_lake_filesystem
from fraud_pipeline.settings import load_settings


class Plugin(BasePlugin):
    def configure_connection(self, conn: Any) -> None:
        register_lake_filesystem(conn, load_settings())
