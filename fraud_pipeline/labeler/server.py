"""The labeler service: what Bluesky's AppView and any atproto client talk to.

- `GET /xrpc/com.atproto.label.subscribeLabels?cursor=N`: a websocket in the atproto
  event-stream framing. Replays the store from the cursor, then streams live; a cursor
  past the newest label is an error frame (`FutureCursor`), one before the oldest stored
  label an `#info` (`OutdatedCursor`) and a replay from the oldest. Without a cursor only
  new labels are sent.
- `GET /xrpc/com.atproto.label.queryLabels`: the current label of each (uri, value)
  matching the patterns, paged by sequence number.
- `GET /.well-known/did.json`: the `did:web` document with the `#atproto_label` key
  and the `#atproto_labeler` service; `GET /xrpc/_health` for load balancers.

One task follows the store (the labels worker writes it, maybe from another process or
host) and hands each new batch of frames to the live subscribers. Memory stays bounded:
a subscriber holds at most `max_pending_frames` frames; one that falls further behind,
or whose socket accepts nothing for `stall_timeout_s` (a client that never reads, during
replay or live), is sent a `ConsumerTooSlow` error frame and disconnected. Everyone else
keeps being served. Replay reads the store a page at a time, never the whole history.

Built on `websockets` (already a dependency; the atproto clients use it too): its server
answers plain HTTP GETs from `process_request`, so the XRPC queries, the DID document and
the websocket share one port without a second web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from fraud_pipeline.labeler.labels import error_frame, info_frame, label_json, labels_frame
from fraud_pipeline.labeler.store import MAX_PAGE, LabelStore

log = logging.getLogger(__name__)

SUBSCRIBE_PATH = "/xrpc/com.atproto.label.subscribeLabels"
QUERY_PATH = "/xrpc/com.atproto.label.queryLabels"
DID_PATH = "/.well-known/did.json"
HEALTH_PATH = "/xrpc/_health"
SEND_CHUNK = 256  # frames written to a socket before waiting for it to drain


@dataclass(frozen=True)
class ServiceLimits:
    """How much one client may ask of the service (operational limits, not detection policy)."""

    max_patterns: int = 50  # uriPatterns per queryLabels call
    max_pattern_chars: int = 2048
    max_sources: int = 50
    default_limit: int = 50  # the lexicon's default
    max_pending_frames: int = 20_000  # live frames queued for one subscriber before it is cut off
    stall_timeout_s: float = 10.0  # a socket that accepts nothing this long is cut off
    replay_page: int = 2_000  # labels read from the store per replay step
    max_subscribers: int = 1_000
    poll_interval_s: float = 0.02  # how often the follower looks for new labels when idle


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise XrpcError(400, "InvalidRequest", f"{name} may be given once")
    return values[0]


def _non_negative_int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise XrpcError(400, "InvalidRequest", f"{name} must be a non-negative integer, got {raw[:40]!r}")
    return int(raw)


def _check_known(params: dict[str, list[str]], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise XrpcError(
            400, "InvalidRequest", f"unknown parameter(s): {', '.join(u[:40] for u in unknown[:5])}"
        )


def _check_pattern(pattern: str, limits: ServiceLimits) -> str:
    if len(pattern) > limits.max_pattern_chars:
        raise XrpcError(400, "InvalidRequest", f"a uri pattern is longer than {limits.max_pattern_chars}")
    star = pattern.find("*")
    if star == -1:
        if not pattern:
            raise XrpcError(400, "InvalidRequest", "empty uri pattern")
        return pattern
    if star != len(pattern) - 1:
        raise XrpcError(400, "InvalidRequest", "only a trailing '*' is supported in uri patterns")
    prefix = pattern[:-1].removeprefix("at://")
    # A prefix must at least name an account (did:method:id...): '*' or 'at://*' would ask
    # for every label the labeler ever made.
    parts = prefix.split(":", 2)
    if len(parts) < 3 or parts[0] != "did" or not parts[1] or not parts[2]:
        raise XrpcError(
            400, "InvalidRequest", f"a prefix pattern must start with a full DID, got {pattern[:80]!r}"
        )
    return pattern


@dataclass(eq=False)  # identity: subscribers live in sets
class Subscriber:
    connection: ServerConnection
    last_sent: int = 0
    pending: deque[list[tuple[int, bytes]]] = field(default_factory=deque)
    pending_frames: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    too_slow: bool = False
    closed: bool = False
    sending_since: float | None = None  # monotonic time the current send started

    def offer(self, frames: list[tuple[int, bytes]], limit: int) -> None:
        if self.too_slow:
            return
        if self.pending_frames + len(frames) > limit:
            self.too_slow = True
            self.pending.clear()
            self.pending_frames = 0
        else:
            self.pending.append(frames)
            self.pending_frames += len(frames)
        self.wake.set()


@dataclass
class ServiceStats:
    subscribers: int = 0
    frames_sent: int = 0
    slow_disconnects: int = 0
    queries: int = 0
    bad_requests: int = 0


class LabelerService:
    def __init__(
        self,
        store: LabelStore,
        did: str,
        service_endpoint: str,
        public_multikey: Any,
        limits: ServiceLimits | None = None,
    ) -> None:
        """`public_multikey` is the signing key's Multikey, or a callable returning it."""
        self.store = store
        self.did = did
        self.service_endpoint = service_endpoint
        self._multikey = public_multikey
        self.limits = limits or ServiceLimits()
        self.head = 0
        self.subscribers: set[Subscriber] = set()
        self._live: set[Subscriber] = set()
        self.stats = ServiceStats()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- plain HTTP: queryLabels, did.json, health ------------------------------------
    def did_document(self) -> dict[str, Any]:
        multikey = self._multikey() if callable(self._multikey) else self._multikey
        return {
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "id": self.did,
            "verificationMethod": [
                {
                    "id": f"{self.did}#atproto_label",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": multikey,
                }
            ],
            "service": [
                {"id": "#atproto_labeler", "type": "AtprotoLabeler", "serviceEndpoint": self.service_endpoint}
            ],
        }

    async def query_labels(self, params: dict[str, list[str]]) -> dict[str, Any]:
        limits = self.limits
        _check_known(params, {"uriPatterns", "sources", "limit", "cursor"})
        patterns = params.get("uriPatterns", [])
        if not patterns:
            raise XrpcError(400, "InvalidRequest", "uriPatterns is required")
        if len(patterns) > limits.max_patterns:
            raise XrpcError(400, "InvalidRequest", f"at most {limits.max_patterns} uriPatterns per call")
        patterns = [_check_pattern(p, limits) for p in patterns]
        sources = params.get("sources") or None
        if sources is not None:
            if len(sources) > limits.max_sources:
                raise XrpcError(400, "InvalidRequest", f"at most {limits.max_sources} sources per call")
            if not all(s.startswith("did:") and len(s) <= 2048 for s in sources):
                raise XrpcError(400, "InvalidRequest", "sources must be DIDs")
        limit = _non_negative_int(_single(params, "limit"), "limit")
        if limit is None:
            limit = limits.default_limit
        if not 1 <= limit <= MAX_PAGE:
            raise XrpcError(400, "InvalidRequest", f"limit must be between 1 and {MAX_PAGE}")
        cursor = _non_negative_int(_single(params, "cursor"), "cursor") or 0
        found = await asyncio.to_thread(self.store.query, patterns, sources, cursor, limit)
        body: dict[str, Any] = {"labels": [label_json(s.cbor) for s in found]}
        if len(found) == limit:
            body["cursor"] = str(found[-1].seq)
        return body

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        try:
            params = parse_qs(url.query, keep_blank_values=True, max_num_fields=1000)
        except ValueError:
            return self._json(connection, 400, {"error": "InvalidRequest", "message": "too many parameters"})
        try:
            if url.path == SUBSCRIBE_PATH:
                _check_known(params, {"cursor"})
                _non_negative_int(_single(params, "cursor"), "cursor")
                if len(self.subscribers) >= self.limits.max_subscribers:
                    raise XrpcError(503, "ServiceUnavailable", "too many subscribers; retry later")
                return None  # go on with the websocket handshake
            if url.path == QUERY_PATH:
                self.stats.queries += 1
                return self._json(connection, 200, await self.query_labels(params))
            if url.path == DID_PATH:
                return self._json(connection, 200, self.did_document())
            if url.path == HEALTH_PATH:
                return self._json(
                    connection,
                    200,
                    {"version": "fraud-pipeline", "head": self.head, "subscribers": len(self.subscribers)},
                )
            if url.path.startswith("/xrpc/"):
                raise XrpcError(501, "MethodNotImplemented", f"{url.path[6:][:100]} is not served here")
            raise XrpcError(404, "NotFound", "not found")
        except XrpcError as exc:
            self.stats.bad_requests += 1
            return self._json(connection, exc.status, {"error": exc.error, "message": exc.message})

    @staticmethod
    def _json(connection: ServerConnection, status: int, body: Any) -> Response:
        response = connection.respond(http.HTTPStatus(status), "")
        response.body = orjson.dumps(body)
        del response.headers["Content-Type"], response.headers["Content-Length"]
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.headers["Content-Length"] = str(len(response.body))
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    # -- subscribeLabels ----------------------------------------------------------------
    async def _send(self, subscriber: Subscriber, frame: bytes) -> None:
        await self._send_many(subscriber, [frame])

    async def _send_many(self, subscriber: Subscriber, frames: list[bytes]) -> None:
        """Send frames (one websocket message each) with one write and one wait for the socket.

        `send_context` is websockets' documented way to write several messages under its
        flow control; `send()` per message costs a drain per message, which capped a
        subscriber at a few hundred frames/s on a busy machine.
        """
        connection = subscriber.connection
        for start in range(0, len(frames), SEND_CHUNK):
            subscriber.sending_since = time.monotonic()
            async with connection.send_context():
                for frame in frames[start : start + SEND_CHUNK]:
                    connection.protocol.send_binary(frame)
            subscriber.sending_since = None
        self.stats.frames_sent += len(frames)

    async def _handler(self, connection: ServerConnection) -> None:
        params = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        cursor = _non_negative_int(_single(params, "cursor"), "cursor")
        subscriber = Subscriber(connection)
        self.subscribers.add(subscriber)
        self.stats.subscribers += 1
        watcher = asyncio.create_task(self._watch_close(subscriber))
        try:
            await self._replay_then_stream(subscriber, cursor)
        except ConnectionClosed:
            pass  # the client went away (mid-replay or live): nothing to clean but our entry
        finally:
            self.subscribers.discard(subscriber)
            watcher.cancel()

    @staticmethod
    async def _watch_close(subscriber: Subscriber) -> None:
        """Wake an idle live subscriber when its connection closes (client gone, or shutdown)."""
        await subscriber.connection.wait_closed()
        subscriber.closed = True
        subscriber.wake.set()

    async def _replay_then_stream(self, subscriber: Subscriber, cursor: int | None) -> None:
        limits = self.limits
        if cursor is None:
            subscriber.last_sent = self.head  # live only
        else:
            if cursor > self.head:
                await self._send(
                    subscriber, error_frame("FutureCursor", f"cursor {cursor} is past {self.head}")
                )
                await subscriber.connection.close()
                return
            first = await asyncio.to_thread(self.store.first_seq)
            if cursor < first - 1:
                await self._send(
                    subscriber,
                    info_frame("OutdatedCursor", f"labels before {first} are gone; replaying from {first}"),
                )
            subscriber.last_sent = cursor
            while subscriber.last_sent < self.head:
                page = await asyncio.to_thread(self.store.after, subscriber.last_sent, limits.replay_page)
                if not page:
                    break
                await self._send_many(subscriber, [labels_frame(s.seq, s.cbor) for s in page])
                subscriber.last_sent = page[-1].seq
        # Caught up with the follower: from here on it hands us every new frame (no await
        # between the check above and this line, so nothing slips between replay and live).
        subscriber.wake.set()
        subscriber.pending.clear()
        subscriber.pending_frames = 0
        self._live.add(subscriber)
        try:
            while True:
                await subscriber.wake.wait()
                subscriber.wake.clear()
                if subscriber.closed:
                    return
                if subscriber.too_slow:
                    await self._cut_off(subscriber)
                    return
                while subscriber.pending and not subscriber.too_slow:
                    frames = subscriber.pending.popleft()
                    subscriber.pending_frames -= len(frames)
                    fresh = [frame for seq, frame in frames if seq > subscriber.last_sent]
                    if fresh:
                        await self._send_many(subscriber, fresh)
                        subscriber.last_sent = frames[-1][0]
        finally:
            self._live.discard(subscriber)

    async def _cut_off(self, subscriber: Subscriber) -> None:
        """Tell a subscriber it fell too far behind, then close (abort if it reads nothing)."""
        self.stats.slow_disconnects += 1
        connection = subscriber.connection
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                connection.send(
                    error_frame("ConsumerTooSlow", "fell too far behind; reconnect with a cursor")
                ),
                timeout=1.0,
            )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(1008, "ConsumerTooSlow"), timeout=2.0)
        connection.transport.abort()

    # -- the follower and the reaper ----------------------------------------------------
    async def _follow(self) -> None:
        """Read new labels from the store and hand them to the live subscribers."""
        limits = self.limits
        while True:
            try:
                batch = await asyncio.to_thread(self.store.after, self.head, limits.replay_page)
            except Exception:  # the store is briefly unavailable: keep serving, retry
                log.exception("reading the label store failed")
                await asyncio.sleep(1.0)
                continue
            if not batch:
                await asyncio.sleep(limits.poll_interval_s)
                continue
            frames = [(stored.seq, labels_frame(stored.seq, stored.cbor)) for stored in batch]
            self.head = batch[-1].seq
            for subscriber in self._live:
                subscriber.offer(frames, limits.max_pending_frames)

    async def _reap(self) -> None:
        """Cut off subscribers whose socket has accepted nothing for `stall_timeout_s`."""
        while True:
            await asyncio.sleep(min(1.0, self.limits.stall_timeout_s / 2))
            now = time.monotonic()
            for subscriber in list(self.subscribers):
                since = subscriber.sending_since
                if since is not None and now - since > self.limits.stall_timeout_s:
                    subscriber.sending_since = None
                    log.info("cutting off a subscriber that has read nothing for %.0f s", now - since)
                    self._tasks.append(asyncio.create_task(self._abort_stalled(subscriber)))

    async def _abort_stalled(self, subscriber: Subscriber) -> None:
        self.stats.slow_disconnects += 1
        subscriber.too_slow = True
        subscriber.connection.transport.abort()  # its send is blocked: the socket is what we can close

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Start serving; returns the bound port (pass 0 for any free one)."""
        self.head = await asyncio.to_thread(self.store.head)
        self._server = await serve(
            self._handler,
            host,
            port,
            process_request=self._process_request,
            max_size=64 * 1024,  # subscribers send us nothing of size
            ping_interval=30,
            ping_timeout=60,
            close_timeout=2,
        )
        self._tasks = [asyncio.create_task(self._follow()), asyncio.create_task(self._reap())]
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
