"""One lineage graph: the streaming path as external assets, from Bluesky to the dashboard tables.

Dagster does not run the streaming path (ingest, Kinesis, the scoring Lambda, Firehose run
on their own), it watches it. Declaring each hop as an external asset (`AssetSpec`) with its
upstream makes the asset graph the one picture of the system: from the Dagster UI a user follows
a post from the Jetstream source through the untagged stream, the scoring function (and the two
model endpoints it calls, each downstream of the model package it serves), the tagged stream
and the raw lake, into the compacted lake, the catalog and the dbt marts, and from the tagged
stream to the labels Bluesky's clients subscribe to.

The stream-health sensor (`monitoring.py`) records an observation on each of them every tick:
`observations()` here says what each one carries (lag, rates, errors, model and policy versions).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
from dagster import AssetKey, AssetObservation, AssetSpec

from fraud_pipeline.ingest.firehose import CURSOR_KEY as FIREHOSE_CURSOR_KEY
from fraud_pipeline.ingest.jetstream import CURSOR_KEY as JETSTREAM_CURSOR_KEY
from fraud_pipeline.lake.compaction import raw_hour_files
from fraud_pipeline.lake.paths import hour_path
from fraud_pipeline.metrics.base import MetricsSink
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.objects.store import ObjectInfo
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import StateStore

JETSTREAM = AssetKey("jetstream")
UNTAGGED_STREAM = AssetKey("untagged_stream")
SCORING_FUNCTION = AssetKey("scoring_function")
TEXT_MODEL_PACKAGE = AssetKey("text_model_package")  # built by the model domain (model.py)
MEDIA_MODEL_PACKAGE = AssetKey("media_model_package")
TEXT_ENDPOINT = AssetKey("text_model_endpoint")
MEDIA_ENDPOINT = AssetKey("media_model_endpoint")
TAGGED_STREAM = AssetKey("tagged_stream")
RAW_POSTS = AssetKey("raw_posts")  # declared by the lake domain (lake.py), downstream of TAGGED_STREAM
LABELS = AssetKey("published_labels")
RAW_ACCOUNTS = AssetKey("raw_accounts")  # account verdict records, the `accounts` table
GROUP = "streaming"
RECENT_S = 300  # the window the observations' rates are computed over
VERSION_COLUMNS = ("text_model_version", "media_model_version", "policy_version")

streaming_assets = [
    AssetSpec(
        JETSTREAM,
        group_name=GROUP,
        kinds={"bluesky"},
        description=(
            "Bluesky's public posts: Jetstream (wss, JSON), the atproto firehose, or a replayed capture; "
            "read by `fraud-pipeline ingest` (ECS Fargate on AWS), cursor kept in the state store."
        ),
    ),
    AssetSpec(
        UNTAGGED_STREAM,
        group_name=GROUP,
        kinds={"kinesis"},
        deps=[JETSTREAM],
        description="Ingest -> scoring stream (Kinesis or SQLite log), partition key = author DID.",
    ),
    AssetSpec(
        MEDIA_MODEL_PACKAGE,
        group_name="model",
        kinds={"s3"},
        description="model.tar.gz the media endpoint serves (models/media/ in the lake bucket).",
    ),
    AssetSpec(
        TEXT_ENDPOINT,
        group_name=GROUP,
        kinds={"sagemaker"},
        deps=[TEXT_MODEL_PACKAGE],
        description="Text fraud model endpoint (SageMaker, the local model server, or in-process).",
    ),
    AssetSpec(
        MEDIA_ENDPOINT,
        group_name=GROUP,
        kinds={"sagemaker"},
        deps=[MEDIA_MODEL_PACKAGE],
        description="Media fraud model endpoint (scores what a post's media says).",
    ),
    AssetSpec(
        SCORING_FUNCTION,
        group_name=GROUP,
        kinds={"lambda"},
        deps=[UNTAGGED_STREAM, TEXT_ENDPOINT, MEDIA_ENDPOINT],
        description=(
            "fraud_pipeline.scoring.handler.handler: models, signals and rules -> verdict; Lambda behind "
            "an event source mapping on AWS, the poller's worker locally. Undecodable records -> errors/."
        ),
    ),
    AssetSpec(
        TAGGED_STREAM,
        group_name=GROUP,
        kinds={"kinesis"},
        deps=[SCORING_FUNCTION],
        description="Scoring -> delivery stream; consumer: Firehose (or its local stand-in) into raw_posts.",
    ),
    AssetSpec(
        LABELS,
        group_name=GROUP,
        kinds={"bluesky"},
        deps=[TAGGED_STREAM],
        description=(
            "Signed atproto labels the labels worker derives from the tagged stream (the verdict's "
            "`action`); served by `fraud-pipeline labeler` (subscribeLabels, queryLabels) and copied "
            "to labels/YYYY/MM/DD/HH/ in the lake."
        ),
    ),
    AssetSpec(
        RAW_ACCOUNTS,
        group_name=GROUP,
        kinds={"s3", "parquet"},
        deps=[TAGGED_STREAM],
        description=(
            "Account verdict records (an account's verdict changed) the delivery lands under "
            "accounts/YYYY/MM/DD/HH/: the `accounts` table the flagged_accounts mart reads."
        ),
    ),
]


def _sum(metrics: MetricsSink, settings: Settings, name: str, start_ms: int, end_ms: int) -> float:
    points = metrics.query(settings.metric_namespace, name, start_ms, end_ms, period_s=60, stat="Sum")
    return sum(p.value for p in points)


def scoring_metadata(metrics: MetricsSink, settings: Settings, now_ms: int) -> dict[str, Any]:
    """The scoring function over the last RECENT_S: throughput, errors, model outages, latency."""
    start = now_ms - RECENT_S * 1000
    processed = _sum(metrics, settings, "Post-Processed", start, now_ms)
    latency = metrics.query(
        settings.metric_namespace, "Scoring-Latency-Ms", start, now_ms, period_s=RECENT_S, stat="Maximum"
    )
    return {
        "posts_per_second": round(processed / RECENT_S, 3),
        "errors_5m": int(_sum(metrics, settings, "Post-Error", start, now_ms)),
        "text_model_unavailable_5m": int(_sum(metrics, settings, "Text-Model-Unavailable", start, now_ms)),
        "media_model_unavailable_5m": int(_sum(metrics, settings, "Media-Model-Unavailable", start, now_ms)),
        "max_batch_latency_ms": round(max((p.value for p in latency), default=0.0), 1),
    }


def _newest_raw_file(store: ObjectStore, settings: Settings, now: datetime) -> ObjectInfo | None:
    """The newest file in the raw lake's current or previous arrival hour (two listings, no scan)."""
    for back in (0, 1):
        files = raw_hour_files(store, settings, now - timedelta(hours=back))
        if files:
            return max(files, key=lambda o: (o.mtime_ms, o.key))
    return None


