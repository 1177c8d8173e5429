"""`fraud-pipeline up`: runs the stack, drains on Ctrl-C, and a second `up` continues."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds

from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _up_until_replayed(settings: Settings, capture: Path, timeout: float = 180) -> str:
    """Start `up`, wait for the replay to finish, press Ctrl-C, return what it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraud_pipeline.cli",
            "up",
            "--home",
            str(settings.home),
            "--capture",
            str(capture),
            "--speed",
            "0",
            "--no-dagster",
            "--no-dashboard",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while "replay finished" not in seen and time.monotonic() < deadline:
        chunk = process.stderr.readline()
        if not chunk and process.poll() is not None:
            break
        seen += chunk
    assert "replay finished" in seen, seen[-2000:]
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 0, (seen + rest)[-3000:]
    return seen + rest


def _summary(output: str) -> dict[str, int]:
    line = next(line for line in reversed(output.splitlines()) if line.startswith("events_read="))
    return {key: int(value) for key, value in (part.split("=") for part in line.split())}


def test_up_drains_on_ctrl_c_and_a_second_up_continues(local_settings: Settings, tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 800, seed=5, rate=100.0)
    first = _up_until_replayed(local_settings, capture)
    assert "stopping: draining" in first
    counts = _summary(first)
    assert counts["events_read"] == 800
    assert counts["tagged"] == counts["posts"] + counts["deletes"] == counts["lake_rows"] > 0

    second = _up_until_replayed(local_settings, capture)
    assert "resuming the replay of capture.jsonl after 800 events" in second
    assert _summary(second)["events_read"] == 0  # nothing replayed twice
    objects = ObjectStore.from_settings(local_settings)
    lake = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    assert lake.count_rows() == counts["lake_rows"]  # the lake outlived both processes
