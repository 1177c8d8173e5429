"""`fraud-pipeline status`: healthy, stalled consumer, empty lake, missing warehouse, stopped;
exit codes and the JSON shape; the aws backend on moto."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import duckdb
import pytest
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.lake.compaction import compact_hour, raw_hours
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.provision import provision
from fraud_pipeline.settings import Settings
from fraud_pipeline.status import pipeline_status
from fraud_pipeline.streams import PutEntry, open_stream
from tests.scoring_fixtures import make_post

TOP_LEVEL = {
    "checked_at",
    "backend",
    "env",
    "verdict",
    "problems",
    "streams",
    "scoring",
    "lake",
    "marts",
    "labeler",
}


def _posts(count: int, start: int = 0) -> list[PutEntry]:
    now_us = int(time.time() * 1_000_000)
    return [
        PutEntry(f"did:plc:user{i % 7}", make_post(i, f"post number {i}", time_us=now_us).to_json())
        for i in range(start, start + count)
    ]


def _ingest(settings: Settings, count: int, start: int = 0) -> None:
    results = open_stream(settings).put_records(settings.untagged_stream, _posts(count, start))
    assert all(r.ok for r in results)


def _run_stack_until_drained(settings: Settings) -> None:
    from fraud_pipeline.workers.stack import Stack

    stack = Stack(settings, mode="threads", delivery_buffer_seconds=0)
    stack.start()
    try:
        assert stack.wait_drained(timeout=120)
    finally:
        stack.stop()
        stack.close()


def _build_warehouse(settings: Settings) -> None:
    """What a dbt build publishes: a DuckDB file at the warehouse path (status reads its age)."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE fraud_summary AS SELECT 1 AS posts")


def _healthy(settings: Settings) -> None:
    provision(settings)
    _ingest(settings, 40)
    _run_stack_until_drained(settings)
    store = ObjectStore.from_settings(settings)
    for hour in raw_hours(store, settings):
        compact_hour(store, settings, hour)
    _build_warehouse(settings)


