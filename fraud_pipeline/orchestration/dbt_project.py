"""The dbt project in `dbt/`: its location, manifest, CLI resource and warehouse publishing.

dagster-dbt does not install dbt: the executable is the `dbt` next to this interpreter
(`.venv/bin/dbt`). The manifest is parsed on first load when missing or older than the
project's files (a clean checkout has none).

Publishing: dbt builds into `warehouse.build.duckdb` (a copy of the current warehouse) and
the finished file replaces `warehouse.duckdb` with one rename. Dashboard readers therefore
never see a half-built table and never block dbt (DuckDB lets one writer OR readers hold a
file; readers keep the old inode until they reopen).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from fraud_pipeline.analytics.lake_sql import dbt_env, ensure_schema_file
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
MANIFEST = DBT_DIR / "target" / "manifest.json"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")


def _project_mtime() -> float:
    files = [DBT_DIR / "dbt_project.yml", DBT_DIR / "profiles.yml"]
    for sub in ("models", "macros", "tests"):
        files.extend(p for p in (DBT_DIR / sub).rglob("*") if p.is_file())
    return max((p.stat().st_mtime for p in files if p.exists()), default=0.0)


def ensure_manifest() -> Path:
    """`dbt parse` when the manifest is missing or stale; returns its path."""
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _project_mtime():
        return MANIFEST
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    done = subprocess.run(
        [DBT_EXECUTABLE, "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not MANIFEST.exists():
        raise RuntimeError(
            f"dbt parse failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}"
        )
    return MANIFEST


def run_dbt_build(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt build` of this project over `settings`' lake, in a subprocess (tests and benchmarks;
    Dagster runs dbt through `dbt_resource()`)."""
    return subprocess.run(
        [
            DBT_EXECUTABLE,
            "build",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(Path(settings.home) / "dbt-target"),
            *args,
        ],
        env={**os.environ, **dbt_env(settings)},
        capture_output=True,
        text=True,
        check=False,
    )


dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE)


def build_path(settings: Settings) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.stem + ".build.duckdb")


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[Path]:
    """Point dbt at a build copy of the warehouse and the lake; yields the build file path.

    dagster-dbt passes the current process environment to dbt, so the variables are set for
    the duration of the invocation and restored afterwards.
    """
    ensure_schema_file(ObjectStore.from_settings(settings), settings)
    target = build_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    if settings.warehouse_path.exists():
        shutil.copyfile(settings.warehouse_path, target)
    else:
        target.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in dbt_env(settings, target)}
    os.environ.update(dbt_env(settings, target))
    try:
        yield target
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def publish_warehouse(settings: Settings, built: Path) -> None:
    """Atomically replace the dashboard warehouse with the finished build."""
    os.replace(built, settings.warehouse_path)
