"""Drill-down tables: dbt marts from a real DuckDB file (while another process writes it) and
recent fraud posts from real raw-lake Parquet files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.dashboard import tables
from fraud_pipeline.dashboard.warehouse import WarehouseMissing, WarehouseReader
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings
from tests.dashboard_fixtures import SUMMARY_HOURS, TOP_DOMAINS, build_warehouse, tagged, utc, write_lake_file

HOUR_US = 3_600_000_000


@pytest.fixture()
def reader(local_settings: Settings) -> Iterator[WarehouseReader]:
    r = WarehouseReader(Path(local_settings.warehouse_path), min_refresh_interval_s=0)
    yield r
    r.close()


def test_marts_are_read_in_their_order(local_settings: Settings, reader: WarehouseReader) -> None:
    build_warehouse(Path(local_settings.warehouse_path))
    domains = tables.read_mart(reader, tables.mart_by_key("top_fraud_domains"), limit=10)
    assert domains["status"] == "ok" and domains["relation"] == "top_fraud_domains"
    assert [row[:3] for row in domains["rows"]] == [
        list(t) for t in TOP_DOMAINS
    ]  # rank order, not insert order
    assert domains["columns"][:3] == ["domain", "fraud_posts", "accounts"]
    assert domains["rows"][0][3] == "2026-11-29T10:00:00"  # timestamps travel as ISO strings
    summary = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=2)
    hours = [row[0] for row in summary["rows"]]
    assert hours == [
        f"2026-11-29T{10 + SUMMARY_HOURS - 1}:00:00",
        f"2026-11-29T{10 + SUMMARY_HOURS - 2}:00:00",
    ]


def test_absent_warehouse_and_absent_mart_say_how_to_build_them(
    local_settings: Settings, reader: WarehouseReader
) -> None:
    missing = tables.read_mart(reader, tables.mart_by_key("fraud_campaigns"), limit=10)
    assert missing["status"] == "not_built" and "fraud-pipeline backfill" in missing["message"]
    build_warehouse(Path(local_settings.warehouse_path))
    absent = tables.read_mart(reader, tables.mart_by_key("fraud_campaigns"), limit=10)
    assert absent["status"] == "not_built" and absent["rows"] == []
    with pytest.raises(WarehouseMissing):
        WarehouseReader(Path(local_settings.home) / "nope.duckdb").query("SELECT 1")


WRITER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("INSERT INTO top_fraud_domains VALUES ('new-scam.example', 99, 50, NULL, NULL, 0)")
print("ready", flush=True)
sys.stdin.readline()
con.close()
"""


def test_reads_while_another_process_holds_the_write_lock(
    local_settings: Settings, reader: WarehouseReader
) -> None:
    """DuckDB allows one writer process and no readers beside it; the snapshot copy (with its WAL)
    still sees the writer's committed row, and afterwards the dashboard holds no lock."""
    path = Path(local_settings.warehouse_path)
    build_warehouse(path)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        import duckdb

        with pytest.raises(duckdb.IOException):  # what a plain read-only open would hit
            duckdb.connect(str(path), read_only=True)
        result = tables.read_mart(reader, tables.mart_by_key("top_fraud_domains"), limit=10)
        assert result["status"] == "ok"
        assert result["rows"][0][0] == "new-scam.example"
    finally:
        assert writer.stdin is not None
        writer.stdin.write("\n")
        writer.stdin.flush()
        writer.wait(30)
    assert writer.returncode == 0
    # The dashboard keeps nothing open: a writer can take the file again right away.
    second = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; duckdb.connect(sys.argv[1]).execute('CHECKPOINT')",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert reader.copies >= 1


def test_snapshot_follows_rebuilds(local_settings: Settings, reader: WarehouseReader) -> None:
    path = Path(local_settings.warehouse_path)
    build_warehouse(path)
    first = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=100)
    assert len(first["rows"]) == SUMMARY_HOURS
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("DELETE FROM fraud_summary WHERE fraud_posts > 1")
    con.close()
    time.sleep(0.01)
    second = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=100)
    assert len(second["rows"]) == 2 and second["stale"] is False


