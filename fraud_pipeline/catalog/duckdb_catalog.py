"""The local catalog: a DuckDB database that keeps Glue-like definitions and queryable views.

Definitions (databases, tables with Glue columns, locations, partition keys, parameters,
partitions) live in metadata tables in the `_catalog` schema. Each catalog table is also a
DuckDB view `<database>.<table>` (one DuckDB schema per database) over the Parquet under
the table's location, so analytics and dbt query the lake the way Athena queries Glue:
- Hive-style partition keys (`dt=.../hour=...`) come from the paths (`hive_partitioning`);
- a table with a `storage.location.template` parameter (Glue partition projection, e.g.
  the raw Firehose layout `posts/${datehour}/`) gets its partition columns parsed from the
  file path with the template;
- columns missing from every file read as typed NULLs; files are read with `union_by_name`.
DuckDB cannot create a view over a glob that matches no file, so an empty location gets a
view over an empty relation with the catalog's columns; `refresh_views()` (run on open and
after every change) swaps it for the Parquet view once files exist.

DuckDB allows one read-write process per file, so every operation opens a short-lived
connection and retries while another process holds the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import orjson

from fraud_pipeline.catalog import CatalogError, TableNotFound
from fraud_pipeline.catalog.base import Column, Partition

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 30.0
TEMPLATE_PARAMETER = "storage.location.template"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

_METADATA = """
CREATE SCHEMA IF NOT EXISTS _catalog;
CREATE TABLE IF NOT EXISTS _catalog.databases (name VARCHAR PRIMARY KEY);
CREATE TABLE IF NOT EXISTS _catalog.tables (
    database VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    columns VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    partition_keys VARCHAR NOT NULL,
    parameters VARCHAR NOT NULL,
    view_kind VARCHAR,
    PRIMARY KEY (database, name)
);
CREATE TABLE IF NOT EXISTS _catalog.partitions (
    database VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    partition_values VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    PRIMARY KEY (database, table_name, partition_values)
);
"""

_SIMPLE_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE",  # the lake writes UTC-tagged timestamps
    "date": "DATE",
    "binary": "BLOB",
}


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def duckdb_type(glue_type: str) -> str:
    """Glue/Hive type -> DuckDB type (array<>, map<>, struct<>, decimal(p,s) included)."""
    t = glue_type.strip()
    lower = t.lower()
    if lower in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[lower]
    if re.fullmatch(r"(var)?char\(\d+\)", lower):
        return "VARCHAR"
    if re.fullmatch(r"decimal\(\d+,\s*\d+\)", lower):
        return lower.upper()
    if lower.startswith("array<") and lower.endswith(">"):
        return duckdb_type(t[6:-1]) + "[]"
    if lower.startswith("map<") and lower.endswith(">"):
        key, value = _split_top_level(t[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if lower.startswith("struct<") and lower.endswith(">"):
        fields = []
        for part in _split_top_level(t[7:-1]):
            name, _, field_type = part.partition(":")
            fields.append(f"{_ident(name.strip())} {duckdb_type(field_type)}")
        return f"STRUCT({', '.join(fields)})"
    raise CatalogError(f"no DuckDB type for Glue type {glue_type!r}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def local_path(location: str) -> Path | None:
    """file:// URI or plain path -> local folder; None for remote locations (s3://...)."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(location)
    return None


def _has_parquet(root: Path) -> bool:
    if not root.is_dir():
        return False
    for _dirpath, _dirs, files in os.walk(root):
        if any(f.endswith(".parquet") and not f.startswith(".") for f in files):
            return True
    return False


def _check_name(kind: str, name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name or ""):
        raise CatalogError(
            f"{kind} name must be letters, digits and underscores (Glue/Athena rules), got {name!r}"
        )
    return name


def _check_columns(columns: list[Column]) -> list[dict[str, str]]:
    """Typed columns -> this adapter's stored form (JSON objects with Name and Type, the
    format of the `_catalog.tables` metadata since the first version)."""
    checked = []
    for column in columns:
        if not isinstance(column, Column):
            raise CatalogError(f"a column is a catalog Column(name, type), got {column!r}")
        duckdb_type(column.type)
        checked.append({"Name": column.name, "Type": column.type})
    return checked


