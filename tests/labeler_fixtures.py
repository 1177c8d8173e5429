"""Verdicts on the tagged stream and a labels worker over them, for the labeler tests."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson

from fraud_pipeline.labeler.labels import Label
from fraud_pipeline.labeler.server import LabelerService, ServiceLimits
from fraud_pipeline.labeler.store import LabelStore
from fraud_pipeline.labeler.worker import LabelsWorker, build_labels_worker
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams import PutEntry, open_stream


def post_uri(i: int, did: str = "did:plc:author") -> str:
    return f"at://{did}/app.bsky.feed.post/{i:08d}"


def verdict(
    i: int,
    action: str = "label",
    labels: list[str] | None = None,
    cid: str = "bafyreiaaa",
    operation: str = "create",
    did: str = "did:plc:author",
) -> dict[str, Any]:
    """The fields of a tagged record the labeler reads (others ride along, as on the stream)."""
    return {
        "uri": post_uri(i, did),
        "did": did,
        "cid": cid,
        "operation": operation,
        "text": f"post {i}",
        "is_fraud": action != "none",
        "action": action,
        "labels": ["crypto-scam"] if labels is None else labels,
        "policy_version": "test",
    }


def put_tagged(settings: Settings, rows: list[dict[str, Any] | bytes], shards: int = 2) -> None:
    stream = open_stream(settings)
    stream.create_stream(settings.tagged_stream, shards)
    for start in range(0, len(rows), 500):
        entries = []
        for row in rows[start : start + 500]:
            data = row if isinstance(row, bytes) else orjson.dumps(row)
            key = row.get("did", "x") if isinstance(row, dict) else "x"
            entries.append(PutEntry(str(key), data))
        assert all(r.ok for r in stream.put_records(settings.tagged_stream, entries))
    stream.close()


def drain(worker: LabelsWorker) -> None:
    while worker.poll_once():
        pass


def worker_for(settings: Settings) -> LabelsWorker:
    open_stream(settings).create_stream(settings.tagged_stream, 2)
    return build_labels_worker(settings)


@contextmanager
def running_service(
    store: LabelStore, multikey: str, limits: ServiceLimits | None = None, did: str = "did:web:localhost"
) -> Iterator[tuple[LabelerService, int]]:
    """The labeler service on a free 127.0.0.1 port, in a thread with its own event loop."""
    loop = asyncio.new_event_loop()
    service = LabelerService(store, did, "http://127.0.0.1", multikey, limits)
    ports: list[int] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ports.append(loop.run_until_complete(service.start("127.0.0.1", 0)))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="labeler-service", daemon=True)
    thread.start()
    assert started.wait(20), "the labeler service did not start"
    try:
        yield service, ports[0]
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()


def http_get(port: int, path: str) -> tuple[int, Any]:
    """GET a JSON document from the service: (status, decoded body)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def fill_store(store: LabelStore, signer: Any | None, count: int, start: int = 0) -> None:
    """`count` labels straight into the store, signed by `signer`; with no signer they carry a
    placeholder signature (flow-control tests need many frames fast, not valid signatures)."""
    for first in range(start, start + count, 5000):
        batch = []
        for i in range(first, min(first + 5000, start + count)):
            label = Label("did:web:localhost", post_uri(i), "scam", "2026-11-30T07:00:00.000Z", "bafyreiaaa")
            batch.append(label.signed(signer) if signer is not None else replace(label, sig=bytes(64)))
        store.append(batch)
