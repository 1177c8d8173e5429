"""`fraud-pipeline ingest`: the command that feeds the untagged stream, from a capture and
from a Jetstream websocket on 127.0.0.1 (counts in equal counts out, malformed -> errors)."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.ingest.jetstream import CURSOR_KEY
from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.lake.errors import read_errors
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.provision import provision
from fraud_pipeline.records import Post
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import open_stream
from tests.test_jetstream import FakeJetstream

ROOT = Path(__file__).resolve().parents[1]


def _ingest(settings: Settings, *args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["ingest", *args, "--home", str(settings.home)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output[result.output.index("{") :])


def _stream_posts(settings: Settings) -> list[Post]:
    """The posts on the untagged stream (account events, when ingested, are left out)."""
    stream = open_stream(settings)
    posts = []
    for shard_id in stream.describe(settings.untagged_stream).shard_ids:
        reader = stream.shard_reader(settings.untagged_stream, shard_id, None)
        while batch := reader.read(10_000):
            posts.extend(Post.from_json(r.data) for r in batch if "kind" not in orjson.loads(r.data))
    return posts


def test_ingest_a_capture_puts_every_post_and_delete_on_the_stream(
    local_settings: Settings, tmp_path: Path
) -> None:
    provision(local_settings)
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 500, seed=3)
    capture.write_bytes(capture.read_bytes() + b"{broken\n")
    summary = _ingest(local_settings, "--source", "replay", "--file", str(capture))
    posts = _stream_posts(local_settings)
    assert summary["events_read"] == 501 and summary["malformed"] == 1
    # Locally account events are ingested by default (settings.ingest_accounts "auto").
    accounts = sum(summary["account_events"].values())  # type: ignore[attr-defined]
    assert accounts > 0
    assert len(posts) == summary["posts"] + summary["deletes"] == summary["put"] - accounts  # type: ignore[operator]
    assert summary["error_records"] == 1
    errors = read_errors(ObjectStore.from_settings(local_settings), local_settings.errors_prefix, "ingest")
    assert errors[0]["errorCode"] == "MalformedEvent" and errors[0]["errorMessage"] == "invalid_json"


def test_ingest_from_jetstream_keeps_its_cursor(local_settings: Settings) -> None:
    provision(local_settings)
    server = FakeJetstream(extra_frames={5: "{not json"})
    try:
        summary = _ingest(
            local_settings,
            "--source",
            "jetstream",
            "--url",
            server.url,
            "--max-events",
            "31",
            "--no-accounts",
        )
    finally:
        server.close()
    assert summary["posts"] == 30 and summary["malformed"] == 1
    assert [p.text for p in sorted(_stream_posts(local_settings), key=lambda p: p.time_us)] == [
        f"post {i}" for i in range(30)
    ]
    assert server.requests[0]["wantedCollections"] == ["app.bsky.feed.post"]
    cursor = open_state(local_settings).get_checkpoint(CURSOR_KEY)
    assert cursor is not None and int(cursor) >= 1_000_000  # persisted after the producer flushed