class DuckDbCatalog:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connection() as conn:
            conn.execute(_METADATA)
        self.refresh_views()

    @contextlib.contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection to the catalog database, waiting while another process holds it."""
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        delay = 0.02
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            yield conn
        finally:
            conn.close()

    # -- definitions ----------------------------------------------------------------
    def ensure_database(self, database: str) -> None:
        _check_name("database", database)
        with self.connection() as conn:
            conn.execute("INSERT INTO _catalog.databases VALUES (?) ON CONFLICT DO NOTHING", [database])
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(database)}")

    def ensure_table(
        self,
        database: str,
        table: str,
        columns: list[Column],
        location: str,
        partition_keys: list[Column] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        _check_name("table", table)
        stored = _check_columns(columns)
        keys = _check_columns(partition_keys or [])
        with self.connection() as conn:
            if not conn.execute("SELECT 1 FROM _catalog.databases WHERE name = ?", [database]).fetchone():
                raise TableNotFound(f"database {database!r} is not in the catalog")
            definition = [
                orjson.dumps(stored).decode(),
                location,
                orjson.dumps(keys).decode(),
                orjson.dumps(parameters or {}, option=orjson.OPT_SORT_KEYS).decode(),
            ]
            current = conn.execute(
                "SELECT columns, location, partition_keys, parameters FROM _catalog.tables "
                "WHERE database = ? AND name = ?",
                [database, table],
            ).fetchone()
            if current is not None and list(current) == definition:
                return  # unchanged: nothing to write
            conn.execute(
                "INSERT INTO _catalog.tables VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO UPDATE SET "
                "columns = excluded.columns, location = excluded.location, "
                "partition_keys = excluded.partition_keys, parameters = excluded.parameters, "
                "view_kind = NULL",
                [database, table, *definition],
            )
        self.refresh_views(database)

    def _definition(
        self, conn: duckdb.DuckDBPyConnection, database: str, table: str
    ) -> tuple[list[dict[str, str]], str, list[dict[str, str]], dict[str, str]]:
        row = conn.execute(
            "SELECT columns, location, partition_keys, parameters FROM _catalog.tables "
            "WHERE database = ? AND name = ?",
            [database, table],
        ).fetchone()
        if row is None:
            raise TableNotFound(f"table {database}.{table} is not in the catalog")
        return orjson.loads(row[0]), row[1], orjson.loads(row[2]), orjson.loads(row[3])

    def table_columns(self, database: str, table: str) -> list[Column]:
        """The data columns (partition keys are not included, as in Glue's StorageDescriptor)."""
        with self.connection() as conn:
            return [Column(c["Name"], c["Type"]) for c in self._definition(conn, database, table)[0]]

    def table_location(self, database: str, table: str) -> str:
        with self.connection() as conn:
            return self._definition(conn, database, table)[1]

    def list_tables(self, database: str) -> list[str]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT name FROM _catalog.tables WHERE database = ? ORDER BY name", [database]
            ).fetchall()
        return [r[0] for r in rows]

    # -- partitions -----------------------------------------------------------------
    def upsert_partitions(self, database: str, table: str, partitions: list[Partition]) -> int:
        with self.connection() as conn:
            keys = self._definition(conn, database, table)[2]
            rows = []
            for partition in partitions:
                if len(partition.values) != len(keys):
                    raise CatalogError(
                        f"{database}.{table} has {len(keys)} partition keys, got values {partition.values!r}"
                    )
                rows.append(
                    [database, table, orjson.dumps(list(partition.values)).decode(), partition.location]
                )
            if rows:
                conn.executemany(
                    "INSERT INTO _catalog.partitions VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET location = excluded.location",
                    rows,
                )
        self.refresh_views(database)
        return len(rows)

    def list_partitions(self, database: str, table: str) -> list[Partition]:
        with self.connection() as conn:
            self._definition(conn, database, table)
            rows = conn.execute(
                "SELECT partition_values, location FROM _catalog.partitions "
                "WHERE database = ? AND table_name = ? ORDER BY partition_values",
                [database, table],
            ).fetchall()
        return [Partition(tuple(orjson.loads(values)), location) for values, location in rows]

    # -- views ----------------------------------------------------------------------
    def refresh_views(self, database: str | None = None) -> dict[str, str]:
        """(Re)create the views whose kind changed (empty <-> parquet); returns view -> kind."""
        kinds: dict[str, str] = {}
        with self.connection() as conn:
            query = "SELECT database, name, view_kind FROM _catalog.tables"
            params: list[str] = []
            if database is not None:
                query += " WHERE database = ?"
                params.append(database)
            for db, table, current_kind in conn.execute(query, params).fetchall():
                columns, location, keys, parameters = self._definition(conn, db, table)
                root = local_path(location)
                kind = "parquet" if root is not None and _has_parquet(root) else "empty"
                kinds[f"{db}.{table}"] = kind
                if kind == current_kind:
                    continue
                sql = self._view_sql(conn, columns, location, keys, parameters, kind)
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(db)}")
                conn.execute(f"CREATE OR REPLACE VIEW {_ident(db)}.{_ident(table)} AS {sql}")
                conn.execute(
                    "UPDATE _catalog.tables SET view_kind = ? WHERE database = ? AND name = ?",
                    [kind, db, table],
                )
        return kinds

    def _view_sql(
        self,
        conn: duckdb.DuckDBPyConnection,
        columns: list[dict[str, str]],
        location: str,
        keys: list[dict[str, str]],
        parameters: dict[str, str],
        kind: str,
    ) -> str:
        if kind == "empty":
            select = [
                f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}" for c in columns + keys
            ]
            return f"SELECT {', '.join(select)} WHERE false"
        root = local_path(location)
        assert root is not None
        pattern = _literal(str(root).rstrip("/") + "/**/*.parquet")
        template = parameters.get(TEMPLATE_PARAMETER)
        if keys and template is None:
            hive_types = ", ".join(f"{_literal(k['Name'])}: {_literal(duckdb_type(k['Type']))}" for k in keys)
            source = f"read_parquet({pattern}, union_by_name = true, hive_partitioning = true, "
            source += f"hive_types = {{{hive_types}}})"
        else:
            source = (
                f"read_parquet({pattern}, union_by_name = true, hive_partitioning = false, filename = true)"
            )
        present = {row[0] for row in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        select = [
            _ident(c["Name"])
            if c["Name"] in present
            else f"CAST(NULL AS {duckdb_type(c['Type'])}) AS {_ident(c['Name'])}"
            for c in columns
        ]
        if keys and template is None:
            select += [_ident(k["Name"]) for k in keys]
        elif keys:
            regex, groups = self._template_regex(template or "", location)
            for key in keys:
                if key["Name"] in groups:
                    extract = f"regexp_extract(filename, {_literal(regex)}, {groups.index(key['Name']) + 1})"
                    select.append(f"CAST({extract} AS {duckdb_type(key['Type'])}) AS {_ident(key['Name'])}")
                else:
                    select.append(f"CAST(NULL AS {duckdb_type(key['Type'])}) AS {_ident(key['Name'])}")
        return f"SELECT {', '.join(select)} FROM {source}"

    @staticmethod
    def _template_regex(template: str, location: str) -> tuple[str, list[str]]:
        """`file:///lake/posts/${datehour}/` -> a regex over file paths, and its group names."""
        path = local_path(template.replace("${", "\x00").replace("}", "\x01"))
        if path is None:
            raise CatalogError(
                f"{TEMPLATE_PARAMETER} {template!r} is not local like the location {location!r}"
            )
        text = str(path).replace("\x00", "${").replace("\x01", "}").rstrip("/")
        groups: list[str] = []
        regex, last = "^", 0
        for match in _PLACEHOLDER.finditer(text):
            regex += re.escape(text[last : match.start()]) + "(.+)"
            groups.append(match.group(1))
            last = match.end()
        regex += re.escape(text[last:]) + "/[^/]+$"
        return regex, groups

    def close(self) -> None:
        """Connections are per operation: nothing stays open."""
