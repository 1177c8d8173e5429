"""Verdict updates in the lake: compaction applies a campaign's re-labelling to its earlier posts.

A campaign is only seen to be one after its first posts were scored and landed unflagged; the
scorer then sends a verdict-update record per earlier post (`operation == "verdict"`, see
`scoring/relabel.py`). Delivery lands them in the raw lake like any tagged record, in the
arrival hour of the update, which may be later than the post's. Compaction applies them:

- a raw hour's verdict rows are kept apart from its posts and written to
  `compacted_meta/verdicts/YYYY-MM-DD-HH.parquet` (before the partition is published);
- compacting hour H applies the verdicts of H and of the next `lookback_hours` hours to H's
  rows, and from the hours beyond that only the verdicts of H's own uris (as deletes do), so
  recompacting H (a late raw file) keeps them, and an hour compacted for the first time after
  a much later verdict's hour was (a late run, an out-of-order backfill) gets it too;
- and after H is published, H's verdicts are applied to the earlier partitions that hold
  their posts (the uri index names them), each rewritten conditionally, as deletes are.

Per post the latest verdict wins (highest `scored_at_us`): it sets `is_fraud`, `action`,
`fraud_score` and `campaign_id`; its labels, reasons and rule hits are added to the post's
(once: applying a verdict twice changes nothing), so the lake, the marts and the dashboard
show the final verdict with every reason for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from fraud_pipeline.lake import compaction as lake
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import VERDICT_OPERATION
from fraud_pipeline.settings import Settings

VERDICT_DIR = "verdicts/"
VERDICT_SCHEMA = pa.schema(
    [
        pa.field("uri", pa.string(), nullable=False),
        pa.field("scored_at_us", pa.int64()),
        pa.field("is_fraud", pa.bool_()),
        pa.field("action", pa.string()),
        pa.field("fraud_score", pa.float64()),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("rule_hits", pa.list_(pa.string())),
        pa.field("campaign_id", pa.string()),
    ]
)
_REPLACED = ("is_fraud", "action", "fraud_score", "campaign_id")
_ADDED = ("labels", "reasons", "rule_hits")


def verdict_key(settings: Settings, hour: datetime) -> str:
    return f"{lake.meta_prefix(settings)}{VERDICT_DIR}{hour.astimezone(UTC):%Y-%m-%d-%H}.parquet"


def split_verdicts(raw: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(the posts, the verdict updates) of a raw hour, verdicts in `VERDICT_SCHEMA`, sorted."""
    is_verdict = pc.fill_null(pc.equal(raw.column("operation"), VERDICT_OPERATION), False)
    verdicts = raw.filter(is_verdict)
    verdicts = verdicts.filter(pc.fill_null(pc.not_equal(verdicts.column("uri"), ""), False))
    verdicts = verdicts.select(VERDICT_SCHEMA.names).cast(VERDICT_SCHEMA)
    order = [("uri", "ascending"), ("scored_at_us", "ascending")]
    return raw.filter(pc.invert(is_verdict)), verdicts.sort_by(order)


def publish_verdicts(store: ObjectStore, settings: Settings, hour: datetime, verdicts: pa.Table) -> None:
    """Keep the hour's verdicts for later recompactions (deterministic bytes: same rows, same file)."""
    if verdicts.num_rows:
        store.put_bytes(verdict_key(settings, hour), lake.parquet_bytes(verdicts))


