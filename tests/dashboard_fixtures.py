"""Data for the dashboard tests: a metrics store, a mart-shaped warehouse and raw-lake files.

Everything is written through the project's real ports (metrics port, object store, lake key
layout, lake Arrow schema) and a real DuckDB file, and each helper returns what was written so
tests compute expectations independently of the dashboard code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from fraud_pipeline.lake.paths import firehose_object_key
from fraud_pipeline.metrics import MetricDatum, open_metrics
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import TaggedRecord, iso_from_us, tagged_rows_to_table
from fraud_pipeline.settings import Settings

SEED = (
    "Post-Processed",
    "Post-Text-Only",
    "Post-Is-Fraud",
    "Post-Fraud-Both",
    "Post-Fraud-Media",
    "Post-Fraud-Text",
)


@dataclass
class MetricsTruth:
    """Per-second values written, keyed by metric name then second start (ms)."""

    per_second: dict[str, dict[int, float]] = field(default_factory=dict)
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # exact timestamps
    latencies: dict[int, list[float]] = field(default_factory=dict)

    def total(self, name: str, start_ms: int, end_ms: int) -> float:
        return sum(v for ts, v in self.points.get(name, []) if start_ms <= ts < end_ms)


def fill_metrics(settings: Settings, end_ms: int, seconds: int = 120, seed: int = 7) -> MetricsTruth:
    """Seed metrics for each of the `seconds` whole seconds before `end_ms` (one batch per second,
    as the scoring handler publishes them, zeros included), plus scoring latencies."""
    rng = random.Random(seed)
    truth = MetricsTruth()
    data: list[MetricDatum] = []
    last_second = end_ms - end_ms % 1000 - 1000
    for i in range(seconds):
        ts = last_second - i * 1000
        processed = rng.randint(20, 60)
        text_only = rng.randint(0, processed)
        fraud = rng.randint(0, processed // 4)
        both = rng.randint(0, fraud // 2)
        media = both + rng.randint(0, fraud - both)
        text = both + (fraud - media)
        values = dict(zip(SEED, (processed, text_only, fraud, both, media, text), strict=True))
        for name, value in values.items():
            exact = ts + rng.randint(0, 999)
            truth.per_second.setdefault(name, {})[ts] = float(value)
            truth.points.setdefault(name, []).append((exact, float(value)))
            data.append(MetricDatum(name, float(value), "Count", exact))
        latency = rng.uniform(2, 40)
        truth.latencies.setdefault(ts, []).append(latency)
        data.append(MetricDatum("Scoring-Latency-Ms", latency, "Milliseconds", ts + 500))
    sink = open_metrics(settings)
    try:
        sink.put(settings.metric_namespace, data)
    finally:
        sink.close()
    return truth


# -- warehouse ---------------------------------------------------------------------------

TOP_DOMAINS = [("eth-giveaway.live", 42, 17), ("wallet-verify.io", 31, 12), ("bsky-support.help", 9, 5)]
SUMMARY_HOURS = 5


def build_warehouse(path: Path) -> None:
    """A DuckDB file holding two marts with the columns of `dbt/models/marts/*.sql`, rows shuffled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE top_fraud_domains (domain VARCHAR, fraud_posts BIGINT, accounts BIGINT, "
            "first_seen TIMESTAMP, last_seen TIMESTAMP, rank BIGINT)"
        )
        rows = [
            (domain, posts, accounts, datetime(2026, 11, 29, 10), datetime(2026, 11, 29, 11), rank + 1)
            for rank, (domain, posts, accounts) in enumerate(TOP_DOMAINS)
        ]
        con.executemany("INSERT INTO top_fraud_domains VALUES (?, ?, ?, ?, ?, ?)", rows[::-1])
        con.execute(
            "CREATE TABLE fraud_summary AS SELECT TIMESTAMP '2026-11-29 10:00:00' + INTERVAL (h) HOUR "
            "AS arrival_hour, 100 + h AS posts, h AS fraud_posts, round(h / (100.0 + h), 6) AS fraud_rate "
            f"FROM range({SUMMARY_HOURS}) t(h) ORDER BY random()"
        )
    finally:
        con.close()


# -- raw lake ----------------------------------------------------------------------------


def tagged(
    rng: random.Random, time_us: int, *, fraud: bool, text: str, domain: str | None = None
) -> TaggedRecord:
    did = f"did:plc:{rng.getrandbits(40):010x}"
    rkey = f"3l{rng.getrandbits(50):013x}"
    score = rng.uniform(0.7, 0.99) if fraud else rng.uniform(0.01, 0.3)
    return TaggedRecord(
        uri=f"at://{did}/app.bsky.feed.post/{rkey}",
        time_utc=iso_from_us(time_us),
        text=text,
        media_paths=[],
        fraud_text_likelihood=score,
        fraud_media_likelihood=None,
        did=did,
        rkey=rkey,
        cid=f"bafyrei{rng.getrandbits(60):015x}",
        operation="create",
        time_us=time_us,
        created_at=iso_from_us(time_us),
        langs=["en"],
        links=[f"https://{domain}/x"] if domain else [],
        domains=[domain] if domain else [],
        mentions=[],
        tags=[],
        reply_root=None,
        reply_parent=None,
        embed_kind=None,
        media_kinds=[],
        media_cids=[],
        media_alts=[],
        quote_uri=None,
        external_uri=None,
        fraud_score=score,
        is_fraud=fraud,
        labels=["crypto-giveaway"] if fraud else [],
        reasons=["text model"] if fraud else [],
        rule_hits=[],
        text_model_version="tfidf-v1",
        media_model_version=None,
        ingested_at_us=time_us + 1000,
        scored_at_us=time_us + 5000,
    )


def write_lake_file(settings: Settings, records: list[TaggedRecord], when: datetime) -> str:
    """One delivered Parquet file at the Firehose-style key for `when`; returns its key."""
    store = ObjectStore.from_settings(settings)
    ensure_bucket(settings)
    table = tagged_rows_to_table([_as_dict(r) for r in records])
    key = firehose_object_key(settings.posts_prefix, settings.delivery_stream, when)
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store.put_bytes(key, sink.getvalue().to_pybytes())
    return key


def ensure_bucket(settings: Settings) -> None:
    """The lake bucket or folder (S3 buckets through boto3, as provisioning creates them)."""
    if settings.backend == "local":
        ObjectStore.from_settings(settings).ensure_bucket()
        return
    import boto3

    s3 = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.endpoint_url)
    if settings.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=settings.bucket)


def _as_dict(record: TaggedRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]


def utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def build_seed_minutes(path: Path, minutes: dict[int, dict[str, float]]) -> None:
    """A warehouse holding `seed_metrics_per_minute` (dbt/models/marts) with the given counters,
    keyed by minute start (ms) then seed metric name."""
    from fraud_pipeline.dashboard.history import MART_COLUMNS

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        columns = ", ".join(f"{c} BIGINT" for c in MART_COLUMNS.values())
        con.execute(f"CREATE TABLE seed_metrics_per_minute (ts TIMESTAMP, {columns}, pct_fraud DOUBLE)")
        rows = [
            (
                datetime.fromtimestamp(ts / 1000, tz=UTC).replace(tzinfo=None),
                *(int(counts[m]) for m in MART_COLUMNS),
                100.0 * counts["Post-Is-Fraud"] / counts["Post-Processed"],
            )
            for ts, counts in minutes.items()
        ]
        con.executemany(
            f"INSERT INTO seed_metrics_per_minute VALUES (?{', ?' * (len(MART_COLUMNS) + 1)})", rows
        )
    finally:
        con.close()
