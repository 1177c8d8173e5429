"""The embedded stack end to end: sustained posts/s and ingest->tagged latency at offered loads.

For each offered load (posts/s) it starts the stack (poller + real handler + delivery, the
same `workers.stack.Stack` that `fraud-pipeline up` runs) on a fresh home, offers posts from
the bundled capture through the real producer at that rate for `--seconds`, waits until
everything is in the lake, and reports:
- sustained posts/s (scored posts / time from first put to last scored),
- latency from ingest (`ingested_at_us`) to tagged record (`scored_at_us`): p50, p99, max,
- where the time goes: ingest -> untagged stream (producer queue + linger + put),
  stream -> scored (poller batching window + handler), tagged -> lake (delivery buffer).
`--backend aws` runs the same against a moto server it starts on 127.0.0.1.

    python benchmarks/bench_stack.py [--loads 50,500,5000] [--seconds 10] [--backend local|aws]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values_ms, 50), 1),
        "p99_ms": round(_percentile(values_ms, 99), 1),
        "max_ms": round(max(values_ms), 1) if values_ms else float("nan"),
    }


def _read_all(stream: Any, name: str) -> list[Any]:
    records = []
    for shard_id in stream.describe(name).shard_ids:
        reader = stream.shard_reader(name, shard_id, None)
        while batch := reader.read(10_000):
            records.extend(batch)
    return records


def run_load(settings: Any, posts: list[Any], load: int, seconds: float, mode: str) -> dict[str, Any]:
    import orjson

    from fraud_pipeline.ingest.producer import Producer
    from fraud_pipeline.provision import provision
    from fraud_pipeline.streams import open_stream
    from fraud_pipeline.workers.stack import Stack

    provision(settings)
    stack = Stack(settings, mode=mode, delivery_buffer_seconds=1.0)
    stack.start()
    if not stack.wait_ready():
        raise SystemExit("the stack's workers did not start")
    producer = Producer(open_stream(settings), settings.untagged_stream, linger_s=0.02)
    total = int(load * seconds)
    tick_s = 0.01
    started = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - started) * load) + 1)
        while sent < due:
            post = posts[sent % len(posts)]
            post.uri = f"{post.uri.rsplit('/', 1)[0]}/b{load}x{sent}"
            post.ingested_at_us = time.time_ns() // 1000
            producer.put_post(post)
            sent += 1
        time.sleep(tick_s)
    offered_s = time.monotonic() - started
    producer.close()
    drained = stack.wait_drained(timeout=300)
    drain_s = time.monotonic() - started - offered_s
    stack.stop()
    poller, delivery = stack.poller_report(), stack.delivery_report()
    stream = open_stream(settings)
    arrival = {
        orjson.loads(r.data)["uri"]: r.approximate_arrival_ms
        for r in _read_all(stream, settings.untagged_stream)
    }
    tagged = [
        (orjson.loads(r.data), r.approximate_arrival_ms) for r in _read_all(stream, settings.tagged_stream)
    ]
    end_to_end = [(t["scored_at_us"] - t["ingested_at_us"]) / 1000 for t, _ in tagged]
    to_stream = [arrival[t["uri"]] - t["ingested_at_us"] / 1000 for t, _ in tagged if t["uri"] in arrival]
    to_scored = [t["scored_at_us"] / 1000 - arrival[t["uri"]] for t, _ in tagged if t["uri"] in arrival]
    first_put = min(t["ingested_at_us"] for t, _ in tagged)
    last_scored = max(t["scored_at_us"] for t, _ in tagged)
    result = {
        "offered_posts_per_s": load,
        "posts": total,
        "tagged": len(tagged),
        "lake_rows": delivery.rows_written,
        "drained": drained,
        "sustained_posts_per_s": round(len(tagged) / ((last_scored - first_put) / 1e6)),
        "offer_s": round(offered_s, 2),
        "drain_after_offer_s": round(drain_s, 2),
        "ingest_to_tagged": _summary(end_to_end),
        "where_time_goes_p50_ms": {
            "ingest_to_untagged_stream": round(statistics.median(to_stream), 1),
            "untagged_stream_to_scored": round(statistics.median(to_scored), 1),
        },
        "scored": poller.scored,
    }
    stack.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", default="50,500,5000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backend", choices=["local", "aws"], default="local")
    parser.add_argument("--workers", choices=["threads", "processes"], default="processes")
    parser.add_argument("--capture", type=Path, default=ROOT / "data" / "replay" / "capture.jsonl.zst")
    args = parser.parse_args()

    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.replay import read_lines
    from fraud_pipeline.settings import load_settings

    posts = [
        r.post for r in map(normalize, read_lines(args.capture)) if r.post is not None and r.kind == "post"
    ]
    server = None
    endpoint = ""
    if args.backend == "aws":
        import os
        import socket

        from moto.server import ThreadedMotoServer

        for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
            os.environ.setdefault(key, value)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
    results = []
    try:
        for index, load in enumerate(int(x) for x in args.loads.split(",")):
            with tempfile.TemporaryDirectory() as home:
                settings = load_settings(
                    environ={},
                    backend=args.backend,
                    home=Path(home),
                    env=f"bench{index}",
                    aws_endpoint_url=endpoint,
                )
                results.append(run_load(settings, posts, load, args.seconds, args.workers))
                print(json.dumps(results[-1]), flush=True, file=__import__("sys").stderr)
    finally:
        if server is not None:
            server.stop()
    print(
        json.dumps(
            {
                "benchmark": "embedded_stack",
                "backend": args.backend,
                "seconds_per_load": args.seconds,
                "threads": "ingest producer + poller/handler + delivery in one process",
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
