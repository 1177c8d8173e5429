"""`dbt build` (all models, data and unit tests) over a compacted lake of N posts (default 1,000,000).

Prints one JSON object: seconds (median), rows/s, lake bytes/s. Target: under 60 s at 1M posts.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_compaction import synth_table

from fraud_pipeline.analytics.lake_sql import ensure_schema_file
from fraud_pipeline.lake.compaction import _publish, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import run_dbt_build
from fraud_pipeline.settings import Settings, load_settings

START = datetime(2026, 11, 29, 0, tzinfo=UTC)


def write_compacted_lake(settings: Settings, posts: int, hours: int) -> int:
    """`posts` posts spread over `hours` compacted partitions; returns bytes written."""
    store = ObjectStore.from_settings(settings)
    ensure_schema_file(store, settings)
    per_hour, total = posts // hours, 0
    for h in range(hours):
        hour = START + timedelta(hours=h)
        table = synth_table(per_hour, int(hour.timestamp() * 1_000_000), seed=h + 1)
        total += _publish(store, compacted_key(settings, hour), table)
    return total


def dbt_build(settings: Settings) -> float:
    start = time.perf_counter()
    done = run_dbt_build(settings)
    if done.returncode != 0:
        raise RuntimeError(f"dbt build failed: {done.stdout[-3000:]}")
    return time.perf_counter() - start


def main(posts: int = 1_000_000, hours: int = 24, runs: int = 3) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, home=Path(tmp) / "home")
        lake_bytes = write_compacted_lake(settings, posts, hours)
        times = [dbt_build(settings) for _ in range(runs)]
        seconds = statistics.median(times)
        return {
            "benchmark": "dbt_build",
            "posts": posts,
            "hours": hours,
            "seconds_median": round(seconds, 3),
            "seconds_runs": [round(t, 3) for t in times],
            "rows_per_s": round(posts / seconds),
            "lake_bytes": lake_bytes,
            "bytes_per_s": round(lake_bytes / seconds),
            "dbt_threads": 1,
            "target_seconds": 60,
        }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