# -- recent fraud posts from the raw lake ------------------------------------------------


def test_recent_fraud_posts_newest_first_deduplicated(local_settings: Settings) -> None:
    rng = random.Random(3)
    now_us = int(time.time() * 1_000_000)
    old = [tagged(rng, now_us - 2 * HOUR_US + i, fraud=True, text=f"old scam {i}") for i in range(3)]
    recent = [
        tagged(rng, now_us - i * 1_000_000, fraud=i % 2 == 0, text=f"post {i}", domain="x.io")
        for i in range(10)
    ]
    write_lake_file(local_settings, old, utc(now_us - 2 * HOUR_US))
    write_lake_file(local_settings, recent[:6], utc(now_us - 10_000_000))
    write_lake_file(local_settings, recent[4:], utc(now_us))  # at-least-once: recent[4:6] delivered twice
    store = ObjectStore.from_settings(local_settings)

    result = tables.recent_fraud_posts(store, local_settings, limit=50)
    assert result["status"] == "ok" and result["files_scanned"] == 3 and result["files_skipped"] == []
    uris = [row[result["columns"].index("uri")] for row in result["rows"]]
    expected = sorted((r for r in recent + old if r.is_fraud), key=lambda r: -r.time_us)
    assert uris == [r.uri for r in expected]
    texts = [row[result["columns"].index("text")] for row in result["rows"]]
    assert texts[:2] == ["post 0", "post 2"]

    limited = tables.recent_fraud_posts(store, local_settings, limit=2)
    assert len(limited["rows"]) == 2
    newest_only = tables.recent_fraud_posts(store, local_settings, limit=50, max_files=1)
    assert newest_only["files_scanned"] == 1
    assert {row[3] for row in newest_only["rows"]} == {"post 4", "post 6", "post 8"}


def test_unreadable_lake_file_is_reported_not_fatal(local_settings: Settings) -> None:
    rng = random.Random(5)
    now_us = int(time.time() * 1_000_000)
    key = write_lake_file(local_settings, [tagged(rng, now_us, fraud=True, text="scam")], utc(now_us))
    store = ObjectStore.from_settings(local_settings)
    store.put_bytes(key.replace(".parquet", "-torn.parquet"), b"PAR1 not really parquet")
    result = tables.recent_fraud_posts(store, local_settings, limit=10)
    assert result["status"] == "ok" and [row[3] for row in result["rows"]] == ["scam"]
    assert len(result["files_skipped"]) == 1 and result["files_skipped"][0]["key"].endswith("-torn.parquet")


def test_empty_lake_says_so(local_settings: Settings) -> None:
    result = tables.recent_fraud_posts(ObjectStore.from_settings(local_settings), local_settings)
    assert result["status"] == "empty" and result["rows"] == []


def test_newest_hours_walk_is_bounded(local_settings: Settings) -> None:
    store = ObjectStore.from_settings(local_settings)
    for hour in range(6):
        store.put_bytes(f"{local_settings.posts_prefix}2026/11/29/{hour:02d}/f.parquet", b"x")
    hours = tables.newest_hour_prefixes(store, local_settings.posts_prefix, max_hours=3)
    assert hours == [f"{local_settings.posts_prefix}2026/11/29/{h:02d}/" for h in (5, 4, 3)]


def test_limits_and_names_are_checked() -> None:
    for bad in (0, tables.MAX_LIMIT + 1):
        with pytest.raises(ValueError, match="limit must be"):
            tables.check_limit(bad)
    with pytest.raises(ValueError, match="unknown table"):
        tables.mart_by_key("nope")
    assert tables.table_keys()[0] == tables.RECENT_FRAUD


