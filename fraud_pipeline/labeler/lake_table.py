"""The lake's `labels` table: every published label (and negation) as a row, for analytics to join.

The labels worker copies the label store to `labels/YYYY/MM/DD/HH/labels-<first>-<last>.parquet`
(named by sequence range, so a retried copy overwrites itself). The table is registered in the
catalog beside `posts` (`provision`), with the same hourly partition projection, and
`fraud-pipeline query` sees it as `labels`: join on `uri` to the posts.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from fraud_pipeline.catalog.base import Catalog, Column, lake_columns
from fraud_pipeline.labeler.store import StoredLabel
from fraud_pipeline.settings import Settings

LABELS_TABLE = "labels"

LABELS_ARROW_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("src", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("cid", pa.string()),
        pa.field("val", pa.string(), nullable=False),
        pa.field("neg", pa.bool_(), nullable=False),
        pa.field("cts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("exp", pa.timestamp("ms", tz="UTC")),
        pa.field("sig", pa.string()),  # base64, as atproto's JSON carries bytes
    ]
)


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def labels_table(stored: list[StoredLabel]) -> pa.Table:
    """Stored labels as rows of the lake's `labels` table."""
    columns: dict[str, list[Any]] = {name: [] for name in LABELS_ARROW_SCHEMA.names}
    for item in stored:
        label = item.label
        columns["seq"].append(item.seq)
        columns["src"].append(label.src)
        columns["uri"].append(label.uri)
        columns["cid"].append(label.cid)
        columns["val"].append(label.val)
        columns["neg"].append(label.neg)
        columns["cts"].append(_timestamp(label.cts))
        columns["exp"].append(_timestamp(label.exp))
        columns["sig"].append(base64.b64encode(label.sig).decode())
    return pa.table(columns, schema=LABELS_ARROW_SCHEMA)


def labels_location(settings: Settings) -> str:
    if settings.backend == "aws":
        return f"s3://{settings.bucket}/{settings.labels_prefix}"
    return settings.lake_path.resolve().as_uri() + "/" + settings.labels_prefix


def ensure_labels_table(catalog: Catalog, settings: Settings) -> None:
    """The `labels` table in the catalog (Glue | DuckDB), partitioned by the hour like the raw lake."""
    from fraud_pipeline.provision import RAW_PARTITION_KEY, raw_table_parameters

    location = labels_location(settings)
    catalog.ensure_table(
        settings.glue_database,
        LABELS_TABLE,
        lake_columns(LABELS_ARROW_SCHEMA),
        location,
        partition_keys=[Column(RAW_PARTITION_KEY, "string")],
        parameters=raw_table_parameters(location),
    )


def create_labels_view(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """`labels` in an ad hoc query session: the copied labels, or no rows with the same columns."""
    from fraud_pipeline.analytics.lake_sql import lake_uri

    glob = lake_uri(settings, f"{settings.labels_prefix}*/*/*/*/*.parquet").replace("'", "''")
    found = con.sql(f"SELECT count(*) FROM glob('{glob}')").fetchall()[0][0]
    if found:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {LABELS_TABLE} AS SELECT * FROM read_parquet('{glob}')")
    else:
        con.register("_labels_empty", LABELS_ARROW_SCHEMA.empty_table())
        con.execute(f"CREATE OR REPLACE TEMP VIEW {LABELS_TABLE} AS SELECT * FROM _labels_empty")