def labels_metadata(store: ObjectStore, settings: Settings, now_ms: int) -> dict[str, Any]:
    """The newest labels file copied to the lake (current or previous hour) and its age."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    for back in (0, 1):
        prefix = settings.labels_prefix + hour_path(now - timedelta(hours=back))
        files = [o for o in store.list_objects(prefix, recursive=False) if o.key.endswith(".parquet")]
        if files:
            newest = max(files, key=lambda o: (o.mtime_ms, o.key))
            age = round(max(0.0, (now_ms - newest.mtime_ms) / 1000), 1)
            return {"newest_file": newest.key, "newest_file_age_s": age}
    return {"newest_file": "", "newest_file_age_s": -1.0}


def raw_lake_metadata(store: ObjectStore, settings: Settings, now_ms: int) -> dict[str, Any]:
    """What landed last: the newest raw file, its age, rows, and the model/policy versions in it."""
    newest = _newest_raw_file(store, settings, datetime.fromtimestamp(now_ms / 1000, UTC))
    if newest is None:
        return {"newest_file": "", "newest_file_age_s": -1.0}
    schema = pq.read_schema(store.path(newest.key), filesystem=store.fs)
    columns = [c for c in VERSION_COLUMNS if c in schema.names]
    table = pq.read_table(store.path(newest.key), filesystem=store.fs, columns=columns)
    versions = {
        column: ",".join(sorted({v for v in table.column(column).to_pylist() if v})) for column in columns
    }
    return {
        "newest_file": newest.key,
        "newest_file_age_s": round(max(0.0, (now_ms - newest.mtime_ms) / 1000), 1),
        "newest_file_rows": table.num_rows,
        **versions,
    }


def source_metadata(state: StateStore, now_ms: int) -> dict[str, Any]:
    """How far behind live the ingest's cursor is (Jetstream and the firehose keep one)."""
    for source, key in (("jetstream", JETSTREAM_CURSOR_KEY), ("firehose", FIREHOSE_CURSOR_KEY)):
        cursor = state.get_checkpoint(key)
        if cursor and source == "jetstream":  # time_us of the last event read
            return {"source": source, "cursor_lag_s": round(max(0.0, now_ms / 1000 - int(cursor) / 1e6), 1)}
        if cursor:  # the firehose's sequence number
            return {"source": source, "cursor": cursor}
    return {"source": "replay or not started", "cursor_lag_s": -1.0}


def observations(
    settings: Settings,
    metrics: MetricsSink,
    store: ObjectStore,
    state: StateStore,
    now_ms: int | None = None,
) -> Iterator[AssetObservation]:
    """One observation each for the source, the scoring function, the raw lake and the labels (the streams
    and endpoints are observed beside their checks in monitoring.py). A part that cannot be read
    is observed with the error, so the UI shows it instead of a silent gap."""
    now_ms = now_ms or int(time.time() * 1000)
    for key, read in (
        (JETSTREAM, lambda: source_metadata(state, now_ms)),
        (SCORING_FUNCTION, lambda: scoring_metadata(metrics, settings, now_ms)),
        (RAW_POSTS, lambda: raw_lake_metadata(store, settings, now_ms)),
        (LABELS, lambda: labels_metadata(store, settings, now_ms)),
    ):
        try:
            metadata = read()
        except Exception as exc:  # one unreadable part must not hide the others
            metadata = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        yield AssetObservation(asset_key=key, metadata=metadata)
