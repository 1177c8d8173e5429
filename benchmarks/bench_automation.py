"""From `fraud-pipeline up` on a fresh home to the first compacted rows and mart rows, untouched.

Starts `up` (Dagster on, dashboard off) on a synthetic capture of N events at full speed, and
measures from "replay finished" until the compacted lake has a partition and `fraud_summary`
has rows, with nobody touching the UI. Prints one JSON object. Target: both within 180 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mart_rows(warehouse: Path) -> int:
    if not warehouse.exists():
        return 0
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return 0
    try:
        return int(con.sql("SELECT coalesce(sum(posts), 0) FROM fraud_summary").fetchall()[0][0])
    except duckdb.Error:
        return 0
    finally:
        con.close()


def main(events: int = 500, limit_s: float = 600) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, home=Path(tmp) / "home")
        capture = Path(tmp) / "capture.jsonl"
        write_capture(
            capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), events, seed=11, rate=100.0
        )
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "fraud_pipeline.cli", "up", "--home", str(settings.home), "--capture",
             str(capture), "--speed", "0", "--no-dashboard", "--dagster-port", str(free_port())],
            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert process.stderr is not None
        try:
            seen = ""
            while "replay finished" not in seen and process.poll() is None:
                seen += process.stderr.readline()
            finished = time.monotonic()
            compacted_s = marts_s = None
            lake = Path(settings.lake_path) / settings.compacted_prefix
            while time.monotonic() - finished < limit_s and marts_s is None:
                if compacted_s is None and any(lake.glob("dt=*/hour=*/*.parquet")):
                    compacted_s = time.monotonic() - finished
                if mart_rows(settings.warehouse_path) > 0:
                    marts_s = time.monotonic() - finished
                time.sleep(1)
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=120)
        return {
            "benchmark": "automation",
            "events": events,
            "replay_seconds": round(finished - started, 1),
            "compacted_rows_after_s": None if compacted_s is None else round(compacted_s, 1),
            "mart_rows_after_s": None if marts_s is None else round(marts_s, 1),
            "open_hour_refresh_s": settings.open_hour_refresh_s,
            "load_average_1m": round(os.getloadavg()[0], 1),
            "target_seconds": 180,
        }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)))
