"""Drill-down tables: the dbt dashboard marts (DuckDB warehouse) and recent fraud posts (raw lake).

Marts are read through `WarehouseReader` (a private snapshot, so the dashboard never blocks a
dbt build). A mart that is not built yet is reported as such, with the command that builds it,
instead of an error. "Recent fraud posts" come straight from the newest raw-lake Parquet files
(Firehose output, minutes fresher than any mart), with bounded work per request: at most
`MAX_HOURS` hour folders and `MAX_FILES` files, newest first, reading only the columns shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraud_pipeline.dashboard.data import DashboardRequestError
from fraud_pipeline.dashboard.warehouse import WarehouseBusy, WarehouseMissing, WarehouseReader
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.objects.store import ObjectStoreError
from fraud_pipeline.settings import Settings

BUILD_HINT = "not built yet: run `fraud-pipeline backfill`"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_FILES = 24
MAX_HOURS = 3
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_TEXT_CHARS = 500
RECENT_FRAUD = "recent_fraud_posts"
RECENT_COLUMNS: tuple[str, ...] = (
    "time_utc",
    "did",
    "uri",
    "text",
    "fraud_score",
    "fraud_text_likelihood",
    "fraud_media_likelihood",
    "labels",
    "reasons",
    "domains",
)


@dataclass(frozen=True, slots=True)
class MartSpec:
    """A dbt mart (`dbt/models/marts/<relation>.sql`) shown as a drill-down table.

    `order_by` lists (column, direction) pairs; those the mart actually has are used, so a
    renamed column degrades to a differently ordered table rather than an error.
    """

    key: str
    title: str
    description: str
    relation: str
    order_by: tuple[tuple[str, str], ...] = field(default=())


MARTS: tuple[MartSpec, ...] = (
    MartSpec(
        "fraud_summary",
        "Fraud summary by hour",
        "Per arrival hour: posts, fraud posts and rate, accounts, media, mean score (compacted lake).",
        "fraud_summary",
        (("arrival_hour", "DESC"),),
    ),
    MartSpec(
        "top_fraud_domains",
        "Top domains in fraud posts",
        "Link domains of fraud posts, ranked by fraud posts.",
        "top_fraud_domains",
        (("rank", "ASC"),),
    ),
    MartSpec(
        "fraud_campaigns",
        "Campaigns",
        "The same normalized text posted by many distinct accounts: bulk scam campaigns.",
        "fraud_campaigns",
        (("accounts", "DESC"), ("posts", "DESC"), ("campaign_id", "ASC")),
    ),
    MartSpec(
        "flagged_accounts",
        "Flagged accounts",
        "Accounts whose own verdict is label or review (profile, replies, follows), highest score first.",
        "flagged_accounts",
        (("score", "DESC"), ("fraud_posts", "DESC"), ("did", "ASC")),
    ),
    MartSpec(
        "latency_percentiles",
        "Latency percentiles",
        "Per minute: end-to-end (event to verdict) and scoring latency percentiles (ms).",
        "latency_percentiles",
        (("ts", "DESC"),),
    ),
    MartSpec(
        "score_distribution",
        "Score distribution",
        "Per arrival hour: fraud-score histogram in ten 0.1-wide buckets.",
        "score_distribution",
        (("arrival_hour", "DESC"), ("bucket", "ASC")),
    ),
    MartSpec(
        "score_drift",
        "Score drift",
        "Per arrival hour: mean score and fraud rate against the trailing window, and the PSI.",
        "score_drift",
        (("arrival_hour", "DESC"),),
    ),
)


def jsonable(value: Any) -> Any:
    """A cell as JSON can carry it (timestamps as ISO strings, Decimals as floats, NaN as null)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise DashboardRequestError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_list() -> list[dict[str, str]]:
    marts = [
        {"key": m.key, "title": m.title, "description": m.description, "source": "warehouse"} for m in MARTS
    ]
    recent = {
        "key": RECENT_FRAUD,
        "title": "Recent fraud posts",
        "description": "Newest fraud verdicts straight from the raw lake (Parquet as delivered).",
        "source": "lake",
    }
    return [recent, *marts]


def mart_by_key(key: str) -> MartSpec:
    for mart in MARTS:
        if mart.key == key:
            return mart
    raise DashboardRequestError(f"unknown table {key!r}; known: {[t['key'] for t in table_list()]}")


