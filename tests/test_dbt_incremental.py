"""Incremental marts: after hours land (and a late tombstone rewrites an old hour), the marts
built incrementally equal a full rebuild of the same lake, table by table."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from lake_fixtures import build_lake, deletion_of, make_record, recent_hours, write_raw_file

from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import hours_env, needs_full_refresh, run_dbt_build
from fraud_pipeline.settings import Settings, load_settings

MARTS = (
    "fraud_summary",
    "score_distribution",
    "score_drift",
    "seed_metrics_per_second",
    "seed_metrics_per_minute",
    "latency_percentiles",
    "top_fraud_domains",
    "flagged_accounts",
    "fraud_campaigns",
)


def _rows(warehouse: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return sorted(con.sql(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        con.close()


def _build(settings: Settings, *args: str, warehouse: Path | None = None, hours=None) -> None:
    done = run_dbt_build(settings, *args, warehouse=warehouse, hours=hours)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.mark.slow
def test_incremental_marts_equal_a_full_rebuild(tmp_path: Path) -> None:
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    store = ObjectStore.from_settings(settings)
    hours = recent_hours(4)
    truth = build_lake(store, settings, hours[:3], posts_per_hour=60)
    for hour in hours[:2]:
        compact_hour(store, settings, hour)
    _build(settings)  # first build: every model from scratch

    # Hour 2 lands; its deletes of hour-1 posts rewrite hour 1.
    result = compact_hour(store, settings, hours[2])
    assert result.partitions_rewritten, "the fixture deletes hour-1 posts in hour 2"
    _build(settings, hours=[hours[2], hours[1]])

    # Hour 3 carries a late delete of an hour-0 post (a campaign post: its account and text lose one).
    victim = next(r for r in truth.live[hours[0]].values() if r.is_fraud)
    late = deletion_of(victim, int(hours[3].timestamp() * 1e6) + 1_000_000)
    extra = make_record(
        random.Random(9),
        int(hours[3].timestamp() * 1e6) + 2_000_000,
        fraud=True,
        text=victim.text,
        did="did:plc:late",
        domain="late-scam.example",
    )
    write_raw_file(store, settings, hours[3] + timedelta(minutes=1), [late, extra])
    result = compact_hour(store, settings, hours[3])
    assert len(result.partitions_rewritten) == 1  # hour 0, found through the uri index
    _build(settings, hours=[hours[3], hours[0]])

    full = tmp_path / "full.duckdb"
    _build(settings, "--full-refresh", warehouse=full)
    for table in MARTS:
        assert _rows(settings.warehouse_path, table) == _rows(full, table), table
    summary = dict((h, n) for h, n, *_ in _rows(full, "fraud_summary"))
    assert sum(summary.values()) == len(truth.live_uris) - 1 + 1  # one post deleted late, one added
    assert not needs_full_refresh(settings.warehouse_path)


def test_a_warehouse_from_before_the_incremental_marts_is_rebuilt_in_full(tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE TABLE fraud_summary AS SELECT 1 AS posts")
    con.close()
    assert needs_full_refresh(old)
    assert not needs_full_refresh(tmp_path / "missing.duckdb")  # dbt builds a new one in full anyway
    assert hours_env([recent_hours(1)[0]])["DBT_MART_HOURS"].startswith('["')
    assert hours_env(None) == {"DBT_MART_HOURS": ""}


def test_the_next_hourly_build_skips_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Dagster asset runs dbt: each build in a fresh folder, seeded by dagster-dbt with the
    kept parse state. The second build, for another hour, finds nothing to re-parse (before: the
    hour list, read while parsing, changed a test file each time, and the kept state came from
    `dbt parse` with another warehouse path, so every build parsed the whole project)."""
    from fraud_pipeline.analytics.lake_sql import dbt_env
    from fraud_pipeline.orchestration import dbt_project

    monkeypatch.setattr(dbt_project, "TARGET_DIR", tmp_path / "target")
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    store = ObjectStore.from_settings(settings)
    hours = recent_hours(2)
    build_lake(store, settings, hours, posts_per_hour=20)
    outputs = []
    for n, hour in enumerate(hours):
        compact_hour(store, settings, hour)
        artifacts = tmp_path / f"build-{n}"
        kept = dbt_project.TARGET_DIR / dbt_project.PARTIAL_PARSE
        if kept.exists():  # what dagster-dbt does before each build
            artifacts.mkdir()
            shutil.copyfile(kept, artifacts / dbt_project.PARTIAL_PARSE)
        done = subprocess.run(
            [
                dbt_project.DBT_EXECUTABLE,
                "--debug",
                "build",
                *dbt_project.HOURLY_BUILD_ARGS,
                "--project-dir",
                str(dbt_project.DBT_DIR),
                "--profiles-dir",
                str(dbt_project.DBT_DIR),
                "--target-path",
                str(artifacts),
                "--log-path",
                str(artifacts),
            ],
            env={**os.environ, **dbt_env(settings, dbt_project.build_path(settings)), **hours_env([hour])},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:]
        assert not (artifacts / "run_results.json").exists(), "the build wrote artifacts nobody reads"
        assert not (artifacts / "manifest.json").exists()
        dbt_project.keep_partial_parse(artifacts)
        outputs.append(done.stdout)
    assert "no changes found, skipping parsing" not in outputs[0]
    assert "no changes found, skipping parsing" in outputs[1], outputs[1][-3000:]


def test_code_servers_loading_at_once_parse_the_project_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's webserver and daemon load the definitions at the same moment; on a new install
    both found no manifest, both ran `dbt parse` into one folder, and one read the other's
    half-written manifest (CI: `orjson.JSONDecodeError: unexpected end of data`). Now the second
    waits for the first parse and reuses its manifest."""
    from concurrent.futures import ThreadPoolExecutor

    from fraud_pipeline.orchestration import dbt_project

    monkeypatch.setattr(dbt_project, "TARGET_DIR", tmp_path / "target")
    parses: list[Path] = []
    parse = dbt_project._parse_into

    def counted(target: Path) -> None:
        parses.append(target)
        parse(target)

    monkeypatch.setattr(dbt_project, "_parse_into", counted)
    with ThreadPoolExecutor(2) as pool:
        manifests = list(pool.map(lambda _: dbt_project.ensure_manifest(), range(2)))
    assert len(parses) == 1
    assert manifests[0] == manifests[1] == tmp_path / "target" / "manifest.json"
    assert json.loads(manifests[0].read_text())["nodes"]
    assert sorted(p.name for p in (tmp_path / "target").iterdir() if not p.name.startswith(".")) == [
        "manifest.json",
        "partial_parse.msgpack",
    ], "the parse's own folder is removed"
