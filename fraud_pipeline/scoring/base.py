"""What the scoring handler needs from a model: a batch of texts in, probabilities out.

A scorer may live in-process, behind the local server on the SageMaker container contract,
or behind a SageMaker endpoint; the handler cannot tell and must not care. When a remote
model cannot answer (down, timeout, bad reply) the scorer raises `ModelUnavailable`, and the
handler still tags the post, with that score marked unavailable and the reason kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class ModelUnavailable(RuntimeError):
    """The model could not score this batch; `reason` says why (kept in the tagged record)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class TextScorer(Protocol):
    """Fraud probability (calibrated, 0..1) for each text, in order."""

    version: str  # artifact version, kept on every tagged record
    threshold: float  # operating threshold chosen on validation data

    def score(self, texts: Sequence[str]) -> list[float]: ...
