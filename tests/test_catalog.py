"""The catalog port: the local DuckDB catalog (real DuckDB over real Parquet) and Glue (moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from fraud_pipeline.catalog import Catalog, CatalogError, Partition, TableNotFound, open_catalog
from fraud_pipeline.catalog.base import HOUR_PARTITION_KEYS, Column, lake_columns
from fraud_pipeline.catalog.duckdb_catalog import DuckDbCatalog, duckdb_type
from fraud_pipeline.records import TAGGED_ARROW_SCHEMA, Post, TaggedRecord, tagged_rows_to_table
from fraud_pipeline.settings import Settings

HOUR_KEYS = list(HOUR_PARTITION_KEYS)


@pytest.fixture(params=["local", pytest.param("aws", marks=pytest.mark.moto)])
def settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue("local_settings" if request.param == "local" else "aws_settings")


@pytest.fixture()
def catalog(settings: Settings) -> Iterator[Catalog]:
    c = open_catalog(settings)
    c.ensure_database(settings.glue_database)
    yield c
    c.close()


def _location(settings: Settings, prefix: str) -> str:
    if settings.backend == "aws":
        return f"s3://{settings.bucket}/{prefix}"
    return settings.lake_path.resolve().as_uri() + "/" + prefix


def _tagged(uri_suffix: str, text: str, is_fraud: bool, time_us: int) -> dict[str, object]:
    post = Post(
        uri=f"at://did:plc:x/app.bsky.feed.post/{uri_suffix}",
        did="did:plc:x",
        rkey=uri_suffix,
        operation="create",
        time_us=time_us,
        text=text,
    )
    record = TaggedRecord.from_post(
        post,
        fraud_text_likelihood=0.9 if is_fraud else 0.1,
        fraud_media_likelihood=None,
        fraud_score=0.9 if is_fraud else 0.1,
        is_fraud=is_fraud,
        labels=["scam"] if is_fraud else [],
        reasons=[],
        rule_hits=[],
        text_model_version="t1",
        media_model_version=None,
        scored_at_us=time_us + 1,
    )
    return orjson.loads(record.to_json())


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(tagged_rows_to_table(rows), path)


def test_tables_are_idempotent_and_keep_columns(catalog: Catalog, settings: Settings) -> None:
    db = settings.glue_database
    location = _location(settings, "compacted/")
    catalog.ensure_database(db)
    for _ in range(2):
        catalog.ensure_table(db, "posts_compacted", lake_columns(), location, HOUR_KEYS, {"note": "x"})
    assert catalog.table_columns(db, "posts_compacted") == lake_columns()
    # Changing the definition updates it.
    catalog.ensure_table(db, "posts_compacted", lake_columns()[:6], location, HOUR_KEYS)
    assert [c.name for c in catalog.table_columns(db, "posts_compacted")] == [
        "uri",
        "time_utc",
        "text",
        "media_paths",
        "fraud_text_likelihood",
        "fraud_media_likelihood",
    ]
    with pytest.raises(TableNotFound):
        catalog.table_columns(db, "no_such_table")


def test_partitions_upsert_in_batches_and_list(catalog: Catalog, settings: Settings) -> None:
    db = settings.glue_database
    location = _location(settings, "compacted/")
    catalog.ensure_table(db, "posts_compacted", lake_columns(), location, HOUR_KEYS)
    hours = [(f"2026-11-{d:02d}", f"{h:02d}") for d in (28, 29, 30) for h in range(24)] + [
        ("2026-12-01", "00")
    ]
    partitions = [Partition(v, f"{location}dt={v[0]}/hour={v[1]}/") for v in hours]  # 73: two Glue batches
    assert catalog.upsert_partitions(db, "posts_compacted", partitions[:40]) == 40
    moved = Partition(("2026-11-28", "00"), f"{location}moved/")
    assert catalog.upsert_partitions(db, "posts_compacted", [moved, *partitions[1:]]) == 73
    listed = catalog.list_partitions(db, "posts_compacted")
    assert len(listed) == 73
    assert {p.values: p.location for p in listed}[("2026-11-28", "00")] == moved.location
    assert {p.values for p in listed} == set(hours)
    with pytest.raises(CatalogError):
        catalog.upsert_partitions(db, "posts_compacted", [Partition(("2026-11-28",), location)])


def test_glue_table_has_parquet_serde_and_parameters(aws_settings: Settings) -> None:
    catalog = open_catalog(aws_settings)
    db = aws_settings.glue_database
    catalog.ensure_database(db)
    catalog.ensure_database(db)
    params = {"projection.enabled": "true", "projection.datehour.type": "date"}
    catalog.ensure_table(
        db,
        "posts",
        lake_columns(),
        f"s3://{aws_settings.bucket}/posts/",
        [Column("datehour", "string")],
        params,
    )
    glue = boto3.client("glue", region_name=aws_settings.aws_region, endpoint_url=aws_settings.endpoint_url)
    table = glue.get_table(DatabaseName=db, Name="posts")["Table"]
    sd = table["StorageDescriptor"]
    assert (
        sd["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert sd["OutputFormat"].endswith("MapredParquetOutputFormat")
    assert table["Parameters"] == {"classification": "parquet", "EXTERNAL": "TRUE", **params}
    assert table["TableType"] == "EXTERNAL_TABLE"
    versions = glue.get_table_versions(DatabaseName=db, TableName="posts")["TableVersions"]
    catalog.ensure_table(
        db,
        "posts",
        lake_columns(),
        f"s3://{aws_settings.bucket}/posts/",
        [Column("datehour", "string")],
        params,
    )
    assert len(glue.get_table_versions(DatabaseName=db, TableName="posts")["TableVersions"]) == len(versions)


def test_duckdb_views_query_real_parquet(local_settings: Settings) -> None:
    catalog = DuckDbCatalog(local_settings.catalog_path)
    db = "fraud_detect_dev"
    lake = local_settings.lake_path.resolve()
    catalog.ensure_database(db)
    # Compacted lake: Hive-style dt=/hour= folders.
    compacted = lake.as_uri() + "/compacted/"
    catalog.ensure_table(db, "posts_compacted", lake_columns(), compacted, HOUR_KEYS)
    t0 = int(datetime(2026, 11, 29, 14, tzinfo=UTC).timestamp() * 1_000_000)
    assert catalog.refresh_views(db) == {f"{db}.posts_compacted": "empty"}
    with catalog.connection() as conn:  # an empty location still gives a typed, queryable view
        assert conn.execute(f"SELECT count(*) FROM {db}.posts_compacted").fetchone() == (0,)
        types = dict(
            conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {db}.posts_compacted)").fetchall()
        )
    assert types["media_paths"] == "VARCHAR[]" and types["dt"] == "VARCHAR" and types["is_fraud"] == "BOOLEAN"
    _write(
        lake / "compacted/dt=2026-11-29/hour=14/part-0.parquet",
        [_tagged("a", "free crypto", True, t0), _tagged("b", "hello", False, t0 + 5)],
    )
    _write(
        lake / "compacted/dt=2026-11-29/hour=15/part-0.parquet",
        [_tagged("c", "giveaway", True, t0 + 3_600_000_000)],
    )
    catalog.upsert_partitions(
        db, "posts_compacted", [Partition(("2026-11-29", "14"), compacted + "dt=2026-11-29/hour=14/")]
    )
    with catalog.connection(read_only=True) as conn:
        rows = conn.execute(
            f"SELECT hour, count(*), sum(is_fraud::int) FROM {db}.posts_compacted GROUP BY hour ORDER BY hour"
        ).fetchall()
        assert rows == [("14", 2, 1), ("15", 1, 1)]
        ts = conn.execute(f"SELECT time_utc FROM {db}.posts_compacted WHERE rkey = 'a'").fetchone()
        assert ts is not None and ts[0] == datetime(2026, 11, 29, 14, tzinfo=UTC)
    catalog.close()


def test_duckdb_view_over_firehose_layout_with_projection_template(local_settings: Settings) -> None:
    lake = local_settings.lake_path.resolve()
    raw = lake.as_uri() + "/posts/"
    catalog = DuckDbCatalog(local_settings.catalog_path)
    catalog.ensure_database("db1")
    catalog.ensure_table(
        "db1",
        "posts",
        lake_columns(),
        raw,
        [Column("datehour", "string")],
        {"storage.location.template": raw + "${datehour}/"},
    )
    t0 = int(datetime(2026, 11, 29, 14, tzinfo=UTC).timestamp() * 1_000_000)
    _write(
        lake / "posts/2026/11/29/14/fraud-detect-dev-tagged-delivery-1-2026-11-29-14-00-01-u1.parquet",
        [_tagged("a", "x", True, t0)],
    )
    _write(
        lake / "posts/2026/11/29/15/fraud-detect-dev-tagged-delivery-1-2026-11-29-15-00-01-u2.parquet",
        [_tagged("b", "y", False, t0)],
    )
    # A second process opening the catalog sees files that arrived after the view was made empty.
    reopened = DuckDbCatalog(local_settings.catalog_path)
    with reopened.connection(read_only=True) as conn:
        rows = conn.execute("SELECT datehour, rkey FROM db1.posts ORDER BY datehour").fetchall()
    assert rows == [("2026/11/29/14", "a"), ("2026/11/29/15", "b")]
    # Plain DuckDB (how dbt and analytics read it) sees the same view.
    with duckdb.connect(str(local_settings.catalog_path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM db1.posts WHERE fraud_score > 0.5").fetchone() == (1,)


def test_duckdb_view_fills_columns_missing_from_files(local_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    old = tagged_rows_to_table([_tagged("a", "x", True, 1)]).select(["uri", "time_utc", "text"])
    pq.write_table(old, folder / "f.parquet")
    catalog = DuckDbCatalog(local_settings.catalog_path)
    catalog.ensure_database("db1")
    catalog.ensure_table("db1", "old", lake_columns(), folder.as_uri())
    with catalog.connection(read_only=True) as conn:
        assert conn.execute("SELECT uri, is_fraud, labels FROM db1.old").fetchall() == [
            ("at://did:plc:x/app.bsky.feed.post/a", None, None)
        ]


def test_duckdb_type_mapping_and_bad_input(local_settings: Settings) -> None:
    assert duckdb_type("array<string>") == "VARCHAR[]"
    assert duckdb_type("map<string,array<bigint>>") == "MAP(VARCHAR, BIGINT[])"
    assert duckdb_type("struct<a:int,b:array<double>>") == 'STRUCT("a" INTEGER, "b" DOUBLE[])'
    assert duckdb_type("decimal(10,2)") == "DECIMAL(10,2)"
    assert {duckdb_type(c.type) for c in lake_columns()} >= {
        "VARCHAR",
        "TIMESTAMP WITH TIME ZONE",
        "BOOLEAN",
    }
    catalog = DuckDbCatalog(local_settings.catalog_path)
    with pytest.raises(CatalogError, match="Glue type"):
        duckdb_type("uniontype<int>")
    catalog.ensure_database("db1")
    with pytest.raises(CatalogError):
        catalog.ensure_table("db1", "bad", [Column("x", "geometry")], "/tmp/x")
    with pytest.raises(CatalogError):
        catalog.ensure_table("db1", "drop table; --", lake_columns(), "/tmp/x")
    with pytest.raises(TableNotFound):
        catalog.ensure_table("nodb", "t", lake_columns(), "/tmp/x")


def test_arrow_schema_round_trips_through_the_catalog(local_settings: Settings) -> None:
    """The catalog's view has exactly the lake schema's columns, in order."""
    catalog = DuckDbCatalog(local_settings.catalog_path)
    catalog.ensure_database("db1")
    catalog.ensure_table("db1", "posts", lake_columns(), (local_settings.lake_path / "none").as_uri())
    with catalog.connection(read_only=True) as conn:
        names = [r[0] for r in conn.execute("DESCRIBE db1.posts").fetchall()]
    assert names == TAGGED_ARROW_SCHEMA.names
