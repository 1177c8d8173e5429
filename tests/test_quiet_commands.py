"""Long commands are quiet: a one-line summary (or `--json`), Dagster's event log in the JSON
log file and the Dagster instance, and on the terminal only with `-v` (issue #15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings
from tests.lake_fixtures import build_lake, recent_hours

CLI = [sys.executable, "-m", "fraud_pipeline.cli"]
MAX_QUIET_LINES = 3


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    return subprocess.run(
        [*CLI, "backfill", "--home", str(settings.home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_backfill_prints_one_summary_and_logs_the_event_log_as_json(local_settings: Settings) -> None:
    build_lake(ObjectStore.from_settings(local_settings), local_settings, recent_hours(1), posts_per_hour=30)
    done = _run(local_settings, "--no-dbt")
    assert done.returncode == 0, done.stderr
    lines = _lines(done)
    assert len(lines) <= MAX_QUIET_LINES, "\n".join(lines)
    assert lines[-1].startswith("backfilled 1 hours")

    log = Path(local_settings.home) / "logs" / "backfill.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    events = [e for e in entries if e["component"] == "dagster"]
    assert events, "Dagster's event log did not reach the log file"
    assert all(e["run"] and e["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for e in events)
    assert any("STEP_SUCCESS" in e["message"] for e in events)
    assert any(e.get("partition") == recent_hours(1)[0].strftime("%Y-%m-%d-%H:00") for e in events)
    # ... and the runs are in the Dagster instance, where the UI shows them.
    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(str(Path(local_settings.dagster_home).resolve()))
    assert len(instance.get_runs()) == 2  # one compaction run, one catalog/profile run


def test_backfill_json_summary_and_verbose_brings_the_event_log_back(local_settings: Settings) -> None:
    build_lake(ObjectStore.from_settings(local_settings), local_settings, recent_hours(1), posts_per_hour=30)
    done = _run(local_settings, "--no-dbt", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["hours"] == 1 and summary["with_dbt"] is False and "backfilled" in summary["summary"]
    assert done.stderr.strip() == ""

    verbose = _run(local_settings, "--no-dbt", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert len(_lines(verbose)) > 20
    assert "STEP_SUCCESS" in verbose.stdout + verbose.stderr
