"""How the scorer reaches the text model: in-process, the local server, or SageMaker.

`open_text_scorer(settings)` picks by `settings.text_model_mode`. All three satisfy the
`TextScorer` protocol. The remote ones send batches of at most `batch_size` texts, wait at
most `settings.model_timeout_s` per call, retry a bounded number of times with a short
backoff, and raise `ModelUnavailable(reason)` when the model still cannot answer, so the
handler can tag the post with the text score marked unavailable.

Remote models report their version and threshold in the SageMaker custom-attributes header
(`version=...;threshold=...`), which both the local server and the inference handler set.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from fraud_pipeline.scoring.base import ModelUnavailable, TextScorer
from fraud_pipeline.scoring.text_model import ArtifactError, LinearTextModel, default_artifact_path
from fraud_pipeline.settings import Settings

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
DEFAULT_BATCH_SIZE = 256
DEFAULT_RETRIES = 2  # attempts = 1 + retries
BACKOFF_S = 0.05


class InProcessTextScorer:
    """The artifact loaded into this process (the default: no network, no failure modes)."""

    def __init__(self, model: LinearTextModel) -> None:
        self.model = model
        self.version = model.version
        self.threshold = model.threshold

    @classmethod
    def from_path(cls, path: str = "") -> InProcessTextScorer:
        return cls(LinearTextModel.load(default_artifact_path(path)))

    def score(self, texts: Sequence[str]) -> list[float]:
        return self.model.score(texts)


def parse_custom_attributes(value: str | None) -> dict[str, str]:
    """`version=abc;threshold=0.4` -> {"version": "abc", "threshold": "0.4"}."""
    out: dict[str, str] = {}
    for part in (value or "").split(";"):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
    return out


def parse_predictions(body: bytes, expected: int) -> list[float]:
    """Scores from a `[{"score": ..., "is_fraud": ...}, ...]` reply; anything else is unavailable."""
    try:
        rows = json.loads(body)
        scores = [float(row["score"]) for row in rows]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        snippet = body[:80].decode("utf-8", "replace")
        raise ModelUnavailable(f"bad reply from model ({exc.__class__.__name__}): {snippet!r}") from exc
    if len(scores) != expected:
        raise ModelUnavailable(f"model returned {len(scores)} scores for {expected} texts")
    if any(not 0.0 <= s <= 1.0 for s in scores):
        raise ModelUnavailable("model returned a score outside 0..1")
    return scores


class _RemoteTextScorer:
    """Batching and bounded retries shared by the HTTP and SageMaker clients."""

    def __init__(
        self,
        version: str,
        threshold: float,
        timeout_s: float,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retries: int = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.version = version
        self.threshold = threshold
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.retries = max(0, retries)
        self._sleep = sleep

    def score(self, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        for begin in range(0, len(texts), self.batch_size):
            batch = [
                t if isinstance(t, str) else ("" if t is None else str(t))
                for t in texts[begin : begin + self.batch_size]
            ]
            scores.extend(self._with_retries(batch))
        return scores

    def _with_retries(self, batch: list[str]) -> list[float]:
        body = json.dumps({"instances": batch}).encode()
        last: ModelUnavailable | None = None
        for attempt in range(self.retries + 1):
            try:
                reply, attributes = self._invoke(body)
                scores = parse_predictions(reply, len(batch))
            except ModelUnavailable as exc:
                last = exc
                if attempt < self.retries:
                    self._sleep(BACKOFF_S * (2**attempt))
                continue
            self._note_attributes(attributes)
            return scores
        assert last is not None
        raise ModelUnavailable(f"{last.reason} (after {self.retries + 1} attempts)")

    def _note_attributes(self, attributes: str | None) -> None:
        parsed = parse_custom_attributes(attributes)
        if parsed.get("version"):
            self.version = parsed["version"]
        try:
            if "threshold" in parsed:
                self.threshold = float(parsed["threshold"])
        except ValueError:
            pass

    def _invoke(self, body: bytes) -> tuple[bytes, str | None]:
        raise NotImplementedError


class HttpTextScorer(_RemoteTextScorer):
    """The local model server (`fraud-pipeline serve`) over the SageMaker container contract."""

    def __init__(self, url: str, timeout_s: float, threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(version=f"http:{url}", threshold=threshold, timeout_s=timeout_s, **kwargs)
        self.url = url.rstrip("/")

    def _invoke(self, body: bytes) -> tuple[bytes, str | None]:
        request = urllib.request.Request(
            f"{self.url}/invocations",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read(), response.headers.get(CUSTOM_ATTRIBUTES_HEADER)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            raise ModelUnavailable(f"model server {self.url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelUnavailable(f"model server {self.url} unreachable: {reason}") from exc

    def refresh(self) -> None:
        """Ask `/ping` for the served model's version and threshold (optional, best effort)."""
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=self.timeout_s) as response:
                self._note_attributes(response.headers.get(CUSTOM_ATTRIBUTES_HEADER))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ModelUnavailable(
                f"model server {self.url} unreachable: {getattr(exc, 'reason', exc)}"
            ) from exc


class SageMakerTextScorer(_RemoteTextScorer):
    """A SageMaker real-time endpoint through `sagemaker-runtime invoke_endpoint`."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        timeout_s: float,
        endpoint_url: str | None = None,
        threshold: float = 0.5,
        client: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(version=f"sagemaker:{endpoint}", threshold=threshold, timeout_s=timeout_s, **kwargs)
        self.endpoint = endpoint
        if client is None:
            from fraud_pipeline.aws import aws_client

            # Our loop does the retrying, so botocore makes one attempt per call.
            client = aws_client(
                "sagemaker-runtime", region, endpoint_url, max_attempts=1, timeout_s=timeout_s
            )
        self.client = client

    def _invoke(self, body: bytes) -> tuple[bytes, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint,
                Body=body,
                ContentType="application/json",
                Accept="application/json",
            )
            return response["Body"].read(), response.get("CustomAttributes")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ModelUnavailable(
                f"endpoint {self.endpoint}: {error.get('Code', 'error')}: {error.get('Message', '')}"
            ) from exc
        except BotoCoreError as exc:
            raise ModelUnavailable(f"endpoint {self.endpoint} unreachable: {exc}") from exc


def open_text_scorer(settings: Settings) -> TextScorer:
    """The text scorer the settings ask for (`text_model_mode`)."""
    mode = settings.text_model_mode
    if mode == "inprocess":
        try:
            return InProcessTextScorer.from_path(settings.text_model_path)
        except ArtifactError as exc:
            raise ModelUnavailable(str(exc)) from exc
    if mode == "http":
        return HttpTextScorer(settings.text_model_url, timeout_s=settings.model_timeout_s)
    if mode == "sagemaker":
        return SageMakerTextScorer(
            settings.text_endpoint,
            region=settings.aws_region,
            timeout_s=settings.model_timeout_s,
            endpoint_url=settings.endpoint_url,
        )
    raise ValueError(f"unknown text_model_mode {mode!r}")
