"""`fraud-pipeline up`: runs the stack, drains on Ctrl-C, and a second `up` continues."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds

from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings
from fraud_pipeline.workers.stack import WORKERS
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def _start_up(settings: Settings, capture: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
            *(extra or ("--no-dashboard",)),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 180) -> str:
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        chunk = process.stderr.readline()
        if not chunk and process.poll() is not None:
            break
        seen += chunk
    assert marker in seen, seen[-2000:]
    return seen


def _up_until_replayed(
    settings: Settings, capture: Path, *extra: str, stop_with: signal.Signals = signal.SIGINT
) -> str:
    """Start `up`, wait for the replay to finish, send `stop_with` (Ctrl-C), return its output."""
    process = _start_up(settings, capture, *extra)
    seen = _read_until(process, "replay finished")
    process.send_signal(stop_with)
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
    assert (
        counts["tagged"]
        == counts["posts"] + counts["deletes"]
        == counts["lake_rows"] - counts["verdict_updates"]
        > 0
    )

    second = _up_until_replayed(local_settings, capture)
    assert "resuming the replay of capture.jsonl after 800 events" in second
    assert _summary(second)["events_read"] == 0  # nothing replayed twice
    objects = ObjectStore.from_settings(local_settings)
    lake = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    assert lake.count_rows() == counts["lake_rows"]  # the lake outlived both processes


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_drains_like_ctrl_c_and_stops_the_dashboard(local_settings: Settings, tmp_path: Path) -> None:
    """`docker stop` / systemd / ECS send SIGTERM: same drain, same counts, no orphaned service."""
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 400, seed=9, rate=100.0)
    port = free_port()
    output = _up_until_replayed(
        local_settings, capture, "--dashboard", "--dashboard-port", str(port), stop_with=signal.SIGTERM
    )
    assert "stopping (SIGTERM): draining" in output
    counts = _summary(output)
    assert counts["events_read"] == 400
    assert (
        counts["tagged"]
        == counts["posts"] + counts["deletes"]
        == counts["lake_rows"] - counts["verdict_updates"]
        > 0
    )
    assert not _port_open(port), "the dashboard outlived `up`"


def _children(pid: int) -> list[int]:
    """Child process ids of `pid`, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_when_up_is_killed_outright(local_settings: Settings, tmp_path: Path) -> None:
    """SIGKILL cannot be handled; the worker children (poller, delivery, labels) notice and stop anyway."""
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 200, seed=3, rate=100.0)
    process = _start_up(local_settings, capture, "--no-dashboard", "--workers", "processes")
    _read_until(process, "replay finished")
    workers = [
        pid for pid in _children(process.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert len(workers) == len(WORKERS), workers
    process.kill()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its parent"