def _status(settings: Settings, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["status", "--json", "--home", str(settings.home), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_healthy_stack_exits_zero_with_every_part(local_settings: Settings) -> None:
    _healthy(local_settings)
    code, report = _status(local_settings)
    assert report["problems"] == [] and report["verdict"] == "healthy" and code == 0
    assert set(report) == TOP_LEVEL
    untagged, tagged = report["streams"]
    assert untagged["status"] == "ACTIVE" and untagged["shards"] == local_settings.stream_shard_count
    assert 0 <= untagged["newest_record_age_s"] < 120
    assert untagged["consumers"][0]["lag_records"] == 0 and tagged["consumers"][0]["lag_records"] == 0
    scoring = report["scoring"]
    assert scoring["posts_last_hour"] == 40 and scoring["error_records_last_hour"] == 0
    assert scoring["last_batch_age_s"] is not None and scoring["last_batch_age_s"] < 60
    assert scoring["text_model_version"] and scoring["policy_version"]  # media: only posts with media
    assert {e["status"] for e in scoring["endpoints"].values()} == {"InProcess"}
    hour = datetime.now(UTC).strftime("%Y-%m-%d-%H:00")
    assert report["lake"]["newest_compacted_hour"] == hour
    assert report["lake"]["hours_waiting_for_compaction"] == []
    assert report["lake"]["newest_raw_file"].startswith(local_settings.posts_prefix)
    assert report["marts"]["fresh"] is True

    text = CliRunner().invoke(main, ["status", "--home", str(local_settings.home)])
    assert text.exit_code == 0 and "verdict: HEALTHY" in text.output


def test_stalled_consumer_is_degraded_with_since(local_settings: Settings) -> None:
    _healthy(local_settings)
    _ingest(local_settings, 25, start=100)  # waits on the untagged stream: the poller is not running
    later_ms = int(time.time() * 1000) + 180_000  # three minutes on, still unread
    report = pipeline_status(local_settings, now_ms=later_ms)
    assert report.verdict == "degraded" and report.exit_code == 1
    stall = next(p for p in report.problems if p.part == "streams")
    assert "poller" in stall.what and "25 records" in stall.what and stall.since
    assert report.streams[0]["consumers"][0]["lag_s"] >= 170
    # ... and new raw data now waits for compaction too? No: nothing reached the lake yet.
    assert report.lake["hours_waiting_for_compaction"] == []


def test_empty_lake_is_degraded(local_settings: Settings) -> None:
    provision(local_settings)
    _ingest(local_settings, 5)
    _build_warehouse(local_settings)
    code, report = _status(local_settings)
    assert code == 1 and report["verdict"] == "degraded"
    parts = {p["part"] for p in report["problems"]}
    assert "lake" in parts
    assert report["lake"]["newest_raw_file"] is None and report["lake"]["newest_compacted_hour"] is None


def test_missing_warehouse_is_degraded(local_settings: Settings) -> None:
    _healthy(local_settings)
    local_settings.warehouse_path.unlink()
    code, report = _status(local_settings)
    assert code == 1 and report["verdict"] == "degraded"
    (problem,) = report["problems"]
    assert problem["part"] == "marts" and "backfill" in problem["what"]
    assert report["marts"]["last_build_at"] is None and report["marts"]["fresh"] is False


def test_nothing_provisioned_is_stopped(local_settings: Settings) -> None:
    code, report = _status(local_settings)
    assert code == 2 and report["verdict"] == "stopped"
    assert all(s["status"] == "MISSING" for s in report["streams"])


def test_raw_hours_not_compacted_in_time_are_late(local_settings: Settings) -> None:
    _healthy(local_settings)
    store = ObjectStore.from_settings(local_settings)
    for hour in raw_hours(store, local_settings):
        store.delete(f"{local_settings.compacted_prefix}dt={hour:%Y-%m-%d}/hour={hour:%H}/part-00000.parquet")
    now = pipeline_status(local_settings)
    assert now.lake["hours_waiting_for_compaction"] == [datetime.now(UTC).strftime("%Y-%m-%d-%H:00")]
    assert now.verdict == "healthy"  # the open hour may wait
    three_hours_on = int(time.time() * 1000) + 3 * 3600 * 1000
    later = pipeline_status(local_settings, now_ms=three_hours_on)
    assert any(p.part == "lake" and "waiting for compaction" in p.what for p in later.problems)


@pytest.mark.timeout(300)
def test_status_on_the_aws_backend_reads_every_port_on_moto(aws_settings: Settings) -> None:
    provision(aws_settings)
    _ingest(aws_settings, 8)
    report = pipeline_status(aws_settings)
    untagged = report.streams[0]
    assert untagged["status"] == "ACTIVE" and untagged["newest_record_age_s"] is not None
    assert untagged["newest_record_age_s"] < 120
    assert report.lake["newest_raw_file"] is None  # nothing delivered yet: degraded, not a crash
    assert report.verdict == "degraded"
    assert {p.part for p in report.problems} >= {"lake", "marts"}
    json.dumps(report.as_dict())  # the --json shape serializes


def test_labeler_line_shows_last_seq_and_live_subscribers(local_settings: Settings) -> None:
    from websockets.sync.client import connect

    from tests.conftest import free_port
    from tests.test_labeler_cli import _start_service, _stop

    provision(local_settings)
    assert pipeline_status(local_settings).labeler is None  # no labeler has run: no line
    port = free_port()
    service = _start_service(local_settings, port)
    try:
        url = f"ws://127.0.0.1:{port}/xrpc/com.atproto.label.subscribeLabels?cursor=0"
        with connect(url):
            time.sleep(0.3)
            labeler = pipeline_status(local_settings).labeler
        assert labeler is not None
        assert labeler["last_label_seq"] == 0 and labeler["service_status"] == "up"
        assert labeler["subscribers"] == 1
    finally:
        _stop(service)
    after = pipeline_status(local_settings).labeler
    assert after is not None and after["service_status"] == "unreachable" and after["subscribers"] is None


def test_athena_marts_are_read_from_the_glue_table_dbt_replaces(aws_settings: Settings) -> None:
    from fraud_pipeline.catalog import open_catalog
    from fraud_pipeline.catalog.base import Column

    settings = aws_settings.with_overrides(analytics_engine="athena")
    provision(settings)
    missing = pipeline_status(settings)
    assert missing.marts["last_build_at"] is None
    assert any(p.part == "marts" and settings.athena_database in p.what for p in missing.problems)
    catalog = open_catalog(settings)
    catalog.ensure_database(settings.athena_database)
    catalog.ensure_table(
        settings.athena_database, "fraud_summary", [Column("posts", "bigint")], "s3://marts/fraud_summary/"
    )
    catalog.close()
    built = pipeline_status(settings)
    assert built.marts["fresh"] is True and built.marts["last_build_at"]
    assert not any(p.part == "marts" for p in built.problems)
