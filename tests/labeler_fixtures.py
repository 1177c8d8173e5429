"""Verdicts on the tagged stream and a labels worker over them, for the labeler tests."""

from __future__ import annotations

from typing import Any

import orjson

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
