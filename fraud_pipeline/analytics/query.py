"""Read-only ad hoc SQL over the compacted lake (view `posts`) and the dashboard tables.

The session is an in-memory DuckDB: the lake is a view over Parquet (S3 through fsspec, see
lake_sql), the dbt warehouse is attached READ_ONLY and each of its tables gets a view of the
same name. Two locks, either of which alone would stop a write:

- Only SELECT statements run, and EXPLAIN of a SELECT, checked on DuckDB's own parser and
  tokenizer. `EXPLAIN ANALYZE` executes what it explains, so an EXPLAIN is unwrapped (any
  ANALYZE and option list, comments, nesting) and what it wraps must itself be a SELECT.
- The session's configuration is locked before the user's SQL runs: no file access outside
  the lake (and the warehouse attached before the lock), no extension install or load, no
  `SET`. A statement that got past the first check still cannot reach other files.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson

from fraud_pipeline.analytics.lake_sql import create_posts_view, register_lake_filesystem
from fraud_pipeline.settings import Settings

# EXPLAIN's option list, as opposed to a parenthesised statement: `EXPLAIN (FORMAT json) SELECT ...`.
EXPLAIN_OPTIONS = frozenset(
    {"ANALYZE", "ANALYSE", "FORMAT", "VERBOSE", "COSTS", "SETTINGS", "BUFFERS", "TIMING", "SUMMARY"}
)


class QueryRefused(ValueError):
    """The SQL is not a read-only query."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


_TOKEN_TEXT = re.compile(r"\w+|\S")


def _words(sql: str) -> list[tuple[int, str]]:
    """(offset, first word or symbol) of each token but comments, from DuckDB's tokenizer."""
    words = []
    for pos, kind in duckdb.tokenize(sql):
        if kind != duckdb.token_type.comment:
            match = _TOKEN_TEXT.match(sql, pos)
            words.append((pos, match.group() if match else ""))
    return words


def explained_statement(sql: str) -> str:
    """The SQL an `EXPLAIN [ANALYZE] [(options)] <statement>` wraps."""
    words = _words(sql)
    index = 1  # words[0] is EXPLAIN
    if index < len(words) and words[index][1].upper() in ("ANALYZE", "ANALYSE"):
        index += 1
    if index + 1 < len(words) and words[index][1] == "(" and words[index + 1][1].upper() in EXPLAIN_OPTIONS:
        depth = 0
        while index < len(words):
            depth += {"(": 1, ")": -1}.get(words[index][1], 0)
            index += 1
            if depth <= 0:
                break
    return sql[words[index][0] :] if index < len(words) else ""


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT, or EXPLAIN (ANALYZE) of a SELECT, however it is wrapped."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"cannot parse the SQL: {exc}") from exc
    if not statements:
        raise QueryRefused("no SQL statement given")
    for statement in statements:
        text = str(statement.query).strip()
        if statement.type == duckdb.StatementType.EXPLAIN:
            inner = explained_statement(text)
            if not inner.strip():
                raise QueryRefused(f"read-only: EXPLAIN of nothing ({text[:80]!r})")
            check_read_only(con, inner)
        elif statement.type != duckdb.StatementType.SELECT:
            raise QueryRefused(
                f"read-only: only SELECT and EXPLAIN of a SELECT are allowed, got "
                f"{statement.type.name} ({text[:80]!r})"
            )


def readable_locations(settings: Settings) -> list[str]:
    """The folders a query session may read: the lake, as DuckDB spells its paths."""
    if settings.backend == "aws":
        return [f"s3://{settings.bucket}/", f"s3:///{settings.bucket}/"]
    return [str(Path(settings.lake_path).resolve()) + "/"]


def lock_session(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """No file access outside the lake, no extensions, and no further `SET` on this connection."""
    allowed = ", ".join("'" + location.replace("'", "''") + "'" for location in readable_locations(settings))
    con.execute(f"SET allowed_directories = [{allowed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _labels_view(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    from fraud_pipeline.labeler.lake_table import create_labels_view

    create_labels_view(con, settings)


def _accounts_view(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    from fraud_pipeline.accounts.lake_table import create_accounts_view

    create_accounts_view(con, settings)


def open_session(settings: Settings) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB with `posts` and the dashboard tables; returns it and the table names."""
    con = duckdb.connect()
    register_lake_filesystem(con, settings)
    create_posts_view(con, settings)
    _labels_view(con, settings)
    _accounts_view(con, settings)
    tables = ["posts", "labels", "accounts"]
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
    lock_session(con, settings)
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
