"""The dbt project in `dbt/`: its location, manifest, CLI resource and warehouse publishing.

dagster-dbt does not install dbt: the executable is the `dbt` next to this interpreter
(`.venv/bin/dbt`), else the one on PATH. The manifest is parsed on first load when missing or
older than the project's files (a clean checkout has none). The project is `dbt/` of the
checkout, or the copy inside an installed wheel (`fraud_pipeline.bundled`); an installed
package is no place for build output (read-only in the Docker images), so there the manifest
goes to a folder of the temp dir instead of `dbt/target/`.

Publishing: dbt builds into `warehouse.build.duckdb` (a copy of the current warehouse) and
the finished file replaces `warehouse.duckdb` with one rename. Dashboard readers therefore
never see a half-built table and never block dbt (DuckDB lets one writer OR readers hold a
file; readers keep the old inode until they reopen). Builds are serialized by a lock file
beside the warehouse: two runs (the open-hour refresh and a late hour's rebuild) that copied
the same warehouse would otherwise each publish half of the changes.

Each build writes its artifacts (run_results, compiled SQL, logs) to a folder of its own
under `<home>/dbt-runs/`, removed when the build is done: nothing reads them afterwards
(Dagster has streamed the events), and one folder per build used to pile up in `dbt/target/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
from dagster_dbt import DbtCliResource, DbtProject

from fraud_pipeline.analytics.lake_sql import dbt_env, ensure_schema_file
from fraud_pipeline.bundled import bundled_path, from_checkout
from fraud_pipeline.lake.compaction import floor_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

DBT_DIR = bundled_path("dbt")
_DBT_BESIDE = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_DBT_BESIDE) if _DBT_BESIDE.exists() else (shutil.which("dbt") or str(_DBT_BESIDE))
TARGET_DIR = (
    DBT_DIR / "target"
    if from_checkout()
    else Path(tempfile.gettempdir())
    / f"fraud-pipeline-dbt-{os.getuid()}-{hashlib.sha1(str(DBT_DIR).encode()).hexdigest()[:10]}"
)
MANIFEST_NAME = "manifest.json"
PARTIAL_PARSE = "partial_parse.msgpack"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


def _project_mtime() -> float:
    files = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]
    for sub in ("models", "macros", "tests"):
        files.extend(p for p in (DBT_DIR / sub).rglob("*") if p.is_file())
    return max((p.stat().st_mtime for p in files if p.exists()), default=0.0)


def ensure_manifest() -> Path:
    """`dbt parse` when the manifest is missing or stale; returns its path.

    Dagster's webserver and daemon each start a code server that loads the definitions at the
    same moment, and both may find the manifest missing (a new install). dbt writes the file in
    place, so one server could read the other's half-written manifest and fail to load (seen in
    CI). The parse is therefore serialized by a lock file, the loser of the race reuses the
    winner's manifest, and each parse writes into a folder of its own whose files replace the
    old ones with one rename each: a reader sees the old manifest or the new, never a part."""
    manifest = TARGET_DIR / MANIFEST_NAME
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    with open(TARGET_DIR / ".parse.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and manifest.stat().st_mtime >= _project_mtime():
            return manifest
        staging = Path(tempfile.mkdtemp(prefix=".parse-", dir=TARGET_DIR))
        try:
            _parse_into(staging)
            for name in (PARTIAL_PARSE, MANIFEST_NAME):  # the manifest last: it marks the parse done
                if (staging / name).exists():
                    os.replace(staging / name, TARGET_DIR / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _parse_into(target: Path) -> None:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    done = subprocess.run(
        [
            DBT_EXECUTABLE,
            "parse",
            *("--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)),
            *("--target-path", str(target), "--log-path", str(target), "--quiet"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (target / MANIFEST_NAME).exists():
        raise RuntimeError(
            f"dbt parse failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}"
        )


def run_dbt_build(
    settings: Settings,
    *args: str,
    warehouse: Path | None = None,
    hours: list[datetime] | None = None,
    command: str = "build",
) -> subprocess.CompletedProcess[str]:
    """`dbt build` of this project over `settings`' lake, in a subprocess (tests and benchmarks;
    Dagster runs dbt through `dbt_resource()`). `warehouse`: another DuckDB file to build;
    `hours`: the arrival hours the incremental marts recompute (None: all)."""
    return subprocess.run(
        [
            DBT_EXECUTABLE,
            command,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(Path(settings.home) / "dbt-target"),
            *args,
        ],
        env={**os.environ, **dbt_env(settings, warehouse), **hours_env(hours)},
        capture_output=True,
        text=True,
        check=False,
    )


dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target_path=TARGET_DIR)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE)


# What every Dagster build adds to `dbt build` (and bench_dbt_incremental.py measures):
# - no JSON artifacts: the build folder is deleted afterwards and Dagster reads dbt's event
#   stream, never run_results.json or the manifest dbt would write (seconds per build);
# - no unit tests: they check the models' SQL on fixed rows, not the data, so they belong in
#   `make test` (tests/test_dbt.py builds with them), not in every hourly refresh.
HOURLY_BUILD_ARGS = ("--no-write-json", "--exclude", "resource_type:unit_test")


def keep_partial_parse(artifacts: Path) -> None:
    """Keep a finished build's parse state where the next build starts from.

    dagster-dbt copies `partial_parse.msgpack` from the project's target folder into each
    build's folder, but the one `dbt parse` leaves there was made with another environment
    (the warehouse path is part of dbt's profile check), so every build re-parsed the whole
    project. The build's own file matches the next build's environment: with it, dbt finds
    nothing changed and skips parsing."""
    built = artifacts / PARTIAL_PARSE
    if not built.exists():
        return
    TARGET_DIR.mkdir(parents=True, exist_ok=True)
    staged = TARGET_DIR / f".{PARTIAL_PARSE}.{os.getpid()}"
    shutil.copyfile(built, staged)
    os.replace(staged, TARGET_DIR / PARTIAL_PARSE)


# The marts are incremental by arrival hour (see dbt/macros/incremental_hours.sql); a warehouse
# without this intermediate was built before they were, and is rebuilt in full once.
INCREMENTAL_MARKER = "int_hourly_texts"


HOURS_VARIABLE = "DBT_MART_HOURS"  # read by dbt/macros/incremental_hours.sql


def hours_env(hours: list[datetime] | None) -> dict[str, str]:
    """Environment telling the incremental marts which arrival hours to recompute ("": all).

    An environment variable rather than `--vars`: dbt re-parses the whole project when
    `--vars` change, which costs more than refreshing an hour of marts."""
    if hours is None:
        return {HOURS_VARIABLE: ""}
    return {HOURS_VARIABLE: json.dumps(sorted({f"{floor_hour(h):%Y-%m-%d %H}" for h in hours}))}


def needs_full_refresh(warehouse: Path) -> bool:
    """True when the warehouse predates the incremental marts (or is missing: dbt builds it all)."""
    if not warehouse.exists():
        return False
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found = con.sql(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
            params=[INCREMENTAL_MARKER],
        ).fetchall()[0][0]
    finally:
        con.close()
    return not found


def incremental_build_args(warehouse: Path) -> list[str]:
    """`--full-refresh` when the warehouse predates the incremental marts, else nothing."""
    return ["--full-refresh"] if needs_full_refresh(warehouse) else []


def build_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.stem + ".build.duckdb")


STALE_RUN_S = 6 * 3600  # a build folder this old belongs to a crashed run


@contextmanager
def warehouse_lock(settings: Settings) -> Iterator[None]:
    """Exclusive lock on the warehouse build (held from the copy to the publishing rename)."""
    lock_path = settings.warehouse_path.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def build_artifacts_dir(settings: Settings) -> Iterator[Path]:
    """A folder for one dbt invocation's artifacts, deleted afterwards (and crashed runs' old ones)."""
    runs = Path(settings.home).resolve() / "dbt-runs"
    runs.mkdir(parents=True, exist_ok=True)
    for old in runs.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > STALE_RUN_S:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="build-", dir=runs))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def dbt_environment(settings: Settings, hours: list[datetime] | None = None) -> Iterator[Path]:
    """Point dbt at a build copy of the warehouse and the lake; yields the build file path.

    dagster-dbt passes the current process environment to dbt, so the variables are set for
    the duration of the invocation and restored afterwards. Holds the warehouse lock.
    """
    with warehouse_lock(settings):
        yield from _dbt_environment(settings, hours)


def _dbt_environment(settings: Settings, hours: list[datetime] | None) -> Iterator[Path]:
    ensure_schema_file(ObjectStore.from_settings(settings), settings)
    target = build_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    if settings.warehouse_path.exists():
        shutil.copyfile(settings.warehouse_path, target)
    else:
        target.unlink(missing_ok=True)
    with process_environment({**dbt_env(settings, target), **hours_env(hours)}):
        yield target


def uses_athena(settings: Settings) -> bool:
    """Whether the marts are built by Athena (aws backend, FRAUD_PIPELINE_ANALYTICS_ENGINE=athena)."""
    return settings.backend == "aws" and settings.analytics_engine == "athena"


@contextmanager
def athena_environment(settings: Settings, hours: list[datetime] | None = None) -> Iterator[None]:
    """The environment of a dbt build on the athena target (no DuckDB warehouse to copy)."""
    with process_environment({**dbt_env(settings), **hours_env(hours)}):
        yield


@contextmanager
def process_environment(variables: dict[str, str]) -> Iterator[None]:
    """Set variables for the duration (dagster-dbt passes the process environment to dbt)."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def publish_warehouse(settings: Settings, built: Path) -> None:
    """Atomically replace the dashboard warehouse with the finished build."""
    os.replace(built, settings.warehouse_path)
