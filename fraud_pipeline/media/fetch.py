"""Fetch image blobs from the CDN without trusting the CDN, the bytes or the time they take.

A post names its images by blob CID; the CDN serves them at a URL built from the author's
DID and the CID (`blob_url`): `<cdn>/img/feed_thumbnail/plain/<did>/<cid>@jpeg` for images
(the thumbnail is enough to read: OCR shrinks to the policy's `ocr_max_side` anyway) and
`<video cdn>/watch/<did>/<cid>/thumbnail.jpg` for a video's poster frame. Both base URLs are
settings, so a local blob server can stand in for the CDN.

What a fetch refuses, each as a `FetchFailed` with a short `code` (a metric dimension) and
a reason for the record: a request to any host but the CDN's (a redirect elsewhere is not
followed: nothing leaves the CDN host), more than `max_redirects` same-host redirects (a
loop), a status other than 200, a content type that is not an image, a body over the byte
cap (the body is streamed and the read stops at the cap, whatever Content-Length claimed),
bytes whose magic is not an image format, and a fetch that has not finished within
`timeout_s` in all (a server trickling bytes is cut off, not waited for). The pixels are
not decoded here: the scorer's decode guard (`decode.py`) does that with its own limits.

urllib3 is the client: a thread-safe connection pool kept across the fetches of a batch and
of the batches after it, streamed bodies, no retries, redirects left to us, and no proxy taken
from the environment. It costs about half the CPU of httpx per fetch (0.8 against 1.7 ms for
an image of the benchmark's mix), which is a few per cent of reading a photo.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from fraud_pipeline.media.decode import sniff_format

IMAGE_PATH = "/img/feed_thumbnail/plain/{did}/{cid}@jpeg"
VIDEO_THUMBNAIL_PATH = "/watch/{did}/{cid}/thumbnail.jpg"
IMAGE_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
CHUNK_BYTES = 256 * 1024
# Failures a later try may not repeat: not cached, so the image is fetched again next time.
TRANSIENT_CODES = frozenset({"timeout", "network", "http_5xx", "http_429", "budget", "backlog", "endpoint"})


# What a post may name: a CIDv1 in base32 (Bluesky's `bafkrei...`) or a CIDv0 (`Qm...`), and a
# DID. Anything else (a path, a query, another host) never reaches a URL, a key or the bucket.
_CID = re.compile(r"^(?:b[a-z2-7]{7,200}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")
_DID = re.compile(r"^did:[a-z]{1,16}:[A-Za-z0-9._:%-]{1,200}$")


def blob_ref_problem(ref: BlobRef) -> str | None:
    """Why the ref cannot be fetched (a malformed CID or DID, an unknown kind), or None."""
    if not _CID.match(ref.cid):
        return f"malformed blob CID {ref.cid[:80]!r}"
    if not _DID.match(ref.did) or ".." in ref.did:
        return f"malformed DID {ref.did[:80]!r}"
    if ref.kind not in ("image", "video"):
        return f"unknown media kind {ref.kind[:20]!r}"
    return None


class FetchFailed(Exception):
    """The blob could not be fetched as an image; `code` names the kind, `reason` the detail."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BlobRef:
    """One media item of a post: whose blob, which CID, an image or a video (its thumbnail)."""

    did: str
    cid: str
    kind: str  # "image" | "video"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout_s: float  # the whole fetch, redirects and body included
    max_redirects: int = 2  # same-host hops followed; one more is a loop


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    return parts.scheme, (parts.hostname or "").lower(), port


class BlobFetcher:
    """Fetches blobs from one image CDN and one video CDN, with `limits`, over pooled connections."""

    def __init__(
        self,
        image_base_url: str,
        video_base_url: str,
        limits: FetchLimits,
        max_connections: int = 8,
    ) -> None:
        self.image_base_url = image_base_url.rstrip("/")
        self.video_base_url = video_base_url.rstrip("/")
        self.limits = limits
        self.allowed = {_origin(self.image_base_url), _origin(self.video_base_url)}
        # No proxy from the environment (urllib3 reads none): the request goes to the CDN or nowhere.
        # TLS verified against Mozilla's roots from certifi, as httpx did (the same on every image).
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=max_connections,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            headers={"Accept": ", ".join(sorted(IMAGE_CONTENT_TYPES)), "User-Agent": "fraud-pipeline-media"},
        )

    def url_of(self, ref: BlobRef) -> str:
        if ref.kind == "video":
            return self.video_base_url + VIDEO_THUMBNAIL_PATH.format(did=ref.did, cid=ref.cid)
        return self.image_base_url + IMAGE_PATH.format(did=ref.did, cid=ref.cid)

    def fetch(self, ref: BlobRef, max_bytes: int) -> bytes:
        """The blob's bytes (at most `max_bytes`: the policy's cap), or FetchFailed saying why not."""
        problem = blob_ref_problem(ref)
        if problem is not None:
            raise FetchFailed("bad_ref", problem)
        deadline = time.monotonic() + self.limits.timeout_s
        url = self.url_of(ref)
        for _hop in range(self.limits.max_redirects + 1):
            if _origin(url) not in self.allowed:
                raise FetchFailed(
                    "off_cdn", f"refused to request {urlsplit(url).hostname!r}: not the CDN host"
                )
            try:
                result = self._get(url, deadline, max_bytes)
            except Urllib3Timeout as exc:
                raise FetchFailed("timeout", f"no complete reply within {self.limits.timeout_s:g} s") from exc
            except (HTTPError, OSError) as exc:
                raise FetchFailed("network", f"{exc.__class__.__name__}: {exc}"[:300]) from exc
            if isinstance(result, bytes):
                return result
            url = result
        raise FetchFailed("redirect_loop", f"more than {self.limits.max_redirects} redirects")

    def _get(self, url: str, deadline: float, max_bytes: int) -> bytes | str:
        """The body, or the next URL when the reply is a redirect."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlinePassed("deadline passed")
        reply = self.pool.request(
            "GET",
            url,
            preload_content=False,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(connect=remaining, read=remaining),
        )
        complete = False
        try:
            if reply.status in _REDIRECTS:
                location = reply.headers.get("location")
                if not location:
                    raise FetchFailed("bad_redirect", f"HTTP {reply.status} without a Location")
                reply.drain_conn()
                complete = True
                return urljoin(url, location)
            if reply.status != 200:
                status = reply.status
                code = "http_5xx" if status >= 500 else "http_429" if status == 429 else f"http_{status}"
                raise FetchFailed(code, f"the CDN answered HTTP {status}")
            content_type = reply.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in IMAGE_CONTENT_TYPES:
                raise FetchFailed(
                    "content_type", f"content type {content_type or 'missing'!r} is not an image"
                )
            declared = reply.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed("too_large", f"{declared} bytes announced, over the {max_bytes} cap")
            body = bytearray()
            while chunk := reply.read1(CHUNK_BYTES):  # one socket read each: a trickle meets the deadline
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed("too_large", f"body over the {max_bytes}-byte cap")
                if time.monotonic() > deadline:
                    raise _DeadlinePassed("deadline passed while reading the body")
            complete = True
        finally:
            if not complete:  # a connection left mid-reply is not reused
                reply.close()
            reply.release_conn()
        data = bytes(body)
        if sniff_format(data) is None:
            raise FetchFailed(
                "not_image", f"{len(data)} bytes with no image magic (served as {content_type})"
            )
        return data

    def close(self) -> None:
        self.pool.clear()


class _DeadlinePassed(Urllib3Timeout):
    """The whole fetch's time (`FetchLimits.timeout_s`) ran out between two reads."""


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
