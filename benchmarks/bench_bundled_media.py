"""What reading the pixels costs `fraud-pipeline up` on the bundled capture, images on beside off.

The bundled capture keeps a recipe of its images (`data/replay/capture.blobs.json`), so `up`
serves them from a local CDN and scores them in the stream. Whether that is the right default
for the local run depends on what an image costs at the capture's image share and at the
speed `up` replays it. This replays the first `--events` events of the bundled capture with
`fraud-pipeline replay --speed S --until-drained` twice, in child processes on fresh homes:
with the recipe beside the cut (images on) and without it (images off, alt texts and link
cards only, as before). Prints one JSON object:

- per run: CPU seconds of the replay process (user + system), wall seconds, posts, and for
  `on` the images read from pixels, the images unavailable by code (`budget`, `backlog`, ...),
  posts whose media verdict came from the pixels (a copied blob in `media_paths`), and the
  capture's image-only scams (label shape `image_only`) that were flagged;
- `extra_cpu_s_per_image_read`: (CPU on - CPU off) / images read;
- `extra_cores_at_speed`: (CPU on - CPU off) / the replay's recorded duration at `--speed`,
  i.e. how many cores reading the pixels keeps busy while `up` replays.

The images' pools are drawn before the timed runs (a first `up` draws them once, a few CPU
seconds, and keeps them in its home).

    python benchmarks/bench_bundled_media.py [--events 3000] [--speed 10] [--workers processes]
        [--fetch-workers N]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zstandard

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "data" / "replay" / "capture.jsonl.zst"
UNAVAILABLE = re.compile(r"^media score unavailable: image (?P<cid>[a-z0-9]+): (?P<why>.*)$")


def _cut(folder: Path, events: int, with_recipe: bool) -> tuple[Path, float]:
    """The first `events` lines of the bundled capture (and its recipe beside it when asked);
    the recorded seconds they span."""
    from fraud_pipeline.ingest.synth import recipe_path_for

    raw = zstandard.ZstdDecompressor().decompress(CAPTURE.read_bytes(), max_output_size=1 << 31)
    lines = raw.splitlines()[:events]
    cut = folder / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines) + b"\n")
    first, last = (json.loads(lines[i])["time_us"] for i in (0, -1))
    if with_recipe:
        shutil.copy(recipe_path_for(CAPTURE), recipe_path_for(cut))
    return cut, (last - first) / 1e6


def _code(why: str) -> str:
    if "budget" in why:
        return "budget"
    if "in flight" in why:
        return "backlog"
    return why.split(" ", 1)[0].strip(":")


def _image_only_uris() -> set[str]:
    """The capture's image-only scams: an ordinary caption, the scam painted on the picture."""
    from fraud_pipeline.ingest.synth import labels_path_for

    rows = (json.loads(line) for line in labels_path_for(CAPTURE).read_text().splitlines())
    return {row["uri"] for row in rows if row.get("shape") == "image_only"}


def _lake_media(home: Path) -> dict[str, Any]:
    import pyarrow.dataset as ds

    posts = list(home.glob("lake/*/posts"))
    rows = ds.dataset(posts[0], format="parquet").to_table().to_pylist() if posts else []
    image_only = _image_only_uris()
    scams = [r for r in rows if r["uri"] in image_only and r.get("operation") == "create"]
    with_media = [r for r in rows if r.get("media_paths")]
    unavailable: collections.Counter[str] = collections.Counter()
    read = 0
    from_pixels = 0
    for row in with_media:
        missing = {}
        for reason in row.get("reasons") or []:
            found = UNAVAILABLE.match(reason)
            if found:
                missing[found.group("cid")] = _code(found.group("why"))
        copied = [p for p in row["media_paths"] if "/media/" in p and not p.startswith("http")]
        read_here = [p for p in copied if p.rsplit("/", 1)[-1] not in missing]
        read += len(read_here)
        from_pixels += bool(read_here)
        unavailable.update(missing.values())
    return {
        "records": len(rows),
        "posts_with_media": len(with_media),
        "posts_media_from_pixels": from_pixels,
        "images_read": read,
        "images_unavailable": dict(unavailable.most_common()),
        "image_only_scams": len(scams),
        "image_only_scams_flagged": sum(bool(r.get("is_fraud")) for r in scams),
    }


def _replay(folder: Path, cut: Path, speed: float, workers: str, fetch_workers: int | None) -> dict[str, Any]:
    home = folder / "home"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    command = [sys.executable, "-m", "fraud_pipeline.cli", "replay", str(cut), "--until-drained", "--json"]
    command += ["--speed", str(speed), "--workers", workers, "--home", str(home)]
    env = os.environ.copy()
    if fetch_workers is not None:
        env["FRAUD_PIPELINE_MEDIA_FETCH_WORKERS"] = str(fetch_workers)
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "posts": summary["posts"], **_lake_media(home)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--speed", type=float, default=10.0, help="as `up --speed` (its default: 10)")
    parser.add_argument("--workers", default="processes", choices=["threads", "processes"])
    parser.add_argument(
        "--fetch-workers", type=int, default=None, help="media_fetch_workers (default: the setting's)"
    )
    args = parser.parse_args()

    from fraud_pipeline.ingest.synth import RecipeBlobs, recipe_path_for
    from fraud_pipeline.media.blob_server import recipe_cache_folder
    from fraud_pipeline.settings import Settings

    results: dict[str, Any] = {"events": args.events, "speed": args.speed, "workers": args.workers}
    results["fetch_workers"] = args.fetch_workers or Settings().media_fetch_workers
    with tempfile.TemporaryDirectory() as scratch:
        runs: dict[str, dict[str, Any]] = {}
        for mode in ("off", "on"):
            folder = Path(scratch) / mode
            folder.mkdir()
            cut, recorded_s = _cut(folder, args.events, with_recipe=mode == "on")
            if mode == "on":  # drawn once beforehand, as a second `up` finds them
                recipe = recipe_path_for(cut)
                RecipeBlobs(recipe, recipe_cache_folder(Settings(home=folder / "home"), recipe))
            runs[mode] = _replay(folder, cut, args.speed, args.workers, args.fetch_workers)
        results["recorded_s_at_speed"] = round(recorded_s / args.speed, 2)
        results.update(runs)
    extra = runs["on"]["cpu_s"] - runs["off"]["cpu_s"]
    read = runs["on"]["images_read"]
    results["extra_cpu_s"] = round(extra, 2)
    results["extra_cpu_s_per_image_read"] = round(extra / read, 4) if read else None
    results["extra_cores_at_speed"] = round(extra / max(results["recorded_s_at_speed"], 1e-9), 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