def read_verdicts(
    store: ObjectStore,
    settings: Settings,
    first: datetime,
    last: datetime,
    uris: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """The verdicts delivered in the hours `first`..`last` (both included), and, with `uris`,
    those of these uris delivered in any hour after `last` (filtered as they are read: a
    current hour has no verdict hours beyond its window, so only an hour compacted late pays)."""
    prefix = f"{lake.meta_prefix(settings)}{VERDICT_DIR}"
    tables, beyond = [], []
    for info in store.list_objects(prefix, recursive=False):
        name = info.key.rsplit("/", 1)[-1].removesuffix(".parquet")
        try:
            when = datetime.strptime(name, "%Y-%m-%d-%H").replace(tzinfo=UTC)
        except ValueError:
            continue
        if first <= when <= last:
            tables.append(pq.read_table(store.path(info.key), filesystem=store.fs, schema=VERDICT_SCHEMA))
        elif when > last:
            beyond.append(store.path(info.key))
    if beyond and uris is not None and len(uris):
        wanted = pc.unique(uris.combine_chunks() if isinstance(uris, pa.ChunkedArray) else uris)
        dataset = ds.dataset(sorted(beyond), filesystem=store.fs, format="parquet", schema=VERDICT_SCHEMA)
        tables.append(dataset.to_table(filter=ds.field("uri").isin(wanted)))
    return pa.concat_tables(tables) if tables else VERDICT_SCHEMA.empty_table()


def _latest(verdicts: pa.Table) -> dict[str, dict[str, Any]]:
    """uri -> its latest verdict (highest scored_at_us; ties broken by content, deterministically)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in verdicts.to_pylist():
        known = latest.get(row["uri"])
        key = (row["scored_at_us"] or 0, repr(sorted(row.items())))
        if known is None or key > (known["scored_at_us"] or 0, repr(sorted(known.items()))):
            latest[row["uri"]] = row
    return latest


def apply_verdicts(table: pa.Table, verdicts: pa.Table) -> tuple[pa.Table, int]:
    """`table` (lake schema) with the latest verdict of each of its posts applied; rows changed."""
    if verdicts.num_rows == 0 or table.num_rows == 0:
        return table, 0
    hit = pc.is_in(table.column("uri"), value_set=verdicts.column("uri").unique())
    if not pc.any(hit).as_py():
        return table, 0
    latest = _latest(verdicts)
    columns = {name: table.column(name).to_pylist() for name in ("uri", *_REPLACED, *_ADDED)}
    changed = 0
    for index in pc.indices_nonzero(hit).to_pylist():
        verdict = latest[columns["uri"][index]]
        before = tuple(columns[name][index] for name in (*_REPLACED, *_ADDED))
        for name in _REPLACED:
            if verdict[name] is not None:
                columns[name][index] = verdict[name]
        for name in _ADDED:
            have = list(columns[name][index] or [])
            have.extend(v for v in verdict[name] or [] if v not in have)
            columns[name][index] = have
        changed += before != tuple(columns[name][index] for name in (*_REPLACED, *_ADDED))
    if not changed:
        return table, 0
    for name in (*_REPLACED, *_ADDED):
        position = table.schema.get_field_index(name)
        table = table.set_column(
            position, table.schema.field(name), pa.array(columns[name], table.schema.field(name).type)
        )
    return table, changed


def apply_verdicts_to_earlier(
    store: ObjectStore, settings: Settings, hour: datetime, verdicts: pa.Table
) -> tuple[int, list[str]]:
    """Apply `hour`'s verdicts to the earlier compacted partitions holding their posts, each
    rewritten only if nobody wrote it since it was read (else re-read and re-applied)."""
    if verdicts.num_rows == 0:
        return 0, []
    changed, rewritten = 0, []
    for target in lake.hours_holding(store, settings, verdicts.column("uri"), before=hour):
        key = lake.compacted_key(settings, target)
        for _ in range(lake.MAX_ATTEMPTS):
            version = store.version(key)
            if version is None:
                break
            part = pq.read_table(store.path(key), filesystem=store.fs)
            updated, n = apply_verdicts(lake.conform(part), verdicts)
            if n == 0:
                break
            if store.put_if(key, lake.parquet_bytes(updated), version):
                changed += n
                rewritten.append(key)
                break
        else:
            raise lake.CompactionError(f"{key} kept changing while verdicts were applied to it")
    return changed, rewritten


def lookback_window(hour: datetime, lookback_hours: int) -> tuple[datetime, datetime]:
    """The delivery hours whose verdicts compacting `hour` applies: it and the next ones."""
    return hour, hour + timedelta(hours=lookback_hours)
