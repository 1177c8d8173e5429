# ruff: noqa: E501  (the synthetic-data SQL reads best one column per line)
"""Compaction of 1,000,000 raw posts (one hour, 10 files, ~5% duplicates, 1% deletes) on one core.

Prints one JSON object: seconds (median of runs), rows/s, bytes/s (raw input bytes), peak RSS.
Targets: under 30 s, peak memory under 2 GB.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraud_pipeline.lake.compaction import compact_hour, conform
from fraud_pipeline.lake.paths import firehose_object_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings, load_settings

HOUR = datetime(2026, 11, 29, 14, tzinfo=UTC)


def synth_table(rows: int, start_us: int, span_s: int = 3600, seed: int = 1) -> pa.Table:
    """`rows` tagged records (vectorized in DuckDB): ~20% fraud, campaigns, media, domains."""
    con = duckdb.connect()
    con.sql(f"SELECT setseed({(seed % 100) / 100})").fetchall()
    table = con.sql(
        f"""
        SELECT
          'at://did:plc:u' || (i % {max(rows // 3, 1)}) || '/app.bsky.feed.post/r{seed}x' || i AS uri,
          make_timestamptz({start_us} + (i * {span_s * 1_000_000} // {rows})) AS time_utc,
          CASE WHEN i % 5 = 0 THEN 'Send 0.1 ETH get 1 ETH back campaign ' || (i % 17)
               ELSE 'organic post number ' || i || ' about the weather and the game tonight' END AS text,
          CASE WHEN i % 4 = 1 THEN ['https://cdn.bsky.app/img/' || i || '@jpeg'] ELSE []::VARCHAR[] END AS media_paths,
          CASE WHEN i % 5 = 0 THEN 0.9 ELSE random() * 0.3 END AS fraud_text_likelihood,
          CASE WHEN i % 4 = 1 THEN random() ELSE NULL END AS fraud_media_likelihood,
          'did:plc:u' || (i % {max(rows // 3, 1)}) AS did,
          'r{seed}x' || i AS rkey, 'bafy' || i AS cid, 'create' AS operation,
          {start_us} + (i * {span_s * 1_000_000} // {rows}) AS time_us,
          NULL::VARCHAR AS created_at, ['en'] AS langs,
          CASE WHEN i % 3 = 0 THEN ['https://' || CASE WHEN i % 5 = 0 THEN 'eth-giveaway.live' ELSE 'github.com' END]
               ELSE []::VARCHAR[] END AS links,
          CASE WHEN i % 3 = 0 THEN [CASE WHEN i % 5 = 0 THEN 'eth-giveaway.live' ELSE 'github.com' END]
               ELSE []::VARCHAR[] END AS domains,
          []::VARCHAR[] AS mentions, []::VARCHAR[] AS tags, NULL::VARCHAR AS reply_root, NULL::VARCHAR AS reply_parent,
          CASE WHEN i % 4 = 1 THEN 'images' ELSE NULL END AS embed_kind,
          CASE WHEN i % 4 = 1 THEN ['image'] ELSE []::VARCHAR[] END AS media_kinds,
          []::VARCHAR[] AS media_cids, []::VARCHAR[] AS media_alts, NULL::VARCHAR AS quote_uri,
          NULL::VARCHAR AS external_uri,
          CASE WHEN i % 5 = 0 THEN 0.9 ELSE random() * 0.3 END AS fraud_score,
          i % 5 = 0 AS is_fraud,
          CASE WHEN i % 5 = 0 THEN ['scam'] ELSE []::VARCHAR[] END AS labels,
          []::VARCHAR[] AS reasons, []::VARCHAR[] AS rule_hits, 'text-1' AS text_model_version,
          NULL::VARCHAR AS media_model_version,
          {start_us} + (i * {span_s * 1_000_000} // {rows}) + 20000 AS ingested_at_us,
          {start_us} + (i * {span_s * 1_000_000} // {rows}) + 150000 + (random() * 300000)::BIGINT AS scored_at_us
        FROM range({rows}) t(i)
        """
    ).to_arrow_table()
    con.close()
    return conform(table)


def write_raw_hour(store: ObjectStore, settings: Settings, hour: datetime, rows: int, files: int = 10) -> int:
    """Raw files for one hour with ~5% duplicates and ~1% deletes; returns bytes written."""
    table = synth_table(rows, int(hour.timestamp() * 1_000_000))
    dupes = table.slice(0, rows // 20)
    deletes = table.slice(rows // 2, rows // 100)
    index = deletes.schema.get_field_index("operation")
    deletes = deletes.set_column(index, deletes.schema.field(index), pa.array(["delete"] * deletes.num_rows))
    full = pa.concat_tables([table, dupes, deletes])
    written = 0
    step = -(-full.num_rows // files)
    for f in range(files):
        sink = pa.BufferOutputStream()
        pq.write_table(full.slice(f * step, step), sink, compression="snappy")
        data = sink.getvalue().to_pybytes()
        store.put_bytes(firehose_object_key(settings.posts_prefix, settings.delivery_stream, hour), data)
        written += len(data)
    return written


def _compact_once(home: str) -> None:
    """Child process: one compaction, so its peak RSS is the compaction's alone."""
    settings = load_settings(environ={}, home=Path(home))
    start = time.perf_counter()
    result = compact_hour(ObjectStore.from_settings(settings), settings, HOUR, threads=1)
    print(json.dumps({"seconds": time.perf_counter() - start, **result.as_dict()}))


def main(rows: int = 1_000_000, runs: int = 3) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = load_settings(environ={}, home=home)
        store = ObjectStore.from_settings(settings)
        bytes_in = write_raw_hour(store, settings, HOUR, rows)
        outputs = []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, __file__, "--compact", str(home)], capture_output=True, text=True, check=True
            )
            outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        seconds = statistics.median(o["seconds"] for o in outputs)
        result = outputs[-1]
        return {
            "benchmark": "compaction",
            "rows_in": result["rows_in"],
            "rows_out": result["rows_out"],
            "duplicates_dropped": result["duplicates_dropped"],
            "deletes_applied": result["deletes_applied"],
            "threads": 1,
            "seconds_median": round(seconds, 3),
            "seconds_runs": [round(o["seconds"], 3) for o in outputs],
            "rows_per_s": round(result["rows_in"] / seconds),
            "bytes_in": bytes_in,
            "bytes_out": result["bytes_out"],
            "bytes_per_s": round(bytes_in / seconds),
            "compaction_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "target_seconds": 30,
            "target_peak_rss_mb": 2048,
        }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compact":
        _compact_once(sys.argv[2])
    else:
        print(json.dumps(main()))
