"""Test helpers for the scoring path: posts, Lambda events, and scorers with known behaviour."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from fraud_pipeline.records import Post
from fraud_pipeline.scoring.base import ModelUnavailable


class KeywordScorer:
    """A transparent stand-in model: 0.95 when the text says 'free', else 0.05.

    Used where a test checks the handler's plumbing, not the model's quality.
    """

    version = "keyword-test"
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0

    def score(self, texts: Sequence[str]) -> list[float]:
        self.calls += 1
        return [0.95 if "free" in t.lower() else 0.05 for t in texts]


class DownScorer:
    """A model endpoint that is down."""

    version = "down"
    threshold = 0.5

    def score(self, texts: Sequence[str]) -> list[float]:
        raise ModelUnavailable("connection refused")


def make_post(
    index: int,
    text: str = "hello world",
    *,
    did: str | None = None,
    operation: str = "create",
    time_us: int = 1_764_000_000_000_000,
    **extra: Any,
) -> Post:
    did = did or f"did:plc:test{index:020d}"
    rkey = f"3k{index:011d}"
    return Post(
        uri=f"at://{did}/app.bsky.feed.post/{rkey}",
        did=did,
        rkey=rkey,
        operation=operation,  # type: ignore[arg-type]
        time_us=time_us + index * 1000,
        text=text,
        ingested_at_us=time_us + index * 1000,
        **extra,
    )


def kinesis_event(payloads: list[bytes], start_sequence: int = 1) -> dict[str, Any]:
    """A Lambda-format Kinesis event carrying the payloads as records."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"pk{i}",
                    "sequenceNumber": f"{start_sequence + i:021d}",
                    "data": base64.b64encode(payload).decode(),
                    "approximateArrivalTimestamp": 1764000000.0,
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{start_sequence + i:021d}",
            }
            for i, payload in enumerate(payloads)
        ]
    }


class RecordingMetrics:
    """A metrics sink that keeps what was put, to assert on the handler's metrics."""

    def __init__(self) -> None:
        self.data: list[Any] = []

    def put(self, namespace: str, data: list[Any]) -> None:
        self.data.extend((namespace, d) for d in data)

    def total(self, name: str) -> float:
        return sum(d.value for _, d in self.data if d.name == name)

    def query(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def close(self) -> None:
        pass
