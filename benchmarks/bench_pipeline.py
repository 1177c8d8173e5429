"""In-process path without AWS, stage by stage, in posts/s on one core.

Stages over the bundled capture's post events (what one scoring worker does per record):
  decode+normalize (raw Jetstream JSON -> Post), serialize the post for the stream,
  decode from the stream + score (text model, media model, signals, rules) -> TaggedRecord,
  serialize the tagged record, and all of them together.
Prints one JSON object; each figure is the median of `--repeats` runs, and also given as a
multiple of the original system's 3,000 records per minute (50 posts/s).

    python benchmarks/bench_pipeline.py [--capture FILE] [--posts N] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_POSTS_PER_S = 3000 / 60


def _median_rate(run: Callable[[], int], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capture", type=Path, default=ROOT / "data" / "replay" / "capture.jsonl.zst")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500, help="records per handler batch")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.replay import read_lines
    from fraud_pipeline.records import Post
    from fraud_pipeline.scoring.handler import build_post_scorer
    from fraud_pipeline.settings import load_settings

    raw_posts = []
    for line in read_lines(args.capture):
        result = normalize(line)
        if result.post is not None and result.post.operation != "delete":
            raw_posts.append(line)
    while len(raw_posts) < args.posts:
        raw_posts.extend(raw_posts[: args.posts - len(raw_posts)])
    raw_posts = raw_posts[: args.posts]
    posts = [normalize(line).post for line in raw_posts]
    stream_payloads = [p.to_json() for p in posts if p is not None]
    scorer = build_post_scorer(load_settings(environ={}))
    batches = [stream_payloads[i : i + args.batch] for i in range(0, len(stream_payloads), args.batch)]
    tagged = [t for batch in batches for t in scorer.score([Post.from_json(b) for b in batch])[0]]

    def decode_normalize() -> int:
        return sum(1 for line in raw_posts if normalize(line).post is not None)

    def serialize_post() -> int:
        return len([p.to_json() for p in posts if p is not None])

    def decode_score() -> int:
        return sum(len(scorer.score([Post.from_json(b) for b in batch])[0]) for batch in batches)

    def serialize_tagged() -> int:
        return len([t.to_json() for t in tagged])

    def ingest_path() -> int:  # the target stage set: decode + normalize + serialize
        count = 0
        for line in raw_posts:
            post = normalize(line).post
            if post is not None:
                post.to_json()
                count += 1
        return count

    def everything() -> int:
        count = 0
        for start in range(0, len(raw_posts), args.batch):
            payloads = []
            for line in raw_posts[start : start + args.batch]:
                post = normalize(line).post
                if post is not None:
                    payloads.append(post.to_json())
            records, _ = scorer.score([Post.from_json(b) for b in payloads])
            count += len([t.to_json() for t in records])
        return count

    stages = {
        "decode_normalize": decode_normalize,
        "serialize_post": serialize_post,
        "decode_normalize_serialize": ingest_path,
        "decode_score": decode_score,
        "serialize_tagged": serialize_tagged,
        "end_to_end_in_process": everything,
    }
    results = {}
    for name, run in stages.items():
        rate = _median_rate(run, args.repeats)
        results[name] = {"posts_per_s": round(rate), "x_seed": round(rate / SEED_POSTS_PER_S, 1)}
    print(
        json.dumps(
            {
                "benchmark": "in_process_pipeline",
                "posts": len(raw_posts),
                "repeats": args.repeats,
                "batch": args.batch,
                "cores": 1,
                "text_model": scorer.text_scorer.version,
                "seed_posts_per_s": SEED_POSTS_PER_S,
                "stages": results,
                "target_decode_normalize_serialize_posts_per_s": 100_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
