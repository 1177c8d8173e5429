"""The catalog port: Glue on AWS, a DuckDB database locally.

Tables point at a location in the object store, hold columns from `records.glue_columns()`
and may have partition keys (`dt`, `hour` for the compacted lake). Partitions are added in
batches; adding an existing partition updates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Partition:
    values: tuple[str, ...]  # in the order of the table's partition keys
    location: str


@runtime_checkable
class Catalog(Protocol):
    def ensure_database(self, database: str) -> None: ...

    def ensure_table(
        self,
        database: str,
        table: str,
        columns: list[dict[str, str]],
        location: str,
        partition_keys: list[dict[str, str]] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        """Create or update the table definition (idempotent)."""
        ...

    def upsert_partitions(self, database: str, table: str, partitions: list[Partition]) -> int:
        """Create missing partitions and update existing ones; returns how many were written."""
        ...

    def list_partitions(self, database: str, table: str) -> list[Partition]: ...

    def table_columns(self, database: str, table: str) -> list[dict[str, str]]: ...

    def close(self) -> None: ...
