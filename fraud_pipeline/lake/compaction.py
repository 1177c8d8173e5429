"""Compaction of one raw lake hour into one Hive-partitioned, deduplicated Parquet file.

The raw lake (`posts/YYYY/MM/DD/HH/`) is what Firehose delivers: many small files, at-least-once
(duplicates), updates as new versions, deletes as records with `operation == "delete"`. The
compacted lake (`compacted/dt=YYYY-MM-DD/hour=HH/part-00000.parquet`) keeps one row per live
post: the newest version of each uri wins, a post whose newest version is a delete leaves the
lake, rows are sorted by (time_us, uri) and written zstd-compressed in 128k-row groups.

Why one file per hour: a single object is written atomically on both backends (a local
temp file renamed into place, an S3 PUT/multipart upload that appears only when complete), so
readers never see a half-written partition; and one file of one hour (Bluesky: ~10^5 posts) is
the size Athena and DuckDB read best.

Deletes and updates may arrive in a later hour than the version they replace, so each
hour's newest deletes and updates are kept as tombstones in
`compacted_meta/deletes/YYYY-MM-DD-HH.parquet` (beside, not under, the compacted table's
location, so no catalog or glob reads them). Compacting hour H (a) drops rows that a later
hour's tombstone supersedes (the tombstones of the next `delete_lookback_hours` hours, those
of H's own uris from any hour after that, and every tombstone already applied to H), and
(b) rewrites the earlier compacted partitions that hold rows H's tombstones supersede, at
any age: a small index (`compacted_meta/uri_index/`, one file of 64-bit uri hashes per hour)
says which hours hold a uri, so a delete that arrives
a week after its post finds the post's hour without reading the lake. The tombstones applied to
an hour are recorded under `compacted_meta/applied/<hour>/`, so recompacting that hour later
(a late raw file) does not bring the deleted post back. Together these make the result
independent of the order hours are compacted in, and compacting the same hour twice gives
byte-identical files.

Concurrency: two compactions may touch the same partition at once (the landing sensor
requests several hours per tick, runs are concurrent, a tombstone rewrites an earlier hour).
Every write of a partition, its tombstones and its index is conditional on the version read
before the inputs were read (`ObjectStore.put_if`: S3 `If-Match`, a compare-and-rename
locally); a writer that lost the race recomputes from fresh inputs. And the two sides of a
cross-hour delete follow one order: the deleting hour publishes its tombstones before it
reads the earlier partition, and a compaction re-reads the tombstones after it published its
partition and recomputes if they changed, so one of the two always sees the other.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from fraud_pipeline.lake.paths import compacted_partition_prefix, raw_hour_prefix
from fraud_pipeline.objects import ObjectInfo, ObjectStore
from fraud_pipeline.records import OPERATIONS, TAGGED_ARROW_SCHEMA
from fraud_pipeline.settings import Settings

log = logging.getLogger(__name__)

PART_NAME = "part-00000.parquet"
ROW_GROUP_ROWS = 128 * 1024
COMPRESSION = "zstd"
DELETE_LOOKBACK_HOURS = 24  # later hours whose tombstones a compaction reads (older ones: applied/)
MAX_ATTEMPTS = 8  # recomputations after losing a race to another writer, before giving up
TOMBSTONE_DIR = "deletes/"
INDEX_DIR = "uri_index/"
APPLIED_DIR = "applied/"
INDEX_SCHEMA = pa.schema(
    [pa.field("uri_hash", pa.uint64(), nullable=False), pa.field("hour", pa.timestamp("us", tz="UTC"))]
)
TOMBSTONE_SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("time_us", pa.int64()),
        pa.field("operation", pa.string()),
    ]
)
# A row is superseded by another hour's tombstone that is newer, or as new and a delete.
_SUPERSEDED = (
    "(coalesce(d.time_us, 0) > coalesce(l.time_us, 0) "
    "OR (coalesce(d.time_us, 0) = coalesce(l.time_us, 0) AND d.operation = 'delete'))"
)

# Newest version first; on equal event time a delete wins, then the later-scored copy; the
# remaining keys only make the choice among byte-different copies deterministic.
_NEWEST_FIRST = (
    "time_us DESC NULLS LAST, (operation = 'delete') DESC, scored_at_us DESC NULLS LAST, "
    "ingested_at_us DESC NULLS LAST, cid DESC NULLS LAST, text DESC NULLS LAST"
)


_VALID_ROW = f"uri IS NOT NULL AND uri <> '' AND operation IN {tuple(OPERATIONS)!r}"


class CompactionError(RuntimeError):
    """The hour cannot be compacted (the object store failed, or nothing readable)."""


@dataclass
class RejectedFile:
    key: str
    reason: str


@dataclass
class CompactionResult:
    """What one compaction did; becomes the Dagster materialization metadata."""

    hour: datetime
    key: str
    files_in: int = 0
    bytes_in: int = 0
    rows_in: int = 0
    invalid_rows: int = 0
    duplicates_dropped: int = 0
    deletes_applied: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    fraud_rows: int = 0
    conflicts: int = 0  # times another writer changed an input first and the hour was recomputed
    verdicts_applied: int = 0  # posts re-labelled by verdict updates (lake/verdicts.py)
    partitions_rewritten: list[str] = field(default_factory=list)
    rejected_files: list[RejectedFile] = field(default_factory=list)

    @property
    def fraud_rate(self) -> float:
        return self.fraud_rows / self.rows_out if self.rows_out else 0.0

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["hour"] = self.hour.isoformat()
        data["fraud_rate"] = self.fraud_rate
        return data


# -- keys --------------------------------------------------------------------------------
def compacted_key(settings: Settings, hour: datetime) -> str:
    return compacted_partition_prefix(settings.compacted_prefix, hour) + PART_NAME


def meta_prefix(settings: Settings) -> str:
    """`compacted_meta/`: the compaction's own files, outside the table location."""
    return settings.compacted_prefix.rstrip("/") + "_meta/"


