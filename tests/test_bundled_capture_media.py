"""The bundled capture carries image posts: its blobs are kept as a recipe (a few kB in git,
`data/replay/capture.blobs.json`), drawn again when `up` or `replay` starts and served as the
CDN, so the local run reads pixels and catches the capture's image-only scams."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pyarrow.dataset as ds
import pytest
import zstandard
from click.testing import CliRunner

from fraud_pipeline.bundled import BUNDLED
from fraud_pipeline.cli import main
from fraud_pipeline.ingest.synth import RecipeBlobs, blob_cid, labels_path_for, recipe_path_for
from fraud_pipeline.media.blob_server import capture_blobs, serve_capture_blobs
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "data" / "replay" / "capture.jsonl.zst"
CUT_EVENTS = 300  # the capture's first events (~20 blobs), plus its image-only scams up to:
IMAGE_ONLY_UNTIL = 4000


def _events(limit: int | None = None) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().decompress(CAPTURE.read_bytes(), max_output_size=1 << 31)
    return raw.splitlines()[:limit]


def _blob_refs(event: dict) -> list[tuple[str, str]]:
    """(kind, CID) of a post's images and video."""
    embed = ((event.get("commit") or {}).get("record") or {}).get("embed") or {}
    refs = []
    for part in (embed, embed.get("media") or {}):
        refs += [("image", i["image"]["ref"]["$link"]) for i in part.get("images") or []]
        if "video" in part:
            refs.append(("video", part["video"]["ref"]["$link"]))
    return refs


def _uri(event: dict) -> str:
    commit = event.get("commit") or {}
    return f"at://{event['did']}/{commit.get('collection')}/{commit.get('rkey')}"


def _labels() -> dict[str, dict]:
    rows = (orjson.loads(line) for line in labels_path_for(CAPTURE).read_bytes().splitlines())
    return {row["uri"]: row for row in rows}


def test_the_recipe_names_every_blob_of_the_bundled_capture_and_ships_in_the_wheel() -> None:
    recipe = orjson.loads(recipe_path_for(CAPTURE).read_bytes())
    refs = {ref for line in _events() for ref in _blob_refs(orjson.loads(line))}
    images = {cid for kind, cid in refs if kind == "image"}
    assert len(images) > 1000 and images <= recipe["blobs"].keys()
    videos = {cid for kind, cid in refs if kind == "video"}
    assert videos and all(recipe["blobs"][cid][3] == 1 for cid in videos)  # thumbnails, by video CID
    assert sum(row.get("shape") == "image_only" for row in _labels().values()) > 50
    assert "data/replay/capture.blobs.json" in BUNDLED
    assert recipe_path_for(CAPTURE).stat().st_size < 300_000  # the images themselves: ~10 MB


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture's first events, with the recipe beside them (as the bundled capture has)."""
    folder = tmp_path_factory.mktemp("bundled-cut")
    path = folder / "cut.jsonl"
    image_only = {uri for uri, row in _labels().items() if row.get("shape") == "image_only"}
    lines = _events(IMAGE_ONLY_UNTIL)
    picked = lines[:CUT_EVENTS] + [
        line for line in lines[CUT_EVENTS:] if _uri(orjson.loads(line)) in image_only
    ]
    path.write_bytes(b"\n".join(picked) + b"\n")
    shutil.copy(recipe_path_for(CAPTURE), recipe_path_for(path))
    return path


def test_blobs_drawn_from_the_recipe_hash_to_their_cids_and_are_kept(cut: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    server = capture_blobs(settings, cut)
    assert server is not None and server.lookup is not None
    cache = next((tmp_path / "home" / "media-blobs").iterdir())
    first = next(ref for line in cut.read_bytes().splitlines() for ref in _blob_refs(orjson.loads(line)))
    data = server.blob(first[1])
    assert data is not None and blob_cid(data) == first[1]
    assert server.blob("bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") is None
    blobs = RecipeBlobs(recipe_path_for(cut), cache)
    assert not blobs.drawn  # the second start reads the pools kept under the home
    assert blobs.not_matching() == 0  # drawn here byte for byte as where the capture was made
    server.server_close()


def test_a_replay_of_the_bundled_capture_reads_the_pixels(local_settings: Settings, cut: Path) -> None:
    args = ["replay", str(cut), "--until-drained", "--json", "--workers", "threads"]
    args += ["--home", str(local_settings.home)]
    # A budget no image misses, so what is asserted is the reading, not this machine's load.
    result = CliRunner(env={"FRAUD_PIPELINE_MEDIA_BATCH_BUDGET_S": "300"}).invoke(
        main, args, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["posts"] > 100

    objects = ObjectStore.from_settings(local_settings)
    dataset = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    rows = [r for r in dataset.to_table().to_pylist() if r["operation"] == "create" and r["media_cids"]]
    assert len(rows) > 10
    media = objects.uri(local_settings.media_prefix)
    for row in rows:  # every image was fetched from the local CDN, copied and read
        assert row["fraud_media_likelihood"] is not None, row["reasons"]
        assert all(path.startswith(media) for path in row["media_paths"]), row["media_paths"]
        assert not any(reason.startswith("media score unavailable") for reason in row["reasons"])
    labels = _labels()
    image_only = [r for r in rows if labels[r["uri"]].get("shape") == "image_only"]
    assert len(image_only) >= 4
    # An ordinary caption and no alt text: a media score at all is the pixels' (else it is null).
    assert all(alt == "" for r in image_only for alt in r["media_alts"])
    caught = [r for r in image_only if r["is_fraud"] and "fraud-media" in r["labels"]]
    assert len(caught) >= len(image_only) // 2, [r["reasons"] for r in image_only]
    for row in caught:  # caught by what the picture shows
        assert "fraud-text" not in row["labels"]
        assert any(reason.startswith(f"image {row['media_cids'][0]}: ") for reason in row["reasons"])


def test_an_explicit_off_in_the_environment_keeps_the_pixels_unread(cut: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    kept, server = serve_capture_blobs(settings, cut, environ={"FRAUD_PIPELINE_MEDIA_IMAGES": "off"})
    assert server is None and kept is settings and kept.media_images == "off"
    assert not (tmp_path / "home" / "media-blobs").exists()  # nothing drawn either
    on, server = serve_capture_blobs(settings, cut, environ={})
    assert server is not None and on.media_images == "on" and on.cdn_base_url == server.url
    server.stop()
