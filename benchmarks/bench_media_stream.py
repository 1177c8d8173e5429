"""The stream's image path end to end: fetch from a local CDN, copy, score, cache by CID.

Draws `--images` pictures in a realistic mix (`media.synth_images.image_mix`: mostly photos,
some scam cards, charts, memes, screenshots), serves them from a blob server in a child
process (so this process's CPU time is the stream's alone), and runs `media.stream.
StreamImages` over posts that each show one of them, in batches of `--batch`, with one fetch
worker and a budget no image misses. Prints one JSON object:

- `cold`: every image fetched, copied to the media/ prefix (a local folder), decoded, read
  (prescreen, OCR, QR, blocklist) and its verdict cached: CPU seconds, wall seconds, images
  per CPU second (the issue's target is 20 images/s on one core);
- `fetch_only`: the fetches alone (urllib3, guards), CPU per image;
- `warm`: the same posts again, every verdict from the CID cache (SQLite state store):
  CPU per image and how many fetches reached the server (0 expected);
- `peak_rss_mb` after the run.

    python benchmarks/bench_media_stream.py [--images 60] [--batch 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from fraud_pipeline.ingest.synth import blob_cid
from fraud_pipeline.media.fetch import BlobFetcher, BlobRef, FetchLimits
from fraud_pipeline.media.scorer import ImageScorer
from fraud_pipeline.media.stream import StreamImages
from fraud_pipeline.media.synth_images import image_mix
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.text_model import load_text_model
from fraud_pipeline.serving.clients import InProcessTextScorer
from fraud_pipeline.state.sqlite import SqliteStateStore

DID = "did:plc:benchmarkmediastream0000"


def _serve(folder: str, ports: Any, stop: Any) -> None:
    from fraud_pipeline.media.blob_server import BlobServer

    server = BlobServer(folder=Path(folder))
    server.start_background()
    ports.put((server.server_address[1], 0))
    stop.wait()
    ports.put((-1, len(server.requests)))
    server.stop()


def _post(index: int, cid: str) -> Post:
    return Post(
        uri=f"at://{DID}/app.bsky.feed.post/bench{index:08d}",
        did=DID,
        rkey=f"bench{index:08d}",
        operation="create",
        time_us=1_800_000_000_000_000 + index,
        media_kinds=["image"],
        media_cids=[cid],
        media_paths=[f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{cid}@jpeg"],
        media_alts=[""],
    )


def _timed(work: Any) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-media-stream-"))
    blobs = work / "blobs"
    blobs.mkdir()
    cids = []
    for image in image_mix(args.seed, args.images, split="eval"):
        cid = blob_cid(image.data)
        (blobs / cid).write_bytes(image.data)
        cids.append(cid)

    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(str(blobs), ports, stop), daemon=True)
    server.start()
    port, _ = ports.get(timeout=60)
    url = f"http://127.0.0.1:{port}"

    policy = load_default_policy()
    scorer = ImageScorer(policy, InProcessTextScorer(load_text_model()))
    scorer.score_bytes((blobs / cids[0]).read_bytes())  # load the OCR sessions outside the timing
    state = SqliteStateStore(work / "state.sqlite")
    images = StreamImages(
        BlobFetcher(url, url, FetchLimits(timeout_s=30.0), max_connections=1),
        state,
        lambda _policy, _version: scorer,
        objects=ObjectStore.local(work / "bucket"),
        budget_s=3600.0,
        workers=1,
    )
    posts = [_post(i, cid) for i, cid in enumerate(cids)]
    batches = [posts[i : i + args.batch] for i in range(0, len(posts), args.batch)]
    unread = 0

    def run_all() -> None:
        nonlocal unread
        for batch in batches:
            out, _stats = images.read(batch, policy, "bench")
            unread += sum(1 for p in out.values() if p.likelihood is None)

    fetcher = BlobFetcher(url, url, FetchLimits(timeout_s=30.0), max_connections=1)
    max_bytes = policy.spec.media.max_bytes if policy.spec.media else 10_000_000
    fetch_cpu, fetch_wall = _timed(lambda: [fetcher.fetch(BlobRef(DID, c, "image"), max_bytes) for c in cids])
    cold_cpu, cold_wall = _timed(run_all)
    cold_unread, unread = unread, 0
    warm_cpu, warm_wall = _timed(run_all)
    stop.set()
    _, served = ports.get(timeout=60)
    server.join(10)
    images.close()
    fetcher.close()
    n = len(cids)
    print(
        json.dumps(
            {
                "images": n,
                "batch": args.batch,
                "loaded_machine_note": "CPU seconds of this process; the blob server runs in another",
                "cold": {
                    "cpu_s": round(cold_cpu, 3),
                    "wall_s": round(cold_wall, 3),
                    "images_per_cpu_s": round(n / cold_cpu, 2) if cold_cpu else None,
                    "unread": cold_unread,
                },
                "fetch_only": {
                    "cpu_ms_per_image": round(1000 * fetch_cpu / n, 3),
                    "wall_ms_per_image": round(1000 * fetch_wall / n, 3),
                },
                "warm": {
                    "cpu_ms_per_image": round(1000 * warm_cpu / n, 3),
                    "wall_s": round(warm_wall, 3),
                    "unread": unread,
                },
                "server_requests": served,  # fetch_only + cold; warm adds none
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
