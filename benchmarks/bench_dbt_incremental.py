"""Incremental marts at scale: one new hour landing on a lake of N posts (default 10,000,000).

The lake's compacted Parquet is generated directly (vectorized, bench_compaction.synth_table),
not through the pipeline. In the same run: a full rebuild of every model (`dbt run
--full-refresh`), then, `runs` times, one new hour is written and the models are refreshed
incrementally (`DBT_MART_HOURS='["<that hour>"]' dbt run`). dbt is pinned to one core
(`taskset -c 0`; dbt threads 1). Prints one JSON object; target: the incremental refresh
under 15 s at 10M posts. `*_seconds` is the dbt process's wall time (start-up and
parsing included), `*_models_seconds` what dbt reports for running the models, `*_cpu_seconds`
the CPU time of the dbt process (on a shared machine, the time it would take on a free core).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_compaction import synth_table

from fraud_pipeline.analytics.lake_sql import dbt_env, ensure_schema_file
from fraud_pipeline.lake.compaction import _publish, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import DBT_DIR, DBT_EXECUTABLE, hours_env
from fraud_pipeline.settings import Settings, load_settings

START = datetime(2026, 11, 1, 0, tzinfo=UTC)


def write_hour(settings: Settings, store: ObjectStore, hour: datetime, rows: int) -> int:
    table = synth_table(rows, int(hour.timestamp() * 1_000_000), seed=int(hour.timestamp()) // 3600)
    return _publish(store, compacted_key(settings, hour), table)


def dbt_run(
    settings: Settings, *args: str, hours: list[datetime] | None = None
) -> tuple[float, float, float]:
    """(wall seconds of the dbt process, seconds dbt reports for running the models, CPU seconds
    of the dbt process: what it would take on a core of its own, whatever else runs here)."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    start = time.perf_counter()
    done = subprocess.run(
        [
            *pin,
            DBT_EXECUTABLE,
            "run",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(Path(settings.home) / "dbt-target"),
            *args,
        ],
        env={**os.environ, **dbt_env(settings), **hours_env(hours)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dbt run failed: {done.stdout[-3000:]}")
    reported = re.search(r"Finished running .* in .*?\(([0-9.]+)s\)", done.stdout)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return wall, float(reported.group(1)) if reported else wall, cpu


def main(posts: int = 10_000_000, hours: int = 48, runs: int = 3) -> dict[str, object]:
    per_hour = posts // hours
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, home=Path(tmp) / "home")
        store = ObjectStore.from_settings(settings)
        ensure_schema_file(store, settings)
        started = time.perf_counter()
        lake_bytes = sum(
            write_hour(settings, store, START + timedelta(hours=h), per_hour) for h in range(hours)
        )
        generate_s = time.perf_counter() - started
        full_s, full_models_s, full_cpu = dbt_run(settings, "--full-refresh")
        incremental, models, cpus = [], [], []
        for n in range(runs):
            new_hour = START + timedelta(hours=hours + n)
            lake_bytes += write_hour(settings, store, new_hour, per_hour)
            wall, reported, cpu = dbt_run(settings, hours=[new_hour])
            incremental.append(wall)
            models.append(reported)
            cpus.append(cpu)
        median = statistics.median(incremental)
        return {
            "benchmark": "dbt_incremental",
            "posts": posts,
            "hours": hours,
            "posts_per_hour": per_hour,
            "lake_bytes": lake_bytes,
            "generate_seconds": round(generate_s, 1),
            "full_rebuild_seconds": round(full_s, 2),
            "full_rebuild_models_seconds": round(full_models_s, 2),
            "full_rebuild_cpu_seconds": round(full_cpu, 2),
            "incremental_seconds_median": round(median, 2),
            "incremental_seconds_runs": [round(t, 2) for t in incremental],
            "incremental_models_seconds_median": round(statistics.median(models), 2),
            "incremental_cpu_seconds_median": round(statistics.median(cpus), 2),
            "incremental_cpu_seconds_runs": [round(c, 2) for c in cpus],
            "speedup": round(full_s / median, 1),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "cores": 1 if shutil.which("taskset") else os.cpu_count(),
            "target_seconds": 15,
        }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)))
