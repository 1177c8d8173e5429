"""The labeler's targets: subscriber fan-out, tagged-record-to-frame latency, replay speed.

Prints one JSON object with three parts (medians over `--runs`):
- `fanout`: 10 subscribers on loopback (websocket clients in their own process) receive
  labels written live to the store as fast as it takes them; labels/s per subscriber
  (target >= 2,000 each).
- `latency`: verdicts put on the tagged stream at 500/s; the labels worker (its own
  process) signs and stores them, the service streams them; p50/p99 from put to frame
  received (target p99 < 1 s).
- `replay`: one subscriber replays N stored labels from cursor 0 (N = 1,000,000 by
  default); labels/s (target >= 20,000).

The service runs as `fraud-pipeline labeler` in a child process, as in production. The
fan-out and replay labels carry a placeholder signature (signing is the worker's cost, and
the latency part measures it); the latency part's labels are really signed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.store import SqliteLabelStore
from fraud_pipeline.settings import Settings, load_settings
from fraud_pipeline.streams import PutEntry, open_stream

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBE = "/xrpc/com.atproto.label.subscribeLabels"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_service(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "fraud_pipeline.cli", "labeler", "--port", str(port), "--home", str(home)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/xrpc/_health", timeout=5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the labeler service did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


def _fill(store: SqliteLabelStore, count: int, start: int = 0, batch: int = 10_000) -> None:
    template = Label("did:web:localhost", "", "scam", "2026-11-30T07:00:00.000Z", "bafyreiaaa", sig=bytes(64))
    for first in range(start, start + count, batch):
        store.append(
            [
                replace(template, uri=f"at://did:plc:bench{i % 997}/app.bsky.feed.post/{i:010d}")
                for i in range(first, min(first + batch, start + count))
            ]
        )


# -- subscribers (in a child process: the service must not share their GIL) ------------------
# A lean websocket client that only counts binary messages, so the figure is the service's,
# not the cost of decoding in Python (the tests use the atproto client for correctness).
async def _subscribe(port: int, cursor: int | None, count: int, ready: Any) -> tuple[float, float]:
    query = "" if cursor is None else f"?cursor={cursor}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(
        (
            f"GET {SUBSCRIBE}{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"handshake refused: {head[:80]!r}")
    ready()
    buffer = b""
    received = 0
    first = 0.0
    while received < count:
        chunk = await reader.read(1 << 20)
        if not chunk:
            raise SystemExit(f"connection closed after {received} of {count}")
        if received == 0 and first == 0.0:
            first = time.perf_counter()
        buffer += chunk
        offset = 0
        while True:
            if len(buffer) - offset < 2:
                break
            length = buffer[offset + 1] & 0x7F
            header = 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                header = 4
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                header = 10
            if len(buffer) - offset < header + length:
                break
            if buffer[offset] & 0x0F == 2:
                received += 1
            offset += header + length
        buffer = buffer[offset:]
    writer.close()
    return first, time.perf_counter()


def _subscribers_process(port: int, clients: int, cursor: int | None, count: int, conn: Any) -> None:
    async def run() -> list[tuple[float, float]]:
        connected = 0

        def ready() -> None:
            nonlocal connected
            connected += 1
            if connected == clients:
                conn.send("ready")

        return await asyncio.gather(*(_subscribe(port, cursor, count, ready) for _ in range(clients)))

    spans = asyncio.run(run())
    conn.send([count / (end - start) if end > start else 0.0 for start, end in spans])


def fanout(home: Path, clients: int, labels: int) -> list[float]:
    store = SqliteLabelStore(home / "labels.sqlite")
    port = _free_port()
    service = _start_service(home, port)
    try:
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=_subscribers_process, args=(port, clients, None, labels, child)
        )
        process.start()
        if not parent.poll(60) or parent.recv() != "ready":
            raise SystemExit("subscribers did not connect")
        time.sleep(0.5)  # let the service register them as live
        _fill(store, labels, start=store.head(), batch=2_000)
        if not parent.poll(600):
            raise SystemExit("subscribers did not finish")
        rates: list[float] = parent.recv()
        process.join(30)
        return rates
    finally:
        _stop(service)
        store.close()


def replay(home: Path, labels: int) -> float:
    store = SqliteLabelStore(home / "labels.sqlite")
    if store.head() < labels:
        _fill(store, labels - store.head(), start=store.head())
    port = _free_port()
    service = _start_service(home, port)
    try:
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=_subscribers_process, args=(port, 1, 0, labels, child)
        )
        process.start()
        parent.recv()  # ready
        if not parent.poll(900):
            raise SystemExit("replay did not finish")
        (rate,) = parent.recv()
        process.join(30)
        return float(rate)
    finally:
        _stop(service)
        store.close()


# -- latency: tagged stream -> labels worker -> store -> service -> frame ----------------------
def _labels_worker_process(settings: Settings, stop: Any, ready: Any) -> None:
    from fraud_pipeline.labeler.worker import build_labels_worker

    worker = build_labels_worker(settings)
    worker.lake_every_s = 3600.0
    worker.poll_once()
    ready.set()
    while not stop.is_set():
        if worker.poll_once() == 0:
            stop.wait(0.01)


def latency(home: Path, rate: float, seconds: float) -> list[float]:
    settings = load_settings(environ={}, backend="local", home=home)
    stream = open_stream(settings)
    stream.create_stream(settings.tagged_stream, 2)
    context = multiprocessing.get_context("spawn")
    stop, worker_ready = context.Event(), context.Event()
    worker = context.Process(target=_labels_worker_process, args=(settings, stop, worker_ready))
    worker.start()
    if not worker_ready.wait(120):
        raise SystemExit("the labels worker did not start")
    port = _free_port()
    service = _start_service(home, port)
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    total = int(rate * seconds)

    async def subscribe() -> None:
        from atproto_core.cbor import decode_dag_multi

        async with connect(f"ws://127.0.0.1:{port}{SUBSCRIBE}", max_queue=1024) as ws:
            ready.set()
            async for message in ws:
                _header, body = decode_dag_multi(message)  # type: ignore[arg-type]
                received[body["labels"][0]["uri"]] = time.perf_counter()
                if len(received) >= total:
                    return

    ready = threading.Event()
    client = threading.Thread(target=lambda: asyncio.run(subscribe()), daemon=True)
    client.start()
    ready.wait(30)
    time.sleep(0.5)  # the service has registered the subscriber as live
    try:
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            uri = f"at://did:plc:lat{i % 50}/app.bsky.feed.post/{i:010d}"
            row = {
                "uri": uri,
                "cid": "bafyreiaaa",
                "operation": "create",
                "action": "label",
                "labels": ["crypto-scam"],
                "did": f"did:plc:lat{i % 50}",
            }
            sent[uri] = time.perf_counter()
            result = stream.put_records(settings.tagged_stream, [PutEntry(row["did"], orjson.dumps(row))])
            if not result[0].ok:
                raise SystemExit("put failed")
        client.join(60)
    finally:
        stop.set()
        worker.join(30)
        _stop(service)
        stream.close()
    missing = total - len(received)
    if missing:
        raise SystemExit(f"{missing} labels never arrived")
    return [received[uri] - sent[uri] for uri in sent]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--fanout-labels", type=int, default=40_000)
    parser.add_argument("--replay-labels", type=int, default=1_000_000)
    parser.add_argument("--latency-rate", type=float, default=500.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["fanout", "latency", "replay"], default=None)
    args = parser.parse_args()
    out: dict[str, Any] = {"benchmark": "labeler", "runs": args.runs, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "fanout"):
            per_run = [
                fanout(Path(tmp) / f"fanout-{r}", args.subscribers, args.fanout_labels)
                for r in range(args.runs)
            ]
            out["fanout"] = {
                "subscribers": args.subscribers,
                "labels": args.fanout_labels,
                "min_subscriber_labels_per_s_median": round(statistics.median(min(r) for r in per_run)),
                "subscriber_labels_per_s_median": round(
                    statistics.median(statistics.median(r) for r in per_run)
                ),
                "min_subscriber_labels_per_s_all": [round(min(r)) for r in per_run],
                "target_labels_per_s": 2000,
            }
        if args.only in (None, "latency"):
            runs = [
                latency(Path(tmp) / f"latency-{r}", args.latency_rate, args.latency_seconds)
                for r in range(args.runs)
            ]
            out["latency"] = {
                "rate_per_s": args.latency_rate,
                "labels_per_run": int(args.latency_rate * args.latency_seconds),
                "p50_s_median": round(statistics.median(_percentile(r, 50) for r in runs), 4),
                "p99_s_median": round(statistics.median(_percentile(r, 99) for r in runs), 4),
                "p99_s_all": [round(_percentile(r, 99), 4) for r in runs],
                "target_p99_s": 1.0,
            }
        if args.only in (None, "replay"):
            home = Path(tmp) / "replay"
            home.mkdir(parents=True, exist_ok=True)
            rates = [replay(home, args.replay_labels) for _ in range(args.runs)]
            out["replay"] = {
                "labels": args.replay_labels,
                "labels_per_s_median": round(statistics.median(rates)),
                "labels_per_s_all": [round(r) for r in rates],
                "target_labels_per_s": 20000,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
