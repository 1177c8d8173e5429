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


def test_long_commands_print_one_summary_line_or_json(tmp_path: Path) -> None:
    """Off a terminal no progress bar is drawn: `synth`, `provision` and `model train` print one
    line, and with `--json` one JSON object."""
    from click.testing import CliRunner

    from fraud_pipeline.cli import main
    from tests.text_model_fixtures import write_subset

    runner = CliRunner()
    out = tmp_path / "capture.jsonl.zst"
    synth = runner.invoke(main, ["synth", "--events", "2500", "--seed", "3", "--out", str(out)])
    assert synth.exit_code == 0, synth.output
    assert synth.output.count("\n") == 1 and synth.output.startswith("wrote 2,500 events")
    as_json = runner.invoke(main, ["synth", "--events", "300", "--out", str(out), "--json"])
    assert json.loads(as_json.output)["events"] == 300

    home = str(tmp_path / "home")
    provision = runner.invoke(main, ["provision", "--home", home])
    assert provision.exit_code == 0, provision.output
    assert provision.output.count("\n") == 1 and "streams created" in provision.output
    again = runner.invoke(main, ["provision", "--home", home, "--json"])
    assert set(json.loads(again.output)["streams"].values()) == {"exists"}

    data = write_subset(tmp_path / "train.jsonl", 400)
    train = runner.invoke(main, ["model", "train", "--home", home, "--data", str(data)])
    assert train.exit_code == 0, train.output
    assert train.stdout.count("\n") == 1 and train.stdout.startswith("trained text-")