def tombstone_key(settings: Settings, hour: datetime) -> str:
    return f"{meta_prefix(settings)}{TOMBSTONE_DIR}{hour.astimezone(UTC):%Y-%m-%d-%H}.parquet"


def index_key(settings: Settings, hour: datetime) -> str:
    return f"{meta_prefix(settings)}{INDEX_DIR}{hour.astimezone(UTC):%Y-%m-%d-%H}.parquet"


def applied_prefix(settings: Settings, target: datetime) -> str:
    """Where the tombstones applied to `target`'s partition by later hours are recorded."""
    return f"{meta_prefix(settings)}{APPLIED_DIR}{target.astimezone(UTC):%Y-%m-%d-%H}/"


def _tombstone_hour(key: str) -> datetime | None:
    name = key.rsplit("/", 1)[-1].removesuffix(".parquet")
    try:
        return datetime.strptime(name, "%Y-%m-%d-%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def floor_hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def raw_hour_files(store: ObjectStore, settings: Settings, hour: datetime) -> list[ObjectInfo]:
    """The Parquet files Firehose delivered for one arrival hour, in key order."""
    prefix = raw_hour_prefix(settings.posts_prefix, hour)
    return sorted(
        (o for o in store.list_objects(prefix, recursive=False) if o.key.endswith(".parquet")),
        key=lambda o: o.key,
    )


# -- reading -------------------------------------------------------------------------------
def conform(table: pa.Table) -> pa.Table:
    """Cast a table to the lake schema: reorder, cast, fill missing nullable columns with nulls.

    Raises ValueError naming the problem when a required column is missing or a cast fails.
    """
    columns = []
    for f in TAGGED_ARROW_SCHEMA:
        if f.name not in table.column_names:
            if not f.nullable:
                raise ValueError(f"required column {f.name!r} is missing")
            columns.append(pa.nulls(table.num_rows, f.type))
            continue
        column = table.column(f.name)
        if not column.type.equals(f.type):
            try:
                column = column.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ValueError(f"column {f.name!r} has type {column.type}, not {f.type}: {exc}") from exc
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=TAGGED_ARROW_SCHEMA.with_metadata(None))


def _read_one(store: ObjectStore, key: str) -> pa.Table:
    return conform(pq.read_table(store.path(key), filesystem=store.fs))


