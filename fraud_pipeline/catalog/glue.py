"""The AWS catalog: Glue Data Catalog tables over Parquet in S3 (queryable from Athena).

Tables are EXTERNAL_TABLE with the Parquet SerDe and input/output formats, the
`classification=parquet` parameter Glue/Athena expect, and any extra parameters passed
through (e.g. partition projection for the raw Firehose layout). `ensure_table` compares
the stored definition first, so re-running provisioning writes no new table version.
Partitions are created in batches of 100; those that already exist are updated.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fraud_pipeline.aws import aws_client
from fraud_pipeline.catalog import CatalogError, TableNotFound
from fraud_pipeline.catalog.base import Column, Partition

PARTITION_BATCH = 100
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def glue_client(region: str, endpoint_url: str | None) -> Any:
    return aws_client("glue", region, endpoint_url)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def storage_descriptor(columns: list[Column], location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": c.name, "Type": c.type} for c in columns],
        "Location": location,
        "InputFormat": PARQUET_INPUT_FORMAT,
        "OutputFormat": PARQUET_OUTPUT_FORMAT,
        "Compressed": False,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    }


class GlueCatalog:
    def __init__(self, client: Any) -> None:
        self.client = client

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":
                raise TableNotFound(f"Glue {what}: {exc}") from exc
            raise CatalogError(f"Glue {what} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise CatalogError(f"Glue {what} failed: {exc}") from exc

    def ensure_database(self, database: str) -> None:
        try:
            self.client.create_database(DatabaseInput={"Name": database})
        except ClientError as exc:
            if _code(exc) != "AlreadyExistsException":
                raise CatalogError(f"Glue create_database {database!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise CatalogError(f"Glue create_database {database!r} failed: {exc}") from exc

    def _table(self, database: str, table: str) -> dict[str, Any]:
        return dict(
            self._call("get_table", self.client.get_table, DatabaseName=database, Name=table)["Table"]
        )

    def ensure_table(
        self,
        database: str,
        table: str,
        columns: list[Column],
        location: str,
        partition_keys: list[Column] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        table_input: dict[str, Any] = {
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", **(parameters or {})},
            "StorageDescriptor": storage_descriptor(columns, location),
            "PartitionKeys": [{"Name": k.name, "Type": k.type} for k in partition_keys or []],
        }
        try:
            current = self._table(database, table)
        except TableNotFound:
            current = None
        if current is None:
            try:
                self.client.create_table(DatabaseName=database, TableInput=table_input)
                return
            except ClientError as exc:
                if _code(exc) == "EntityNotFoundException":
                    raise TableNotFound(f"Glue database {database!r} not found: {exc}") from exc
                if _code(exc) != "AlreadyExistsException":  # lost a race: fall through to update
                    raise CatalogError(f"Glue create_table {database}.{table} failed: {exc}") from exc
        elif self._same(current, table_input):
            return
        self._call("update_table", self.client.update_table, DatabaseName=database, TableInput=table_input)

    @staticmethod
    def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        sd = current.get("StorageDescriptor", {})
        want_sd = wanted["StorageDescriptor"]
        return (
            current.get("TableType") == wanted["TableType"]
            and current.get("Parameters", {}) == wanted["Parameters"]
            and [{"Name": c["Name"], "Type": c["Type"]} for c in sd.get("Columns", [])] == want_sd["Columns"]
            and sd.get("Location") == want_sd["Location"]
            and sd.get("InputFormat") == want_sd["InputFormat"]
            and sd.get("OutputFormat") == want_sd["OutputFormat"]
            and sd.get("SerdeInfo", {}).get("SerializationLibrary") == PARQUET_SERDE
            and [{"Name": k["Name"], "Type": k["Type"]} for k in current.get("PartitionKeys", [])]
            == wanted["PartitionKeys"]
        )

    def table_columns(self, database: str, table: str) -> list[Column]:
        """The data columns (partition keys are separate in Glue and not included)."""
        columns = self._table(database, table).get("StorageDescriptor", {}).get("Columns", [])
        return [Column(c["Name"], c["Type"]) for c in columns]

    def table_location(self, database: str, table: str) -> str:
        return str(self._table(database, table).get("StorageDescriptor", {}).get("Location", ""))

    def table_updated_ms(self, database: str, table: str) -> int | None:
        """When the table was last created or replaced (dbt on Athena replaces its marts)."""
        described = self._table(database, table)
        when = described.get("UpdateTime") or described.get("CreateTime")
        return int(when.timestamp() * 1000) if when is not None else None

    def upsert_partitions(self, database: str, table: str, partitions: list[Partition]) -> int:
        definition = self._table(database, table)
        columns = [
            Column(c["Name"], c["Type"]) for c in definition.get("StorageDescriptor", {}).get("Columns", [])
        ]
        key_count = len(definition.get("PartitionKeys", []))
        written = 0
        for start in range(0, len(partitions), PARTITION_BATCH):
            chunk = partitions[start : start + PARTITION_BATCH]
            inputs = []
            for partition in chunk:
                if len(partition.values) != key_count:
                    raise CatalogError(
                        f"{database}.{table} has {key_count} partition keys, got values {partition.values!r}"
                    )
                inputs.append(
                    {
                        "Values": list(partition.values),
                        "StorageDescriptor": storage_descriptor(columns, partition.location),
                    }
                )
            response = self._call(
                "batch_create_partition",
                self.client.batch_create_partition,
                DatabaseName=database,
                TableName=table,
                PartitionInputList=inputs,
            )
            existing: list[tuple[str, ...]] = []
            for error in response.get("Errors", []):
                code = error.get("ErrorDetail", {}).get("ErrorCode", "")
                if code != "AlreadyExistsException":
                    raise CatalogError(f"Glue batch_create_partition on {database}.{table}: {error}")
                existing.append(tuple(error["PartitionValues"]))
            written += len(chunk) - len(existing)
            if existing:
                by_values = {tuple(i["Values"]): i for i in inputs}
                update = self._call(
                    "batch_update_partition",
                    self.client.batch_update_partition,
                    DatabaseName=database,
                    TableName=table,
                    Entries=[
                        {"PartitionValueList": list(v), "PartitionInput": by_values[v]} for v in existing
                    ],
                )
                if update.get("Errors"):
                    raise CatalogError(
                        f"Glue batch_update_partition on {database}.{table}: {update['Errors']}"
                    )
                written += len(existing)
        return written

    def list_partitions(self, database: str, table: str) -> list[Partition]:
        partitions: list[Partition] = []
        try:
            for page in self.client.get_paginator("get_partitions").paginate(
                DatabaseName=database, TableName=table
            ):
                for p in page.get("Partitions", []):
                    partitions.append(
                        Partition(tuple(p["Values"]), p.get("StorageDescriptor", {}).get("Location", ""))
                    )
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":
                raise TableNotFound(f"Glue table {database}.{table} not found: {exc}") from exc
            raise CatalogError(f"Glue get_partitions on {database}.{table} failed: {exc}") from exc
        return sorted(partitions, key=lambda p: p.values)

    def close(self) -> None:
        self.client.close()