def read_mart(reader: WarehouseReader, mart: MartSpec, limit: int) -> dict[str, Any]:
    """Rows of a mart, or a `not_built`/`busy` status with a message; never raises for absence."""
    base = {"key": mart.key, "title": mart.title, "description": mart.description, "source": "warehouse"}
    try:
        with reader.session() as session:
            present = session.tables()
            name = mart.relation
            if name not in present:
                return base | {"status": "not_built", "message": BUILD_HINT, "columns": [], "rows": []}
            relation = f"{_quote_ident(present[name])}.{_quote_ident(name)}"
            columns = session.query(f"SELECT * FROM {relation} LIMIT 0").columns
            order = [f"{_quote_ident(c)} {d} NULLS LAST" for c, d in mart.order_by if c in columns]
            order_sql = f" ORDER BY {', '.join(order)}" if order else ""
            result = session.query(f"SELECT * FROM {relation}{order_sql} LIMIT ?", [limit])
    except WarehouseMissing:
        return base | {"status": "not_built", "message": BUILD_HINT, "columns": [], "rows": []}
    except WarehouseBusy as exc:
        return base | {"status": "busy", "message": str(exc), "columns": [], "rows": []}
    except duckdb.Error as exc:
        return base | {
            "status": "error",
            "message": f"warehouse query failed: {exc}",
            "columns": [],
            "rows": [],
        }
    return base | {
        "status": "ok",
        "relation": name,
        "stale": result.stale,
        "as_of_ms": result.snapshot_mtime_ms,
        "columns": result.columns,
        "rows": [[jsonable(v) for v in row] for row in result.rows],
    }


# -- recent fraud posts from the raw lake ---------------------------------------------


def newest_hour_prefixes(store: ObjectStore, posts_prefix: str, max_hours: int = MAX_HOURS) -> list[str]:
    """The newest `max_hours` `posts/YYYY/MM/DD/HH/` prefixes, newest first (non-recursive listings)."""
    found: list[str] = []

    def walk(prefix: str, depth: int) -> None:
        for child in reversed(store.list_dirs(prefix)):
            if len(found) >= max_hours:
                return
            if depth == 3:
                found.append(child)
            else:
                walk(child, depth + 1)

    walk(posts_prefix, 0)
    return found


def newest_files(store: ObjectStore, posts_prefix: str, max_files: int = MAX_FILES) -> list[str]:
    """Keys of the newest Parquet files in the raw lake, newest first."""
    keys: list[str] = []
    for hour in newest_hour_prefixes(store, posts_prefix):
        objects = [o for o in store.list_objects(hour, recursive=False) if o.key.endswith(".parquet")]
        objects.sort(key=lambda o: (o.mtime_ms, o.key), reverse=True)
        for obj in objects:
            if obj.size <= MAX_FILE_BYTES:
                keys.append(obj.key)
            if len(keys) >= max_files:
                return keys
    return keys


def _read_fraud_rows(store: ObjectStore, key: str) -> pa.Table:
    table = pq.read_table(
        store.path(key), filesystem=store.fs, columns=[*RECENT_COLUMNS, "is_fraud", "operation", "time_us"]
    )
    # Posts only: deletes, and verdict updates (a re-labelled earlier post, no text of its own:
    # compaction applies them to the post) are not rows to show.
    posts = pc.is_in(table["operation"], value_set=pa.array(["create", "update"]))
    mask = pc.and_(pc.fill_null(table["is_fraud"], False), posts)
    return table.filter(pc.fill_null(mask, False))


def recent_fraud_posts(
    store: ObjectStore, settings: Settings, *, limit: int = DEFAULT_LIMIT, max_files: int = MAX_FILES
) -> dict[str, Any]:
    """The newest fraud posts in the newest lake files, de-duplicated by uri (delivery is at-least-once)."""
    base = {
        "key": RECENT_FRAUD,
        "title": "Recent fraud posts",
        "description": "Newest fraud verdicts straight from the raw lake (Parquet as delivered).",
        "source": "lake",
    }
    try:
        keys = newest_files(store, settings.posts_prefix, max_files)
    except (ObjectStoreError, OSError) as exc:
        return base | {
            "status": "error",
            "message": f"cannot list the lake: {exc}",
            "columns": [],
            "rows": [],
        }
    if not keys:
        return base | {
            "status": "empty",
            "message": f"no Parquet files under {store.uri(settings.posts_prefix)} yet",
            "columns": list(RECENT_COLUMNS),
            "rows": [],
        }
    tables: list[pa.Table] = []
    skipped: list[dict[str, str]] = []
    for key in keys:
        try:
            tables.append(_read_fraud_rows(store, key))
        except (OSError, pa.ArrowException) as exc:  # a torn/foreign file must not hide the rest
            skipped.append({"key": key, "error": str(exc)[:300]})
    rows: list[dict[str, Any]] = []
    if tables:
        merged = pa.concat_tables(tables, promote_options="permissive").sort_by([("time_us", "descending")])
        seen: set[str] = set()
        for row in merged.to_pylist():
            if row["uri"] in seen:
                continue
            seen.add(row["uri"])
            rows.append(row)
            if len(rows) >= limit:
                break
    return base | {
        "status": "ok",
        "files_scanned": len(keys) - len(skipped),
        "files_skipped": skipped,
        "columns": list(RECENT_COLUMNS),
        "rows": [[recent_cell(c, row[c]) for c in RECENT_COLUMNS] for row in rows],
    }


def recent_cell(column: str, value: Any) -> Any:
    if column == "text" and isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        value = value[:MAX_TEXT_CHARS] + "…"
    return jsonable(value)


def table_keys(specs: Sequence[MartSpec] = MARTS) -> list[str]:
    return [RECENT_FRAUD, *(m.key for m in specs)]
