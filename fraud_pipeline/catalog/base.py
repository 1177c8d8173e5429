"""The catalog port: Glue on AWS, a DuckDB database locally.

Tables point at a location in the object store, hold typed `Column`s (from the lake's Arrow
schema: `lake_columns()`) and may have partition keys (`dt`, `hour` for the compacted lake).
Partitions are added in batches; adding an existing partition updates it. The port speaks
`Column` and `Partition`; Glue's dict shapes (`{"Name", "Type"}`, `StorageDescriptor`) stay
inside the Glue adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its name and its catalog type (Hive/Athena names: string, bigint,
    double, boolean, timestamp, array<string>)."""

    name: str
    type: str


def lake_columns(schema: pa.Schema | None = None) -> list[Column]:
    """The catalog columns of an Arrow schema (default: the tagged-record lake schema)."""
    from fraud_pipeline.records import TAGGED_ARROW_SCHEMA, glue_columns

    return [Column(c["Name"], c["Type"]) for c in glue_columns(schema or TAGGED_ARROW_SCHEMA)]


HOUR_PARTITION_KEYS: tuple[Column, ...] = (Column("dt", "string"), Column("hour", "string"))


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
        columns: list[Column],
        location: str,
        partition_keys: list[Column] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        """Create or update the table definition (idempotent)."""
        ...

    def upsert_partitions(self, database: str, table: str, partitions: list[Partition]) -> int:
        """Create missing partitions and update existing ones; returns how many were written."""
        ...

    def list_partitions(self, database: str, table: str) -> list[Partition]: ...

    def table_columns(self, database: str, table: str) -> list[Column]: ...

    def close(self) -> None: ...
