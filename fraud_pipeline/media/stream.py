"""The images of a scoring batch, read within a time budget: fetch, copy, score, cache by CID.

For every image (and video thumbnail) of the batch's posts, once per blob CID: the verdict
cached in the state port (shared by every shard; a campaign's reused image is fetched and
read once), else a task on a bounded thread pool fetches the blob from the CDN (`fetch.py`),
copies it to the bucket's `media/` prefix keyed by CID, and scores it (`ImageScorer`, or the
media endpoint). The batch waits for those tasks at most `budget_s` in all: an image not
read by then is "unavailable (budget)" for this post, while its task runs on and caches its
verdict for the next post that shows the image. At most `max_pending` tasks are in flight:
more images of the batch are submitted as earlier ones finish, and those still unsubmitted
when the budget ends are "unavailable (backlog)". A slow CDN can cost the stream the budget
per batch, never more, and never an unbounded queue.

A verdict is cached under the policy version that judged it, for `cache_ttl_s`: a new
blocklist entry or rule re-reads the image, from its copy in the bucket rather than the CDN.
Failures that a later try may not repeat (timeouts, network errors, 5xx, budget) are not
cached; a 404, a bomb or a corrupt file is.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import orjson

from fraud_pipeline.media.fetch import (
    TRANSIENT_CODES,
    BlobFetcher,
    BlobRef,
    FetchFailed,
    FetchLimits,
    blob_ref_problem,
)
from fraud_pipeline.media.scorer import MediaVerdict
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.policy import Policy
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.base import ModelUnavailable, TextScorer
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import StateError
from fraud_pipeline.state.base import StateStore

log = logging.getLogger(__name__)

CACHE_PREFIX = "media:"
REASON_CHARS = 300
PENDING_PER_WORKER = 8  # images queued per fetch worker before new ones are refused (backlog)


class ImageJudge(Protocol):
    """Scores image bytes: the in-process `ImageScorer` or a client of the media endpoint."""

    def score_bytes(self, data: bytes, alt_text: str = "") -> MediaVerdict: ...


@dataclass
class ImageResult:
    """The verdict on one blob, as cached: a likelihood, or the code and reason it was not read."""

    likelihood: float | None
    is_fraud: bool = False
    reasons: list[str] = field(default_factory=list)
    object_uri: str | None = None
    code: str | None = None  # why it was not read: fetch codes, "undecodable", "budget", ...
    unavailable: str | None = None

    @classmethod
    def missing(cls, code: str, reason: str) -> ImageResult:
        return cls(None, code=code, unavailable=reason[:REASON_CHARS])

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, raw: str) -> ImageResult | None:
        try:
            return cls(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            return None  # an entry of another shape: read the image again


@dataclass
class PostImages:
    """What the images of one post showed."""

    likelihood: float | None = None  # the highest of the images read; None when none was
    reasons: list[str] = field(default_factory=list)
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (code, reason) per image not read
    object_uris: dict[str, str] = field(default_factory=dict)  # CID -> copy in the bucket


@dataclass
class BatchImageStats:
    images: int = 0  # distinct blobs the batch asked for
    cache_hits: int = 0
    fetched: int = 0  # read by a task that finished within the budget
    unavailable: dict[str, int] = field(default_factory=dict)  # code -> images, once per post


def blob_refs(post: Post) -> list[BlobRef]:
    """The post's images and video thumbnails, by blob CID (duplicates once)."""
    refs: dict[str, BlobRef] = {}
    for index, cid in enumerate(post.media_cids):
        kind = post.media_kinds[index] if index < len(post.media_kinds) else "image"
        if cid and kind in ("image", "video") and cid not in refs:
            refs[cid] = BlobRef(post.did, cid, kind)
    return list(refs.values())