def read_raw(store: ObjectStore, files: list[ObjectInfo]) -> tuple[pa.Table, list[RejectedFile]]:
    """Read raw files; a file that is not Parquet or does not fit the schema is rejected, not fatal."""
    tables: list[pa.Table] = []
    rejected: list[RejectedFile] = []
    for info in files:
        try:
            tables.append(_read_one(store, info.key))
        except FileNotFoundError:
            rejected.append(RejectedFile(info.key, "vanished between listing and reading"))
        except (OSError, ValueError, pa.ArrowException) as exc:
            rejected.append(RejectedFile(info.key, f"{type(exc).__name__}: {exc}"[:500]))
    for bad in rejected:
        log.warning(
            "rejected raw file %s: %s",
            bad.key,
            bad.reason,
            extra={
                "next_step": "the hour is compacted without it (check schema_conformance); fix or "
                "remove the file and re-materialize the hour"
            },
        )
    if not tables:
        return TAGGED_ARROW_SCHEMA.empty_table(), rejected
    return pa.concat_tables(tables), rejected


def read_tombstones(
    store: ObjectStore,
    settings: Settings,
    after: datetime,
    hours: int,
    uris: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """Tombstones that supersede rows of hour `after`: those written by the compactions of the
    `hours` hours after it, every one a later hour (of any age) has applied to it, and, from
    the hours beyond that window, those of `uris` (the hour's own uris).

    The last part closes the reverse order of a late delete: a delete compacted more than
    `hours` after its post's hour, before that hour held the post (its first compaction runs
    late, or the post came in a late raw file), found no index entry to apply itself to. Only
    an hour compacted late pays for it: a current hour has no tombstones beyond its window.
    """
    prefix = f"{meta_prefix(settings)}{TOMBSTONE_DIR}"
    end = after + timedelta(hours=hours)
    keys, beyond = [], []
    for info in store.list_objects(prefix, recursive=False):
        when = _tombstone_hour(info.key)
        if when is not None and after < when <= end:
            keys.append(info.key)
        elif when is not None and when > end:
            beyond.append(store.path(info.key))
    keys += [i.key for i in store.list_objects(applied_prefix(settings, after), recursive=False)]
    tables = [pq.read_table(store.path(k), filesystem=store.fs, schema=TOMBSTONE_SCHEMA) for k in keys]
    if beyond and uris is not None and len(uris):
        wanted = pc.unique(uris.combine_chunks() if isinstance(uris, pa.ChunkedArray) else uris)
        tables.append(
            ds.dataset(
                sorted(beyond), filesystem=store.fs, format="parquet", schema=TOMBSTONE_SCHEMA
            ).to_table(filter=ds.field("uri").isin(wanted))
        )
    if not tables:
        return TOMBSTONE_SCHEMA.empty_table()
    return pa.concat_tables(tables).group_by(["uri", "time_us", "operation"]).aggregate([])


def _same_tombstones(a: pa.Table, b: pa.Table) -> bool:
    order = [("uri", "ascending"), ("time_us", "ascending"), ("operation", "ascending")]
    return a.num_rows == b.num_rows and a.sort_by(order).equals(b.sort_by(order))


# -- the uri index -----------------------------------------------------------------------
def uri_hashes(uris: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Stable 64-bit hashes of uris (the lower half of their MD5), for the uri index."""
    con = duckdb.connect()
    try:
        con.register("uris", pa.table({"uri": uris}))
        hashed = con.sql("SELECT md5_number_lower(uri) AS h FROM uris ORDER BY h").to_arrow_table()
    finally:
        con.close()
    return hashed.column("h").combine_chunks().cast(pa.uint64())


def index_table(uris: pa.Array | pa.ChunkedArray, hour: datetime) -> pa.Table:
    hashes = uri_hashes(uris)
    return pa.table(
        {"uri_hash": hashes, "hour": pa.array([hour] * len(hashes), INDEX_SCHEMA.field("hour").type)},
        schema=INDEX_SCHEMA,
    )


def hours_holding(
    store: ObjectStore, settings: Settings, uris: pa.Array | pa.ChunkedArray, before: datetime
) -> list[datetime]:
    """The compacted hours before `before` whose index holds any of `uris` (hash matches can
    be false positives; the rewrite then finds nothing to remove)."""
    prefix = f"{meta_prefix(settings)}{INDEX_DIR}"
    paths = []
    for info in store.list_objects(prefix, recursive=False):
        when = _tombstone_hour(info.key)
        if when is not None and when < before:
            paths.append(store.path(info.key))
    if not paths or len(uris) == 0:
        return []
    found = (
        ds.dataset(paths, filesystem=store.fs, format="parquet", schema=INDEX_SCHEMA)
        .to_table(columns=["hour"], filter=ds.field("uri_hash").isin(uri_hashes(uris)))
        .column("hour")
    )
    return sorted(set(found.to_pylist()))


# -- writing ---------------------------------------------------------------------------------
def parquet_bytes(table: pa.Table) -> bytes:
    """Deterministic Parquet bytes (same table -> same bytes), so recompaction is byte-identical."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        row_group_size=ROW_GROUP_ROWS,
        compression=COMPRESSION,
        compression_level=3,
        write_statistics=True,
        use_dictionary=["operation", "did", "embed_kind", "text_model_version", "media_model_version"],
    )
    return sink.getvalue().to_pybytes()


def _publish(store: ObjectStore, key: str, table: pa.Table) -> int:
    """Write one object atomically (ObjectStore.put_bytes: temp+rename locally, one PUT on S3)."""
    data = parquet_bytes(table)
    store.put_bytes(key, data)
    return len(data)


def _publish_if(store: ObjectStore, key: str, table: pa.Table, expected: str | None) -> int | None:
    """Write one object atomically if nobody wrote it since `expected`; its size, or None."""
    data = parquet_bytes(table)
    return len(data) if store.put_if(key, data, expected) else None


# -- the work --------------------------------------------------------------------------------
_KEY_COLUMNS = ("uri", "time_us", "operation", "scored_at_us", "ingested_at_us", "cid", "text")


def _dedupe(
    con: duckdb.DuckDBPyConnection, raw: pa.Table, later_deletes: pa.Table
) -> tuple[pa.Table, pa.Table, int, int, int]:
    """(kept rows, this hour's tombstones, valid input rows, distinct uris, posts removed by deletes).

    DuckDB ranks a narrow projection (the key columns and a row number) and returns the row
    numbers to keep in output order; Arrow then takes those rows from the raw table. The wide
    columns (media, links, labels...) are never copied into DuckDB, which keeps peak memory
    near twice the raw hour instead of four times.
    """
    keys = raw.select(list(_KEY_COLUMNS)).append_column("row_id", pa.array(range(raw.num_rows), pa.int64()))
    con.register("raw_in", keys)
    con.register("later_deletes", later_deletes)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE latest AS
        SELECT uri, time_us, operation, row_id FROM raw_in
        WHERE {_VALID_ROW}
        QUALIFY row_number() OVER (PARTITION BY uri ORDER BY {_NEWEST_FIRST}, row_id DESC) = 1
        """
    )
    keep_ids = con.sql(
        f"""
        SELECT l.row_id FROM latest l
        WHERE l.operation <> 'delete'
          AND NOT EXISTS (SELECT 1 FROM later_deletes d WHERE d.uri = l.uri AND {_SUPERSEDED})
        ORDER BY l.time_us, l.uri
        """
    ).to_arrow_table()
    tombstones = con.sql(
        "SELECT uri, time_us, operation FROM latest WHERE operation IN ('delete', 'update') ORDER BY uri"
    ).to_arrow_table()
    valid = con.sql(f"SELECT count(*) FROM raw_in WHERE {_VALID_ROW}").fetchall()[0][0]
    distinct = con.sql("SELECT count(*) FROM latest").fetchall()[0][0]
    # Posts this hour's deletes removed: the uri had a live version here and its newest is a delete.
    own_deletes = con.sql(
        """
        SELECT count(DISTINCT r.uri) FROM raw_in r JOIN latest l USING (uri)
        WHERE l.operation = 'delete' AND r.operation <> 'delete'
        """
    ).fetchall()[0][0]
    candidates = con.sql("SELECT count(*) FROM latest WHERE operation <> 'delete'").fetchall()[0][0]
    con.execute("DROP TABLE latest")
    con.unregister("raw_in")
    con.unregister("later_deletes")
    kept = raw.take(keep_ids.column("row_id"))
    return kept, tombstones, int(valid), int(distinct), int(own_deletes) + int(candidates) - kept.num_rows


def _record_applied(
    store: ObjectStore, settings: Settings, target: datetime, hour: datetime, rows: pa.Table
) -> None:
    """Add `hour`'s tombstones to those applied to `target` (a union: never loses an entry)."""
    key = f"{applied_prefix(settings, target)}{hour:%Y-%m-%d-%H}.parquet"
    for _ in range(MAX_ATTEMPTS):
        version = store.version(key)
        merged = rows
        if version is not None:
            before = pq.read_table(store.path(key), filesystem=store.fs, schema=TOMBSTONE_SCHEMA)
            merged = pa.concat_tables([before, rows]).group_by(["uri", "time_us", "operation"]).aggregate([])
        merged = merged.select(TOMBSTONE_SCHEMA.names).sort_by([("uri", "ascending")]).cast(TOMBSTONE_SCHEMA)
        if _publish_if(store, key, merged, version) is not None:
            return
    raise CompactionError(
        f"could not record the deletes of {hour:%Y-%m-%d %H}:00 for {target:%Y-%m-%d %H}:00"
    )


def _remove_superseded(store: ObjectStore, settings: Settings, target: datetime, tombstones: pa.Table) -> int:
    """Rewrite `target`'s partition without the rows `tombstones` supersede; rows removed."""
    key = compacted_key(settings, target)
    for _ in range(MAX_ATTEMPTS):
        version = store.version(key)
        if version is None:
            return 0
        part = pq.read_table(store.path(key), filesystem=store.fs)
        con = duckdb.connect()
        try:
            con.register("later_deletes", tombstones)
            con.register("part_in", part)
            kept = con.sql(
                f"""
                SELECT l.* FROM part_in l
                WHERE NOT EXISTS (SELECT 1 FROM later_deletes d WHERE d.uri = l.uri AND {_SUPERSEDED})
                ORDER BY l.time_us, l.uri
                """
            ).to_arrow_table()
        finally:
            con.close()
        if kept.num_rows == part.num_rows:
            return 0
        if _publish_if(store, key, conform(kept), version) is not None:
            return part.num_rows - kept.num_rows
    raise CompactionError(f"{key} kept changing while deletes were applied to it")


def _apply_to_earlier(
    store: ObjectStore, settings: Settings, hour: datetime, tombstones: pa.Table
) -> tuple[int, list[str]]:
    """Remove rows superseded by `hour`'s tombstones from earlier compacted partitions, at any age.

    The uri index names the hours to visit. Each gets the tombstones recorded first (so its
    next recompaction keeps them) and is then rewritten conditionally.
    """
    if tombstones.num_rows == 0:
        return 0, []
    removed, rewritten = 0, []
    hashes = uri_hashes_in_order(tombstones.column("uri"))
    for target in hours_holding(store, settings, tombstones.column("uri"), before=hour):
        target_uris = pq.read_table(
            store.path(index_key(settings, target)), filesystem=store.fs, columns=["uri_hash"]
        ).column("uri_hash")
        mine = tombstones.filter(pc.is_in(hashes, value_set=target_uris))
        if mine.num_rows == 0:
            continue
        _record_applied(store, settings, target, hour, mine)
        gone = _remove_superseded(store, settings, target, mine)
        if gone:
            removed += gone
            rewritten.append(compacted_key(settings, target))
    return removed, rewritten


def uri_hashes_in_order(uris: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`uri_hashes` without sorting: one hash per uri, in the input order."""
    con = duckdb.connect()
    try:
        con.register("uris", pa.table({"uri": uris, "n": pa.array(range(len(uris)), pa.int64())}))
        hashed = con.sql("SELECT md5_number_lower(uri) AS h FROM uris ORDER BY n").to_arrow_table()
    finally:
        con.close()
    return hashed.column("h").combine_chunks().cast(pa.uint64())


def compact_hour(
    store: ObjectStore,
    settings: Settings,
    hour: datetime,
    *,
    delete_lookback_hours: int = DELETE_LOOKBACK_HOURS,
    threads: int | None = None,
) -> CompactionResult:
    """Compact one raw arrival hour into its compacted partition (idempotent, atomic, safe to
    run concurrently with any other compaction)."""
    hour = floor_hour(hour)
    conflicts = 0
    for _ in range(MAX_ATTEMPTS):
        result, tombstones = _compact_once(store, settings, hour, delete_lookback_hours, threads)
        if tombstones is not None:
            break
        conflicts += 1
        log.info("compaction of %s lost a race to another writer; recomputing", hour)
    else:
        raise CompactionError(
            f"{hour:%Y-%m-%d %H}:00 was changed by other writers {MAX_ATTEMPTS} times while it was compacted"
        )
    result.conflicts = conflicts
    removed, result.partitions_rewritten = _apply_to_earlier(store, settings, hour, tombstones)
    result.deletes_applied += removed
    from fraud_pipeline.lake import verdicts  # imports this module

    relabelled, rewritten = verdicts.apply_verdicts_to_earlier(
        store, settings, hour, verdicts.read_verdicts(store, settings, hour, hour)
    )
    result.verdicts_applied += relabelled
    result.partitions_rewritten += [key for key in rewritten if key not in result.partitions_rewritten]
    if result.invalid_rows:
        log.warning("%d raw rows of %s had no uri or an unknown operation", result.invalid_rows, hour)
    return result


def _compact_once(
    store: ObjectStore, settings: Settings, hour: datetime, lookback_hours: int, threads: int | None
) -> tuple[CompactionResult, pa.Table | None]:
    """One attempt: (result, this hour's tombstones), or (result, None) when another writer
    changed the partition, its tombstones or its index after this attempt read them."""
    result = CompactionResult(hour=hour, key=compacted_key(settings, hour))
    ts_key, idx_key = tombstone_key(settings, hour), index_key(settings, hour)
    versions = {key: store.version(key) for key in (result.key, ts_key, idx_key)}  # before any input
    files = raw_hour_files(store, settings, hour)
    result.files_in = len(files)
    result.bytes_in = sum(f.size for f in files)
    raw, result.rejected_files = read_raw(store, files)
    if files and len(result.rejected_files) == len(files):
        raise CompactionError(
            f"none of the {len(files)} raw files of {hour:%Y-%m-%d %H}:00 is readable; "
            f"first error: {result.rejected_files[0].key}: {result.rejected_files[0].reason}"
        )
    result.rows_in = raw.num_rows
    from fraud_pipeline.lake import verdicts  # imports this module

    raw, hour_verdicts = verdicts.split_verdicts(raw)  # re-labelling, applied after the dedupe
    verdicts.publish_verdicts(store, settings, hour, hour_verdicts)
    own_uris = raw.column("uri")  # beyond the lookback, only tombstones of these are read
    later = read_tombstones(store, settings, hour, lookback_hours, own_uris)

    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        kept, tombstones, valid, distinct, removed_here = _dedupe(con, raw, later)
    finally:
        con.close()
    del raw  # only `kept` is needed from here on
    kept = conform(kept)
    kept, result.verdicts_applied = verdicts.apply_verdicts(
        kept,
        verdicts.read_verdicts(
            store, settings, *verdicts.lookback_window(hour, lookback_hours), uris=kept.column("uri")
        ),
    )
    result.invalid_rows = result.rows_in - hour_verdicts.num_rows - valid
    result.duplicates_dropped = valid - distinct
    tombstones = tombstones.cast(TOMBSTONE_SCHEMA)
    result.deletes_applied = removed_here  # own deletes + later hours' tombstones
    result.rows_out = kept.num_rows
    result.fraud_rows = int(pc.sum(pc.fill_null(kept.column("is_fraud"), False)).as_py() or 0)

    written = _publish_if(store, result.key, kept, versions[result.key])
    if written is None:
        return result, None
    result.bytes_out = written
    if (tombstones.num_rows or versions[ts_key] is not None) and _publish_if(
        store, ts_key, tombstones, versions[ts_key]
    ) is None:
        return result, None
    if _publish_if(store, idx_key, index_table(kept.column("uri"), hour), versions[idx_key]) is None:
        return result, None
    # A later hour that published its tombstones after we read them and looked for our rows
    # before we published them: recompute with its tombstones.
    if not _same_tombstones(later, read_tombstones(store, settings, hour, lookback_hours, own_uris)):
        return result, None
    return result, tombstones


def raw_hours(store: ObjectStore, settings: Settings) -> list[datetime]:
    """Every raw arrival hour that has a prefix, found by walking YYYY/MM/DD/HH/ prefixes."""
    hours: list[datetime] = []
    for year in store.list_dirs(settings.posts_prefix):
        for month in store.list_dirs(year):
            for day in store.list_dirs(month):
                for hour_dir in store.list_dirs(day):
                    y, m, d, h = hour_dir.rstrip("/").split("/")[-4:]
                    try:
                        hours.append(datetime(int(y), int(m), int(d), int(h), tzinfo=UTC))
                    except ValueError:
                        log.warning("ignoring raw prefix that is not an hour: %s", hour_dir)
    return sorted(hours)
