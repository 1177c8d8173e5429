"""Logs a team can search: every component writes one JSON object per line with the agreed
fields (time, level, component, logger, message; shard/partition and record/run when known;
`next_step` on errors), to stdout inside AWS compute and to a rotated file elsewhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from fraud_pipeline import logs
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams import PutEntry, open_stream
from tests.scoring_fixtures import kinesis_event, make_post

AGREED = {"time", "level", "component", "logger", "message"}


def _parse(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in parsed:
        assert entry.keys() >= AGREED, entry
    return parsed


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    root = logging.getLogger(logs.ROOT_LOGGER)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.propagate = True
    root.setLevel(logging.NOTSET)


def test_lambda_handler_logs_json_to_stdout_with_shard_record_and_next_step(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inside Lambda the real entry point sets up JSON lines on stdout (CloudWatch Logs)."""
    from fraud_pipeline.scoring import handler as lambda_handler

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fraud-detect-dev-scoring")
    monkeypatch.setenv("FRAUD_PIPELINE_HOME", str(local_settings.home))
    open_stream(local_settings).create_stream(local_settings.tagged_stream, 1)
    monkeypatch.setattr(lambda_handler, "_RUNTIME", None)
    event = kinesis_event([make_post(1).to_json(), b"{not json"])
    lambda_handler.handler(event)
    entries = _parse(capsys.readouterr().out)
    assert entries, "the handler logged nothing"
    assert {e["component"] for e in entries} == {"scoring"}
    batch = next(e for e in entries if e["message"].startswith("scored a batch"))
    assert batch["level"] == "INFO" and batch["shard"] and batch["record"]
    undecodable = next(e for e in entries if "could not be decoded" in e["message"])
    assert undecodable["level"] == "WARNING" and "errors/scoring/" in undecodable["next_step"]


def test_poller_errors_name_the_shard_the_record_and_what_to_do(local_settings: Settings) -> None:
    from fraud_pipeline.lake.errors import ErrorSink
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.state import open_state
    from fraud_pipeline.workers.poller import EventSourceMappingPoller

    path = logs.setup_logging("poller", local_settings, terminal=open("/dev/null", "w"))  # noqa: SIM115
    assert path == Path(local_settings.home).resolve() / "logs" / "poller.jsonl"
    stream = open_stream(local_settings)
    stream.create_stream(local_settings.untagged_stream, 1)
    stream.create_stream(local_settings.tagged_stream, 1)
    stream.put_records(local_settings.untagged_stream, [PutEntry("did:plc:a", make_post(1).to_json())])

    def broken(shard_id: str, batch: Any) -> list[str]:
        raise RuntimeError("model crashed")

    errors = ErrorSink(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "poller")
    poller = EventSourceMappingPoller(local_settings, stream, open_state(local_settings), broken, errors)
    poller.poll_once(force=True)
    entries = _parse(path.read_text())
    failed = next(e for e in entries if e["level"] == "ERROR")
    assert failed["component"] == "poller"
    assert failed["shard"].startswith("shardId-") and failed["record"]
    assert "RuntimeError: model crashed" in failed["error"] and "dead-letter" in failed["next_step"]


def test_ingest_lines_and_worker_threads_carry_their_component(local_settings: Settings) -> None:
    from fraud_pipeline.ingest.pipeline import log_malformed

    path = logs.setup_logging("ingest", local_settings, terminal=open("/dev/null", "w"))  # noqa: SIM115
    assert path is not None
    log_malformed(b"\x00\xffbinary", "not JSON")
    logs.as_component("delivery", logging.getLogger("fraud_pipeline.workers.delivery").info)("flushed")
    with logs.log_context(partition="2026-11-29-14:00", run="r-1"):
        logging.getLogger("fraud_pipeline.lake.compaction").info("compacted")
    malformed, flushed, compacted = _parse(path.read_text())
    assert malformed["component"] == "ingest" and malformed["level"] == "WARNING"
    assert "next_step" in malformed
    assert flushed["component"] == "delivery"
    assert compacted["partition"] == "2026-11-29-14:00" and compacted["run"] == "r-1"


def test_errors_reach_the_terminal_as_one_short_line(local_settings: Settings, tmp_path: Path) -> None:
    terminal = (tmp_path / "terminal.txt").open("w")
    logs.setup_logging("backfill", local_settings, terminal=terminal)
    log = logging.getLogger("fraud_pipeline.orchestration")
    log.info("quiet on the terminal")
    log.error("catalog unreachable", extra={"next_step": "check the Glue endpoint"})
    terminal.close()
    shown = (tmp_path / "terminal.txt").read_text().splitlines()
    assert shown == ["error: [backfill] catalog unreachable", "  next: check the Glue endpoint"]


def test_local_log_files_rotate(local_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "ROTATE_BYTES", 2000)
    path = logs.setup_logging("up", local_settings, terminal=open("/dev/null", "w"))  # noqa: SIM115
    assert path is not None
    for i in range(100):
        logging.getLogger("fraud_pipeline.workers").info("line %d", i)
    assert path.with_name("up.jsonl.1").exists()
    assert path.stat().st_size <= 2000
    assert len(list(path.parent.glob("up.jsonl*"))) <= 1 + logs.ROTATE_BACKUPS
    _parse(path.with_name("up.jsonl.1").read_text())


def test_log_destination_follows_the_setting(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert logs.log_destination(local_settings) == "file"
    assert logs.log_destination(local_settings.with_overrides(log_to="stdout")) == "stdout"
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/x")
    assert logs.log_destination(local_settings) == "stdout"


def test_dagster_services_start_without_warnings_and_log_json(local_settings: Settings) -> None:
    """`up` starts the webserver and the daemon (not the superseded `dagster dev`) with JSON logs,
    on a Dagster home with a dagster.yaml: none of their output is a Dagster warning."""
    import time
    import urllib.request

    from fraud_pipeline.workers.services import start_services, stop_services
    from tests.conftest import free_port

    port = free_port()
    services = start_services(
        local_settings, dagster=True, dashboard=False, dagster_port=port, dashboard_port=0
    )
    try:
        assert [s.name for s in services] == ["dagster", "dagster-daemon"]
        deadline = time.monotonic() + 120
        up = False
        while not up and time.monotonic() < deadline:
            try:
                up = urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).status == 200
            except OSError:
                time.sleep(1)
        assert up, "the Dagster webserver did not answer"
        time.sleep(5)  # the daemon loads the code location too
    finally:
        stop_services(services)
    assert (Path(local_settings.dagster_home) / "dagster.yaml").exists()
    for service in services:
        lines = [line for line in service.log_path.read_text().splitlines() if line.strip()]
        assert lines, f"{service.name} wrote nothing"
        assert not [line for line in lines if "Warning" in line], service.log_path.read_text()[-3000:]
        service_lines = [json.loads(line) for line in lines if line.startswith("{")]
        assert service_lines and all({"event", "level", "logger"} <= e.keys() for e in service_lines)
