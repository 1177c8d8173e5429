"""The image scorer behind the SageMaker container contract: the media endpoint.

`POST /invocations` takes the image itself (`application/x-image`, or `image/jpeg|png|gif|
webp`), or JSON naming it: `{"s3_uri": "s3://<the lake bucket>/media/<cid>"}` (a copy the
stream made; only the deployment's own bucket is read) or `{"cid": ..., "did": ...}` (fetched
from the CDN with the stream's guards, `fetch.py`). The reply is one JSON object, the verdict
`fraud-pipeline media score --json` prints: `fraud_media_likelihood` (null when the image could
not be read, with `unavailable` saying why), `is_fraud`, `reasons`, `ocr_text`, `qr_urls`,
`ocr_skipped`. `GET /ping` answers the policy version the server judges with (the deployment's
policy, hot-reloaded as the scoring runtime's is). The bounded
server (timeouts, connection cap, body limit) is the text model's (`serving/server.py`).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pyarrow.fs as pafs

from fraud_pipeline.media.fetch import BlobFetcher, BlobRef, FetchFailed
from fraud_pipeline.media.scorer import ImageScorer, MediaVerdict
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.policy.runtime import PolicyHolder
from fraud_pipeline.scoring.base import TextScorer
from fraud_pipeline.serving.inference import JSON, InvalidInput, UnsupportedMediaType
from fraud_pipeline.serving.server import ContractHTTPServer

IMAGE_TYPES = frozenset({"application/x-image", "image/jpeg", "image/png", "image/gif", "image/webp"})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _unavailable(reason: str) -> MediaVerdict:
    return MediaVerdict(None, False, [f"media unavailable: {reason}"], unavailable=reason)


class MediaHTTPServer(ContractHTTPServer):
    """The image scorer of the current policy and one text model behind the container contract."""

    def __init__(
        self,
        policy: PolicyHolder,
        text_model: TextScorer,
        *,
        objects: ObjectStore | None = None,
        fetcher: BlobFetcher | None = None,
        host: str = "127.0.0.1",
        port: int = 8081,
        **kwargs: Any,
    ) -> None:
        self.policy = policy
        self.text_model = text_model
        self._scorer: tuple[str, ImageScorer] | None = None
        self._scorer_lock = threading.Lock()
        self.scorer  # noqa: B018 - a policy without a media section fails now, not at the first call
        self.objects = objects
        self.fetcher = fetcher
        super().__init__(host, port, **kwargs)

    @property
    def scorer(self) -> ImageScorer:
        """The image scorer of the policy version in force (rebuilt when a new one is pushed)."""
        active = self.policy.current()
        with self._scorer_lock:
            if self._scorer is None or self._scorer[0] != active.version:
                self._scorer = (active.version, ImageScorer(active.policy, self.text_model))
            return self._scorer[1]

    @property
    def policy_version(self) -> str:
        return self.policy.current().version

    def ping_body(self) -> dict[str, Any]:
        return {"status": "healthy", "version": self.version, "threshold": self.scorer.spec.flag_at}

    @property
    def version(self) -> str:
        return f"image-reader@{self.policy_version}"

    def attributes(self) -> str:
        return f"version={self.version};threshold={self.scorer.spec.flag_at!r}"

    def invoke(self, body: bytes, content_type: str | None, accept: str) -> bytes:
        if _media_type(accept) not in (JSON, "*/*"):
            raise UnsupportedMediaType(f"accept type {_media_type(accept)!r} is not supported; accept {JSON}")
        media = _media_type(content_type)
        if media in IMAGE_TYPES:
            verdict = self.scorer.score_bytes(body)
        elif media == JSON:
            verdict = self._named(body)
        else:
            raise UnsupportedMediaType(
                f"content type {media or 'missing'!r} is not supported; send application/x-image or {JSON}"
            )
        reply = verdict.to_json("")
        reply.pop("path")
        return json.dumps(reply).encode()

    def _named(self, body: bytes) -> MediaVerdict:
        """The verdict on an image named by an S3 URI or by CID and DID."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidInput(f"body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise InvalidInput('expected {"s3_uri": ...} or {"cid": ..., "did": ...}')
        alt_text = payload.get("alt_text")
        alt = alt_text if isinstance(alt_text, str) else ""
        if isinstance(payload.get("s3_uri"), str):
            return self._from_bucket(payload["s3_uri"], alt)
        cid, did = payload.get("cid"), payload.get("did")
        if isinstance(cid, str) and isinstance(did, str) and cid and did.startswith("did:"):
            if self.fetcher is None:
                raise InvalidInput("this server has no CDN configured; send the image bytes")
            kind = payload.get("kind") if payload.get("kind") in ("image", "video") else "image"
            try:
                data = self.fetcher.fetch(BlobRef(did, cid, str(kind)), self.scorer.spec.max_bytes)
            except FetchFailed as exc:
                return _unavailable(f"{exc.code}: {exc.reason}")
            return self.scorer.score_bytes(data, alt)
        raise InvalidInput('expected {"s3_uri": ...} or {"cid": ..., "did": ...}')

    def _from_bucket(self, uri: str, alt: str) -> MediaVerdict:
        objects = self.objects
        if objects is None or not uri.startswith(objects.uri_prefix + "/"):
            where = objects.uri_prefix if objects is not None else "no bucket"
            raise InvalidInput(f"s3_uri must be in this deployment's bucket ({where})")
        key = uri[len(objects.uri_prefix) + 1 :]
        if not key or ".." in key.split("/"):
            raise InvalidInput(f"bad object key in {uri!r}")
        try:
            info = objects.fs.get_file_info(objects.path(key))
            if info.type != pafs.FileType.File:
                return _unavailable(f"no object {uri}")
            if (info.size or 0) > self.scorer.spec.max_bytes:
                return _unavailable(
                    f"object of {info.size} bytes exceeds the {self.scorer.spec.max_bytes}-byte cap"
                )
            data = objects.get_bytes(key)
        except (ObjectStoreError, OSError) as exc:
            return _unavailable(f"cannot read {uri}: {exc}")
        return self.scorer.score_bytes(data, alt)
