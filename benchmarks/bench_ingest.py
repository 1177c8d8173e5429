"""Ingest throughput on one core: decode+normalize, serialize, and both, in posts/s.

Runs over the posts of the bundled capture (data/replay/capture.jsonl.zst), median of
several runs, and prints one JSON object. `vs_original_3000_per_min` compares with the
original system's 3,000 records/minute (50/s).

    .venv/bin/python benchmarks/bench_ingest.py [--runs 5] [--capture PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import orjson

from fraud_pipeline.ingest.normalize import normalize
from fraud_pipeline.ingest.replay import read_lines

ORIGINAL_PER_S = 3000 / 60
CAPTURE = Path(__file__).resolve().parents[1] / "data" / "replay" / "capture.jsonl.zst"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--capture", type=Path, default=CAPTURE)
    args = parser.parse_args()

    # Only post events (creates/updates/deletes), as Jetstream sends with wantedCollections.
    lines = [line for line in read_lines(args.capture) if b'"app.bsky.feed.post"' in line]
    posts = [r.post for r in map(normalize, lines) if r.post is not None]
    assert len(posts) == len(lines), "the capture's post events should all normalize"

    def decode_normalize() -> float:
        start = time.perf_counter()
        for line in lines:
            normalize(line)
        return len(lines) / (time.perf_counter() - start)

    def serialize() -> float:
        start = time.perf_counter()
        for post in posts:
            post.to_json()
        return len(posts) / (time.perf_counter() - start)

    def together() -> float:
        start = time.perf_counter()
        for line in lines:
            result = normalize(line)
            post = result.post
            if post is not None:
                post.ingested_at_us = time.time_ns() // 1000
                post.to_json()
        return len(lines) / (time.perf_counter() - start)

    results: dict[str, list[float]] = {"decode_normalize": [], "serialize": [], "together": []}
    for _ in range(args.runs):  # interleaved, so all three see the same machine load
        results["decode_normalize"].append(decode_normalize())
        results["serialize"].append(serialize())
        results["together"].append(together())
    medians = {name: round(statistics.median(values)) for name, values in results.items()}
    out = {
        "benchmark": "ingest",
        "capture": str(args.capture.name),
        "post_events": len(lines),
        "mean_event_bytes": round(sum(map(len, lines)) / len(lines)),
        "runs": args.runs,
        "posts_per_s_median": medians,
        "posts_per_s_all_runs": {k: [round(v) for v in vs] for k, vs in results.items()},
        "together_vs_original_3000_per_min": round(medians["together"] / ORIGINAL_PER_S, 1),
        "target_100k_per_s_met": medians["together"] >= 100_000,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