def test_copy_torn_by_a_concurrent_write_keeps_the_previous_snapshot(
    local_settings: Settings, reader: WarehouseReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write landing while the snapshot is copied makes the copy unusable: it is discarded,
    counted, and the last good snapshot answers, flagged stale."""
    import shutil

    import duckdb

    from fraud_pipeline.dashboard import warehouse

    path = Path(local_settings.warehouse_path)
    build_warehouse(path)
    first = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=100)
    assert first["stale"] is False and len(first["rows"]) == SUMMARY_HOURS

    con = duckdb.connect(str(path))
    con.execute("DELETE FROM fraud_summary")
    con.close()
    real_copy = shutil.copyfile

    def copy_during_a_write(src: object, dst: object) -> object:
        result = real_copy(src, dst)  # type: ignore[arg-type]
        if Path(str(src)) == path:
            writer = duckdb.connect(str(path))
            writer.execute("INSERT INTO fraud_summary VALUES (TIMESTAMP '2030-01-01', 1, 1, 1.0)")
            writer.close()
        return result

    monkeypatch.setattr(warehouse.shutil, "copyfile", copy_during_a_write)
    torn = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=100)
    assert torn["status"] == "ok" and torn["stale"] is True
    assert len(torn["rows"]) == SUMMARY_HOURS  # the previous build, not a half-copied one
    assert reader.torn_copies == warehouse.COPY_ATTEMPTS

    monkeypatch.setattr(warehouse.shutil, "copyfile", real_copy)
    settled = tables.read_mart(reader, tables.mart_by_key("fraud_summary"), limit=100)
    assert settled["stale"] is False
    assert [row[0] for row in settled["rows"]] == ["2030-01-01T00:00:00"] * warehouse.COPY_ATTEMPTS


# -- snapshot folders: removed on exit and, for a killed dashboard, on the next start --------


def _snapshot_dirs(temp: Path) -> list[Path]:
    return sorted(temp.glob("fraud-dashboard-warehouse-*"))


_SNAPSHOT_THEN_EXIT = """
import sys
from pathlib import Path
from fraud_pipeline.dashboard.warehouse import WarehouseReader
reader = WarehouseReader(Path(sys.argv[1]))
reader.query("SELECT count(*) FROM top_fraud_domains")
print(reader.snapshot_dir, flush=True)
if sys.argv[2] == "kill":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_snapshots_are_removed_when_the_process_exits(local_settings: Settings, tmp_path: Path) -> None:
    """Before: the folder stayed in the temp directory after the reader's process ended."""
    warehouse = Path(local_settings.warehouse_path)
    build_warehouse(warehouse)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    done = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT_THEN_EXIT, str(warehouse), "exit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(temp))
    assert _snapshot_dirs(temp) == []


def test_snapshots_of_a_killed_dashboard_are_removed_on_the_next_start(
    local_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Path(local_settings.warehouse_path)
    build_warehouse(warehouse)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    killed = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT_THEN_EXIT, str(warehouse), "kill"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert left.is_dir() and list(left.iterdir())  # nothing could clean up after SIGKILL
    legacy = temp / "fraud-dashboard-warehouse-p42lg42k"  # made before folders carried a pid
    legacy.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    live = WarehouseReader(warehouse)  # a dashboard starting
    try:
        live.query("SELECT count(*) FROM top_fraud_domains")
        assert live.orphans_removed == 2
        assert _snapshot_dirs(temp) == [live.snapshot_dir]  # its own folder stays
        other = WarehouseReader(warehouse)  # a second dashboard leaves the running one's alone
        assert other.orphans_removed == 0 and live.snapshot_dir and live.snapshot_dir.is_dir()
        other.close()
    finally:
        live.close()
    assert _snapshot_dirs(temp) == []


def test_dashboard_command_removes_its_snapshots_on_sigterm(local_settings: Settings, tmp_path: Path) -> None:
    import urllib.request

    from tests.conftest import free_port

    build_warehouse(Path(local_settings.warehouse_path))
    temp = tmp_path / "temp"
    temp.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fraud_pipeline.cli", "dashboard", "--home", str(local_settings.home),
         "--port", str(port)],
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/tables/top_fraud_domains"
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.2)
        assert len(_snapshot_dirs(temp)) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert _snapshot_dirs(temp) == []