class StreamImages:
    """Reads the images of scoring batches; one per scoring runtime, thread-safe."""

    def __init__(
        self,
        fetcher: BlobFetcher,
        store: StateStore,
        judge_for: Callable[[Policy, str], ImageJudge | None],
        *,
        objects: ObjectStore | None,
        media_prefix: str = "media/",
        budget_s: float = 2.0,
        workers: int = 8,
        max_pending: int = 64,
        cache_ttl_s: int = 7 * 86400,
    ) -> None:
        self.fetcher = fetcher
        self.store = store
        self.judge_for = judge_for
        self.objects = objects
        self.media_prefix = media_prefix
        self.budget_s = budget_s
        self.max_pending = max_pending
        self.cache_ttl_s = cache_ttl_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media")
        self._lock = threading.Lock()
        self._in_flight: dict[str, concurrent.futures.Future[ImageResult]] = {}
        self._judges: tuple[str, ImageJudge | None] | None = None

    def _judge(self, policy: Policy, version: str) -> ImageJudge | None:
        if self._judges is None or self._judges[0] != version:
            self._judges = (version, self.judge_for(policy, version))
        return self._judges[1]

    def read(
        self, posts: Sequence[Post], policy: Policy, policy_version: str
    ) -> tuple[dict[int, PostImages], BatchImageStats]:
        """id(post) -> what its images showed, for the posts with images; never waits past the budget."""
        stats = BatchImageStats()
        refs_of = {id(p): blob_refs(p) for p in posts}
        wanted: dict[str, BlobRef] = {}
        for refs in refs_of.values():
            for ref in refs:
                wanted.setdefault(ref.cid, ref)
        if not wanted:
            return {}, stats
        stats.images = len(wanted)
        results: dict[str, ImageResult] = {}
        for cid, ref in list(wanted.items()):
            problem = blob_ref_problem(ref)
            if problem is not None:  # never a URL, a cache key or an object key
                results[cid] = ImageResult.missing("bad_ref", problem)
                del wanted[cid]
        keys = {cid: f"{CACHE_PREFIX}{policy_version}:{cid}" for cid in wanted}
        try:
            cached = self.store.get_cached(list(keys.values()))
        except StateError as exc:  # the cache is an optimisation: read the images instead
            log.warning("media cache unreadable, reading the images again: %s", exc)
            cached = {}
        for cid, key in keys.items():
            hit = ImageResult.from_json(cached[key]) if key in cached else None
            if hit is not None:
                results[cid] = hit
                stats.cache_hits += 1
        judge = self._judge(policy, policy_version)
        media = policy.spec.media
        queue = [cid for cid in wanted if cid not in results]
        if judge is None or media is None:
            for cid in queue:
                results[cid] = ImageResult.missing(
                    "no_policy", "the detection policy has no media section (policy/media.yaml)"
                )
            queue = []
        # Submit what the pool's bound allows, then more as tasks finish, until the budget ends.
        deadline = time.monotonic() + self.budget_s
        waiting: dict[str, concurrent.futures.Future[ImageResult]] = {}
        while queue or waiting:
            left = []
            for cid in queue:
                assert judge is not None and media is not None
                future = self._submit(wanted[cid], keys[cid], judge, media.max_bytes)
                if future is None:
                    left.append(cid)
                else:
                    waiting[cid] = future
            queue = left
            remaining = deadline - time.monotonic()
            if not waiting or remaining <= 0:
                break
            done, _ = concurrent.futures.wait(
                waiting.values(), timeout=remaining, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for cid in [c for c, f in waiting.items() if f in done]:
                results[cid] = waiting.pop(cid).result()
                stats.fetched += 1
        for cid in queue:
            results[cid] = ImageResult.missing("backlog", f"{self.max_pending} images already in flight")
        for cid in waiting:
            results[cid] = ImageResult.missing(
                "budget", f"not read within the batch's {self.budget_s:g} s budget (still fetching)"
            )
        out: dict[int, PostImages] = {}
        for post in posts:
            refs = refs_of[id(post)]
            if refs:
                out[id(post)] = self._of_post(refs, results, stats)
        return out, stats

    def _submit(
        self, ref: BlobRef, key: str, judge: ImageJudge, max_bytes: int
    ) -> concurrent.futures.Future[ImageResult] | None:
        """The task reading this blob: one already in flight (an earlier batch's), a new one,
        or None when too many are in flight."""
        with self._lock:
            future = self._in_flight.get(key)
            if future is not None:
                return future
            if len(self._in_flight) >= self.max_pending:
                return None
            future = self._pool.submit(self._read_one, ref, key, judge, max_bytes)
            self._in_flight[key] = future
        future.add_done_callback(lambda _f: self._forget(key))
        return future

    def _forget(self, key: str) -> None:
        with self._lock:
            self._in_flight.pop(key, None)

    def _read_one(self, ref: BlobRef, key: str, judge: ImageJudge, max_bytes: int) -> ImageResult:
        """Fetch, copy, score, cache one blob; every failure becomes a result, nothing raises."""
        try:
            result = self._fetch_and_score(ref, judge, max_bytes)
        except Exception as exc:  # a scorer bug must cost one image, not the stream
            log.exception("reading image %s failed", ref.cid)
            result = ImageResult.missing("error", f"{exc.__class__.__name__}: {exc}")
        if result.code not in TRANSIENT_CODES and result.code != "error":
            try:
                self.store.put_cached({key: result.to_json()}, self.cache_ttl_s)
            except StateError as exc:
                log.warning("media verdict of %s not cached: %s", ref.cid, exc)
        return result

    def _copy_in_bucket(self, cid: str, max_bytes: int) -> bytes | None:
        """The blob's copy in media/, if an earlier read made one (a policy push re-reads every
        image: from the bucket, not the CDN)."""
        if self.objects is None:
            return None
        try:
            data = self.objects.get_bytes(f"{self.media_prefix}{cid}")
        except (FileNotFoundError, ObjectStoreError, OSError):
            return None
        return data if 0 < len(data) <= max_bytes else None

    def _fetch_and_score(self, ref: BlobRef, judge: ImageJudge, max_bytes: int) -> ImageResult:
        object_uri = None
        data = self._copy_in_bucket(ref.cid, max_bytes)
        if data is not None:
            assert self.objects is not None
            object_uri = self.objects.uri(f"{self.media_prefix}{ref.cid}")
        else:
            try:
                data = self.fetcher.fetch(ref, max_bytes)
            except FetchFailed as exc:
                return ImageResult.missing(exc.code, exc.reason)
            if self.objects is not None:
                key = f"{self.media_prefix}{ref.cid}"
                try:
                    self.objects.put_bytes(key, data)
                    object_uri = self.objects.uri(key)
                except ObjectStoreError as exc:  # scored all the same; the copy is for later review
                    log.warning("image %s not copied to the bucket: %s", ref.cid, exc)
        try:
            verdict = judge.score_bytes(data)
        except ModelUnavailable as exc:  # the media endpoint: try again later
            return ImageResult.missing("endpoint", exc.reason)
        if verdict.fraud_media_likelihood is None:
            result = ImageResult.missing("undecodable", verdict.unavailable or "unreadable image")
            result.object_uri = object_uri
            return result
        return ImageResult(
            verdict.fraud_media_likelihood, verdict.is_fraud, list(verdict.reasons), object_uri
        )

    def _of_post(
        self, refs: list[BlobRef], results: dict[str, ImageResult], stats: BatchImageStats
    ) -> PostImages:
        images = PostImages()
        for ref in refs:
            result = results[ref.cid]
            if result.object_uri:
                images.object_uris[ref.cid] = result.object_uri
            if result.likelihood is None:
                code = result.code or "unknown"
                images.unavailable.append((code, f"image {ref.cid}: {result.unavailable}"))
                stats.unavailable[code] = stats.unavailable.get(code, 0) + 1
                continue
            if images.likelihood is None or result.likelihood > images.likelihood:
                images.likelihood = result.likelihood
            images.reasons.extend(f"image {ref.cid}: {reason}" for reason in result.reasons)
        return images

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()


def open_stream_images(settings: Settings, store: StateStore, text_model: TextScorer) -> StreamImages:
    """The scoring runtime's image reader, as the settings say (CDN, budget, image scorer)."""
    from fraud_pipeline.media.scorer import ImageScorer

    remote: ImageJudge | None = None
    if settings.media_model_mode != "inprocess":
        from fraud_pipeline.media.remote import open_remote_image_judge

        remote = open_remote_image_judge(settings)

    def judge_for(policy: Policy, version: str) -> ImageJudge | None:
        if policy.spec.media is None:
            return None
        return remote or ImageScorer(policy, text_model)

    fetcher = BlobFetcher(
        settings.cdn_base_url,
        settings.video_cdn_base_url,
        FetchLimits(settings.media_fetch_timeout_s),
        max_connections=settings.media_fetch_workers,
    )
    return StreamImages(
        fetcher,
        store,
        judge_for,
        objects=ObjectStore.from_settings(settings),
        media_prefix=settings.media_prefix,
        budget_s=settings.media_batch_budget_s,
        workers=settings.media_fetch_workers,
        max_pending=settings.media_fetch_workers * PENDING_PER_WORKER,
        cache_ttl_s=settings.media_cache_ttl_s,
    )
