"""Read-only ad hoc SQL over the compacted lake (view `posts`) and the dashboard tables.

The session is an in-memory DuckDB: the lake is a view over Parquet (S3 through fsspec, see
lake_sql), the dbt warehouse is attached READ_ONLY and each of its tables gets a view of the
same name. Only SELECT/EXPLAIN statements run (checked on DuckDB's own parse), so the tool
cannot write to the warehouse, the lake or local files (`COPY ... TO`, `ATTACH`, `INSTALL`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import orjson

from fraud_pipeline.analytics.lake_sql import create_posts_view, register_lake_filesystem
from fraud_pipeline.settings import Settings

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(ValueError):
    """The SQL is not a read-only query."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the SQL: {exc}") from exc
    if not statements:
        raise QueryRefused("no SQL statement given")
    for statement in statements:
        if statement.type not in ALLOWED:
            raise QueryRefused(
                f"read-only: only SELECT and EXPLAIN are allowed, got {statement.type.name} "
                f"({str(statement.query).strip()[:80]!r})"
            )


def open_session(settings: Settings) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB with `posts` and the dashboard tables; returns it and the table names."""
    con = duckdb.connect()
    register_lake_filesystem(con, settings)
    create_posts_view(con, settings)
    tables = ["posts"]
    warehouse = settings.warehouse_path
    if warehouse.exists():
        path = str(warehouse.resolve()).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS warehouse (READ_ONLY)")
        names = con.sql(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = 'warehouse' AND schema_name = 'main' "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = 'warehouse' "
            "AND schema_name = 'main' AND NOT internal ORDER BY 1"
        ).fetchall()
        for (name,) in names:
            con.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM warehouse.main."{name}"')
            tables.append(name)
    return con, tables


def run_query(settings: Settings, sql: str) -> QueryResult:
    con, _ = open_session(settings)
    try:
        check_read_only(con, sql)
        relation = con.sql(sql)
        if relation is None:
            return QueryResult([], [])
        return QueryResult(list(relation.columns), relation.fetchall())
    finally:
        con.close()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def render(result: QueryResult, fmt: str) -> str:
    """table (aligned text), csv or json (a list of objects)."""
    if fmt == "json":
        rows = [{c: _plain(v) for c, v in zip(result.columns, row, strict=True)} for row in result.rows]
        return orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_plain(v) for v in row] for row in result.rows])
        return out.getvalue()
    cells = [[("NULL" if v is None else str(_plain(v))) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)
