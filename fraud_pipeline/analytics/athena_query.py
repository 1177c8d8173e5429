"""Read-only ad hoc SQL on Athena (`fraud-pipeline query --engine athena`, aws backend).

The same question as `query` on DuckDB, answered by the distributed engine: Athena reads the
Glue tables of the lake (`<glue database>.posts_compacted`, partitioned by dt/hour) and the
marts dbt built on Athena (the session's default schema, `settings.athena_database`), in the
deployment's workgroup, whose enforced settings put the results in the lake bucket
(encrypted) and cancel a query that scans more than the workgroup's limit. The SQL must be
one SELECT (or EXPLAIN) in Trino's dialect, checked with sqlglot before anything is sent.
Queries go through PyAthena (it comes with dbt-athena): DB-API cursors, polling and paging.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from fraud_pipeline.analytics.query import QueryRefused, QueryResult
from fraud_pipeline.settings import Settings

READ_ONLY = (exp.Select, exp.Union, exp.Intersect, exp.Except)


class AthenaQueryFailed(RuntimeError):
    """Athena rejected or failed the query (syntax, permissions, the workgroup's scan limit)."""


def check_read_only_trino(sql: str) -> None:
    """One SELECT (or set operation, or EXPLAIN of one) in Trino SQL, else QueryRefused."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryRefused(f"cannot parse the SQL as Trino (Athena) SQL: {exc}") from exc
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time on Athena, got {len(statements)}")
    statement = statements[0]
    if isinstance(statement, exp.Command) and statement.name.upper() == "EXPLAIN":
        check_read_only_trino(str(statement.expression.this) if statement.expression else "")
        return
    if not isinstance(statement, READ_ONLY) or any(
        isinstance(node, exp.Insert | exp.Create | exp.Delete | exp.Update | exp.Drop | exp.Merge)
        for node in statement.walk()
    ):
        raise QueryRefused(f"read-only: only SELECT and EXPLAIN are allowed, got {statement.key.upper()}")


def run_athena_query(settings: Settings, sql: str) -> QueryResult:
    if settings.backend != "aws":
        raise QueryRefused("--engine athena needs the aws backend (--backend aws)")
    check_read_only_trino(sql)
    from pyathena import connect

    options: dict[str, Any] = {
        "work_group": settings.athena_workgroup,
        "region_name": settings.aws_region,
        "schema_name": settings.athena_database,
    }
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    from pyathena.error import Error as AthenaError

    try:
        connection = connect(**options)
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            return QueryResult(columns, [tuple(row) for row in cursor.fetchall()])
        finally:
            connection.close()
    except AthenaError as exc:
        raise AthenaQueryFailed(f"Athena query failed: {exc}") from exc
