"""The catalog port and its adapters: `open_catalog(settings)` picks Glue or the local DuckDB catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraud_pipeline.catalog.base import Catalog, Column, Partition, lake_columns

if TYPE_CHECKING:
    from fraud_pipeline.settings import Settings

__all__ = ["Catalog", "CatalogError", "Column", "Partition", "TableNotFound", "lake_columns", "open_catalog"]


class CatalogError(RuntimeError):
    """A catalog call failed or was given a definition the catalog cannot keep."""


class TableNotFound(CatalogError):
    """The database or table is not in the catalog (run `fraud-pipeline provision`)."""


def open_catalog(settings: Settings) -> Catalog:
    """Glue on AWS, a DuckDB database locally (adapters import lazily)."""
    if settings.backend == "aws":
        from fraud_pipeline.catalog.glue import GlueCatalog, glue_client

        return GlueCatalog(glue_client(settings.aws_region, settings.endpoint_url))
    from fraud_pipeline.catalog.duckdb_catalog import DuckDbCatalog

    return DuckDbCatalog(settings.catalog_path)
