"""A synth capture with drawn images, replayed through the whole path with its blobs served as
the CDN: an image-only scam (an ordinary caption, no alt text) is caught by what it shows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import libipld
import orjson
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.ingest.synth import blobs_path_for, load_texts, write_capture
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

LABELED = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "images.jsonl"
    summary = write_capture(path, load_texts([LABELED]), 1500, seed=5, rate=200.0, images=4)
    assert summary.blobs == blobs_path_for(path) and summary.images > 8
    return path


def _labels(capture: Path) -> dict[str, dict[str, object]]:
    rows = [orjson.loads(line) for line in capture.with_name("images.labels.jsonl").read_bytes().splitlines()]
    return {str(r["uri"]): r for r in rows}


def test_capture_blobs_are_named_by_their_real_cids(capture: Path) -> None:
    blobs = list(blobs_path_for(capture).iterdir())
    events = [orjson.loads(line) for line in capture.read_bytes().splitlines()]
    videos = {
        e["commit"]["record"]["embed"]["video"]["ref"]["$link"]
        for e in events
        if "video" in (e.get("commit", {}).get("record", {}).get("embed") or {})
    }
    for blob in blobs:
        version, codec, digest = _cid_parts(blob.name)  # decoded by libipld, not by synth's code
        assert (version, codec) == (1, 0x55)  # CIDv1, raw: as Bluesky's bafkrei... blob CIDs
        if blob.name not in videos:  # a video's CID serves its thumbnail, as on the video CDN
            assert digest == hashlib.sha256(blob.read_bytes()).digest()
    linked = {
        image["image"]["ref"]["$link"]
        for e in events
        for image in (e.get("commit", {}).get("record", {}).get("embed", {}).get("images") or [])
    }
    assert linked and linked <= {b.name for b in blobs}  # every image post's blob is served
    assert any(r.get("shape") == "image_only" for r in _labels(capture).values())


def _cid_parts(cid: str) -> tuple[int, int, bytes]:
    decoded = libipld.decode_cid(cid)
    multihash = decoded["hash"]
    assert multihash["code"] == 0x12  # sha2-256
    return int(decoded["version"]), int(decoded["codec"]), bytes(multihash["digest"])


def test_an_image_only_scam_is_caught_end_to_end(local_settings: Settings, capture: Path) -> None:
    args = ["replay", str(capture), "--until-drained", "--json", "--workers", "threads"]
    args += ["--home", str(local_settings.home)]
    # A budget no image misses, so what is asserted is the reading, not this machine's load.
    env = {"FRAUD_PIPELINE_MEDIA_BATCH_BUDGET_S": "300"}
    result = CliRunner(env=env).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output)
    assert summary["scored"] == summary["posts"] and summary["lake_rows"] > 0

    objects = ObjectStore.from_settings(local_settings)
    dataset = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    rows = [r for r in dataset.to_table().to_pylist() if r["operation"] == "create" and r["media_cids"]]
    labels = _labels(capture)
    image_only = [r for r in rows if labels[r["uri"]].get("shape") == "image_only"]
    assert image_only
    caught = [r for r in image_only if r["is_fraud"] and "fraud-media" in r["labels"]]
    assert len(caught) >= max(1, len(image_only) // 2), [r["reasons"] for r in image_only]
    for row in caught:
        assert "fraud-text" not in row["labels"]  # the words of the post say nothing
        assert all(alt == "" for alt in row["media_alts"])
        assert any(reason.startswith(f"image {row['media_cids'][0]}: ") for reason in row["reasons"])
        # The blob was copied to the bucket's media/ prefix, and the record points there.
        key = f"{local_settings.media_prefix}{row['media_cids'][0]}"
        assert row["media_paths"] == [objects.uri(key)] and objects.exists(key)
    # Ordinary pictures are not flagged for what they show.
    benign = [r for r in rows if labels[r["uri"]]["label"] == 0]
    assert benign and sum("fraud-media" in r["labels"] for r in benign) <= len(benign) // 10
    assert all(r["fraud_media_likelihood"] is not None for r in rows), "every image was read"


def test_up_serves_a_captures_images_as_the_cdn(
    local_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_up import _summary, _up_until_replayed

    monkeypatch.setenv("FRAUD_PIPELINE_MEDIA_BATCH_BUDGET_S", "300")  # every image read, however loaded

    capture = tmp_path / "up.jsonl"
    write_capture(capture, load_texts([LABELED]), 600, seed=3, rate=100.0, images=2)
    output = _up_until_replayed(local_settings, capture)
    assert "blob server (the CDN of" in output
    assert _summary(output)["lake_rows"] > 0
    objects = ObjectStore.from_settings(local_settings)
    copies = [o.key for o in objects.list_objects(local_settings.media_prefix)]
    assert copies and all(c.removeprefix(local_settings.media_prefix).startswith("bafkrei") for c in copies)
    dataset = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    paths = [p for row in dataset.to_table(columns=["media_paths"]).column(0).to_pylist() for p in row or []]
    assert any(p.startswith(objects.uri(local_settings.media_prefix)) for p in paths)
