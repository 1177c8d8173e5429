"""Catalog domain: Glue tables (or the local DuckDB catalog) for the raw and compacted lake."""

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, MaterializeResult, multi_asset

from fraud_pipeline.catalog.base import HOUR_PARTITION_KEYS, Partition, lake_columns
from fraud_pipeline.lake.compaction import compacted_key, raw_hour_files
from fraud_pipeline.lake.paths import compacted_partition_prefix, hour_path
from fraud_pipeline.orchestration.partitions import HOURLY, hour_of
from fraud_pipeline.orchestration.resources import CatalogResource, ObjectStoreResource, PipelineResource
from fraud_pipeline.provision import ensure_raw_table, raw_table_location
from fraud_pipeline.settings import Settings

COMPACTED_KEYS = list(HOUR_PARTITION_KEYS)
PARQUET_PARAMETERS = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"}


def compacted_table_location(settings: Settings) -> str:
    """URI of the compacted prefix, spelled like provision's raw location."""
    return raw_table_location(settings).removesuffix(settings.posts_prefix) + settings.compacted_prefix


# multi_asset, not asset: its backfill_policy is supported API (asset's is beta and warns).
@multi_asset(
    specs=[
        AssetSpec(
            "glue_catalog",
            deps=["compacted_posts"],
            group_name="catalog",
            kinds={"glue", "duckdb"},
            description=(
                "Glue tables for the raw lake (partition projection on `datehour`, partitions registered "
                "too) and the compacted lake (`dt`, `hour`); on the local backend the DuckDB catalog. "
                "Partitions of a whole backfill are upserted in one batch per table."
            ),
        )
    ],
    partitions_def=HOURLY,
    backfill_policy=BackfillPolicy.single_run(),
)
def glue_catalog(
    context: AssetExecutionContext,
    pipeline: PipelineResource,
    lake: ObjectStoreResource,
    catalog: CatalogResource,
) -> MaterializeResult:
    settings = pipeline.settings()
    store = lake.store()
    raw_location = raw_table_location(settings)
    compacted_location = compacted_table_location(settings)
    raw_parts: list[Partition] = []
    compacted_parts: list[Partition] = []
    for key in context.partition_keys:
        hour = hour_of(key)
        if raw_hour_files(store, settings, hour):
            datehour = hour_path(hour).rstrip("/")
            raw_parts.append(Partition((datehour,), f"{raw_location}{datehour}/"))
        if store.exists(compacted_key(settings, hour)):
            prefix = compacted_partition_prefix("", hour)
            compacted_parts.append(
                Partition((f"{hour:%Y-%m-%d}", f"{hour:%H}"), f"{compacted_location}{prefix}")
            )
    with catalog.open() as cat:
        cat.ensure_database(settings.glue_database)
        ensure_raw_table(cat, settings)
        cat.ensure_table(
            settings.glue_database,
            settings.glue_compacted_table,
            lake_columns(),
            compacted_location,
            partition_keys=COMPACTED_KEYS,
            parameters=PARQUET_PARAMETERS,
        )
        raw_written = cat.upsert_partitions(settings.glue_database, settings.glue_table, raw_parts)
        compacted_written = cat.upsert_partitions(
            settings.glue_database, settings.glue_compacted_table, compacted_parts
        )
    return MaterializeResult(
        metadata={
            "database": settings.glue_database,
            "raw_table": settings.glue_table,
            "compacted_table": settings.glue_compacted_table,
            "raw_partitions_upserted": raw_written,
            "compacted_partitions_upserted": compacted_written,
            "backend": settings.backend,
        }
    )
