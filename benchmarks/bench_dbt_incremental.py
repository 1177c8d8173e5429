"""Incremental marts at scale: one new hour landing on a lake of N posts (default 10,000,000).

The lake's compacted Parquet is generated directly (vectorized, bench_compaction.synth_table),
not through the pipeline. In the same run: a full rebuild of every model (`dbt build
--full-refresh`), then, `runs` times, one new hour is written and every mart is refreshed
incrementally (`DBT_MART_HOURS='["<that hour>"]'`) in each of these ways, each on its own copy
of the warehouse:

- `subprocess`: what the Dagster asset runs (dagster-dbt's `DbtCliResource` spawns the dbt
  CLI): `dbt build` with `HOURLY_BUILD_ARGS`, the parse state of the previous build reused;
- `in_process`: `dbtRunner` inside one long-lived Python process that parsed the project
  once and passes the manifest to every invocation (no dbt start-up, no parse);
- `baseline` (with `--baseline-rev REV`): the dbt project of git revision REV run as the
  Dagster asset ran it there: `dbt build` in a fresh target folder (a full parse each time).

dbt is pinned to one core (`taskset -c 0`; dbt threads 1, DuckDB threads 1). `*_cpu_seconds`
is the CPU time of the work (the dbt process, or this process for in_process): on a shared
machine, what it takes on a core of its own. `*_wall_seconds` includes waiting for the other
processes of a loaded machine. Prints one JSON object; target: the incremental refresh under
15 s at 10M posts.

    python benchmarks/bench_dbt_incremental.py [POSTS] [--runs 3] [--baseline-rev REV]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline import extract_revision
from bench_compaction import synth_table

from fraud_pipeline.analytics.lake_sql import dbt_env, ensure_schema_file
from fraud_pipeline.lake.compaction import _publish, compacted_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import DBT_DIR, DBT_EXECUTABLE, HOURLY_BUILD_ARGS, hours_env
from fraud_pipeline.settings import Settings, load_settings

START = datetime(2026, 11, 1, 0, tzinfo=UTC)
ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []


def write_hour(settings: Settings, store: ObjectStore, hour: datetime, rows: int) -> int:
    table = synth_table(rows, int(hour.timestamp() * 1_000_000), seed=int(hour.timestamp()) // 3600)
    return _publish(store, compacted_key(settings, hour), table)


def dbt_cli(
    settings: Settings,
    warehouse: Path,
    target: Path,
    args: list[str],
    hours: list[datetime] | None,
    project: Path = DBT_DIR,
) -> tuple[float, float]:
    """One dbt CLI process on one core: (wall seconds, CPU seconds of the process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [
            *ONE_CORE,
            DBT_EXECUTABLE,
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        env={**os.environ, **dbt_env(settings, warehouse), **hours_env(hours)},
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dbt {args[0]} failed: {done.stdout[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class InProcessDbt:
    """dbt in this (long-lived) process: the project parsed once, its manifest reused."""

    def __init__(self, settings: Settings, warehouse: Path, target: Path) -> None:
        from dbt.cli.main import dbtRunner

        self.settings, self.warehouse, self.target = settings, warehouse, target
        self.common = ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
        self.common += ["--target-path", str(target), "--log-path", str(target)]
        with self._environment(None):
            parsed = dbtRunner().invoke(["parse", *self.common, "--quiet"])
        if not parsed.success:
            raise RuntimeError(f"dbt parse failed: {parsed.exception}")
        self.runner = dbtRunner(manifest=parsed.result)

    def _environment(self, hours: list[datetime] | None) -> Any:
        from fraud_pipeline.orchestration.dbt_project import process_environment

        return process_environment({**dbt_env(self.settings, self.warehouse), **hours_env(hours)})

    def build(self, hours: list[datetime]) -> tuple[float, float]:
        cpu, start = time.process_time(), time.perf_counter()
        with self._environment(hours):
            done = self.runner.invoke(["build", *HOURLY_BUILD_ARGS, *self.common, "--quiet"])
        if not done.success:
            raise RuntimeError(f"in-process dbt build failed: {done.exception}")
        return time.perf_counter() - start, time.process_time() - cpu


def _summary(runs: list[tuple[float, float]]) -> dict[str, object]:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {
        "wall_seconds_median": round(statistics.median(walls), 2),
        "cpu_seconds_median": round(statistics.median(cpus), 2),
        "wall_seconds_runs": [round(w, 2) for w in walls],
        "cpu_seconds_runs": [round(c, 2) for c in cpus],
    }


def baseline_project(rev: str, into: Path) -> Path:
    """The `dbt/` folder of git revision `rev`, extracted under `into`."""
    return extract_revision(rev, into, ("dbt",)) / "dbt"


def main(
    posts: int = 10_000_000, hours: int = 48, runs: int = 3, baseline_rev: str | None = None
) -> dict[str, object]:
    per_hour = posts // hours
    if ONE_CORE:  # in_process runs dbt in this process: pin it (and every child) to one core too
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = load_settings(environ={}, home=home)
        store = ObjectStore.from_settings(settings)
        ensure_schema_file(store, settings)
        started = time.perf_counter()
        lake_bytes = sum(
            write_hour(settings, store, START + timedelta(hours=h), per_hour) for h in range(hours)
        )
        generate_s = time.perf_counter() - started

        full = home / "full.duckdb"
        full_wall, full_cpu = dbt_cli(
            settings, full, home / "target-full", ["build", *HOURLY_BUILD_ARGS, "--full-refresh"], None
        )
        variants: dict[str, Callable[[list[datetime], int], tuple[float, float]]] = {}
        copies = {name: home / f"{name}.duckdb" for name in ("subprocess", "in_process", "baseline")}
        for copy in copies.values():
            shutil.copyfile(full, copy)

        def subprocess_build(new: list[datetime], _: int) -> tuple[float, float]:
            args = ["build", *HOURLY_BUILD_ARGS]
            return dbt_cli(settings, copies["subprocess"], home / "target-subprocess", args, new)

        variants["subprocess"] = subprocess_build
        in_process = InProcessDbt(settings, copies["in_process"], home / "target-in-process")
        variants["in_process"] = lambda new, _: in_process.build(new)
        if baseline_rev:
            old = baseline_project(baseline_rev, Path(tmp))

            def baseline_build(new: list[datetime], n: int) -> tuple[float, float]:
                target = home / f"target-baseline-{n}"  # a fresh folder per build, as before
                return dbt_cli(settings, copies["baseline"], target, ["build"], new, project=old)

            variants["baseline"] = baseline_build

        # One warm-up build per variant (the first build of a process or folder parses in full).
        warm = START + timedelta(hours=hours)
        lake_bytes += write_hour(settings, store, warm, per_hour)
        warm_up = {name: build([warm], -1) for name, build in variants.items()}
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for n in range(runs):
            new_hour = START + timedelta(hours=hours + 1 + n)
            lake_bytes += write_hour(settings, store, new_hour, per_hour)
            for name, build in variants.items():
                measured[name].append(build([new_hour], n))
        result: dict[str, object] = {
            "benchmark": "dbt_incremental",
            "posts": posts,
            "hours": hours,
            "posts_per_hour": per_hour,
            "lake_bytes": lake_bytes,
            "generate_seconds": round(generate_s, 1),
            "full_rebuild_wall_seconds": round(full_wall, 2),
            "full_rebuild_cpu_seconds": round(full_cpu, 2),
            "build_args": list(HOURLY_BUILD_ARGS),
            "first_build": {
                name: {"wall": round(w, 2), "cpu": round(c, 2)} for name, (w, c) in warm_up.items()
            },
        }
        for name, times in measured.items():
            result[name] = _summary(times)
            result[name]["speedup_cpu"] = round(full_cpu / statistics.median(c for _, c in times), 1)  # type: ignore[index]
        result |= {
            "baseline_rev": baseline_rev,
            "load_average_1m": round(os.getloadavg()[0], 1),
            "cores": 1 if ONE_CORE else os.cpu_count(),
            "target_seconds": 15,
        }
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("posts", nargs="?", type=int, default=10_000_000)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-rev", help="git revision whose dbt/ project is measured beside")
    options = parser.parse_args()
    print(json.dumps(main(options.posts, options.hours, options.runs, options.baseline_rev)))
