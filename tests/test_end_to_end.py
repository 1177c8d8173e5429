"""The whole streaming path: a capture replayed until drained, counts in equal counts out,
on the local backend and on `--backend aws` against a moto server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.lake.errors import read_errors
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

LABELED = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
MALFORMED = [
    b"{this is not json",
    b'{"did": "did:plc:x", "kind": "commit", "commit": 5}',
    b"\xff\xfe\x00garbage",
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic capture with a few malformed lines mixed in."""
    folder = tmp_path_factory.mktemp("capture")
    clean = folder / "clean.jsonl"
    write_capture(clean, load_texts([LABELED]), 1500, seed=11, rate=200.0)
    lines = clean.read_bytes().splitlines()
    for offset, bad in enumerate(MALFORMED):
        lines.insert(100 * (offset + 1), bad)
    path = folder / "capture.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _replay(settings: Settings, capture: Path) -> dict[str, int]:
    args = [
        "replay",
        str(capture),
        "--until-drained",
        "--json",
        "--backend",
        settings.backend,
        "--home",
        str(settings.home),
        "--env",
        settings.env,
    ]
    if settings.aws_endpoint_url:
        args += ["--endpoint-url", settings.aws_endpoint_url]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


def _lake_uris(settings: Settings) -> list[str]:
    objects = ObjectStore.from_settings(settings)
    dataset = ds.dataset(objects.path(settings.posts_prefix), filesystem=objects.fs, format="parquet")
    return dataset.to_table(columns=["uri"]).column("uri").to_pylist()


def _check(settings: Settings, summary: dict[str, int], capture: Path) -> None:
    lines = [line for line in capture.read_bytes().splitlines() if line]
    assert summary["events_read"] == len(lines)
    assert summary["malformed"] == len(MALFORMED)
    assert (
        summary["events_read"]
        == summary["posts"]
        + summary["deletes"]
        + summary["account_events"]
        + summary["malformed"]
        + summary["skipped"]
    )
    assert summary["posts"] > 300 and summary["deletes"] > 0
    # Counts in equal counts out: every post and delete was tagged and is in the lake.
    assert summary["tagged"] == summary["posts"] + summary["deletes"]
    assert summary["scored"] == summary["posts"]
    assert summary["lake_rows"] == summary["tagged"] + summary["verdict_updates"]
    assert 0 < summary["fraud"] < summary["scored"]
    uris = _lake_uris(settings)
    assert len(uris) == summary["lake_rows"]
    # The malformed events are in the errors prefix with their reasons, not dropped.
    errors = read_errors(ObjectStore.from_settings(settings), settings.errors_prefix, "ingest")
    assert len(errors) == len(MALFORMED) == summary["error_records"]
    assert all(e["errorMessage"] for e in errors)


def test_replay_until_drained_on_the_local_backend(local_settings: Settings, capture: Path) -> None:
    summary = _replay(local_settings, capture)
    _check(local_settings, summary, capture)
    # The lake outlives the process: a new process sees the same files.
    assert len(_lake_uris(local_settings)) == summary["lake_rows"]


@pytest.mark.moto
def test_replay_until_drained_on_aws_against_moto(aws_settings: Settings, capture: Path) -> None:
    summary = _replay(aws_settings, capture)
    _check(aws_settings, summary, capture)
