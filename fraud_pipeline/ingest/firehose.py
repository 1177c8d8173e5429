"""Alternative source: the atproto relay firehose (`com.atproto.sync.subscribeRepos`, CBOR).

Why: Jetstream is a convenience service; the firehose is the protocol's own stream. This
module turns repo commit frames into the same Jetstream-shaped event the normalizer
takes, so everything downstream is shared: each create/update/delete op on a wanted
collection becomes `{"did","time_us","kind":"commit","commit":{"rev","operation",
"collection","rkey","record","cid"}}` with the record read from the commit's CAR blocks
(CID links as `{"$link": ...}`, bytes as `{"$bytes": base64}`, as in atproto's JSON form).
`#identity` and `#account` frames become Jetstream identity/account events (counted and
skipped by the normalizer). Frames that do not decode are counted and skipped.

The websocket, reconnects and frame parsing are atproto's `FirehoseSubscribeReposClient`;
the source runs it in a thread and hands events over through a bounded queue, so a slow
producer holds the firehose back instead of dropping events. The relay `seq` of the last
event handed on is saved as the cursor and resumed from.

Reconnects resume where the stream left off: before every dial the client's `cursor` is set
to the seq of the last frame whose events are all queued (the queue outlives the
connection), so a reconnect neither skips to live (a gap) nor replays from the start
(duplicates). A clean close by the relay (a restart, a load balancer) is a reason to
reconnect with backoff, not the end of the source; only `stop` ends it.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import libipld
import orjson
from atproto import CAR, FirehoseSubscribeReposClient, models, parse_subscribe_repos_message
from atproto_core.cid import CID
from atproto_subscription.frames import MessageFrame
from websockets.exceptions import ConnectionClosedOK

from fraud_pipeline.records import POST_COLLECTION
from fraud_pipeline.state.base import StateStore

log = logging.getLogger(__name__)

DEFAULT_BASE_URI = "wss://bsky.network/xrpc"
CURSOR_KEY = "ingest/firehose/cursor"
_MAX_DEPTH = 64


def _json_value(value: Any, depth: int = 0) -> Any:
    """DAG-CBOR decoded value -> atproto JSON form (CIDs -> $link, bytes -> $bytes)."""
    if depth > _MAX_DEPTH:
        raise ValueError("record nested too deeply")
    if isinstance(value, dict):
        return {str(k): _json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        # libipld decodes CID links (CBOR tag 42) to their raw bytes: CIDv1 starts with 0x01.
        if value[:1] == b"\x01":
            try:
                return {"$link": libipld.encode_cid(bytes(value))}
            except Exception:  # not a CID after all: plain bytes
                pass
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, CID):
        return {"$link": value.encode()}
    return value


def _time_us(iso: str | None) -> int:
    if iso:
        try:
            return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1_000_000)
        except ValueError:
            pass
    return time.time_ns() // 1000


def commit_to_events(
    commit: models.ComAtprotoSyncSubscribeRepos.Commit, collections: tuple[str, ...] = (POST_COLLECTION,)
) -> list[dict[str, Any]]:
    """The Jetstream-shaped events of one repo commit (one per op on a wanted collection)."""
    wanted = [op for op in commit.ops if op.path.split("/", 1)[0] in collections]
    if not wanted:
        return []
    car = CAR.from_bytes(commit.blocks) if commit.blocks else None
    time_us = _time_us(commit.time)
    events = []
    for op in wanted:
        collection, _, rkey = op.path.partition("/")
        body: dict[str, Any] = {
            "rev": commit.rev,
            "operation": op.action,
            "collection": collection,
            "rkey": rkey,
        }
        if op.action != "delete":
            cid = str(op.cid) if op.cid is not None else None
            block = car.blocks.get(CID.decode(cid)) if (car is not None and cid) else None
            body["cid"] = cid
            if block is not None:
                body["record"] = _json_value(block)
            # no block: the normalizer reports missing_record (too-big commits carry none)
        events.append({"did": commit.repo, "time_us": time_us, "kind": "commit", "commit": body})
    return events


def frame_to_events(
    frame: MessageFrame, collections: tuple[str, ...] = (POST_COLLECTION,)
) -> tuple[int | None, list[dict[str, Any]]]:
    """(relay seq, events) of one firehose message frame; raises on undecodable frames."""
    message = parse_subscribe_repos_message(frame)
    seq = getattr(message, "seq", None)
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Commit):
        return seq, commit_to_events(message, collections)
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Identity):
        body = {"did": message.did, "seq": message.seq, "time": message.time, "handle": message.handle}
        return seq, [
            {"did": message.did, "time_us": _time_us(message.time), "kind": "identity", "identity": body}
        ]
    if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Account):
        body = {"did": message.did, "seq": message.seq, "time": message.time, "active": message.active}
        if message.status:
            body["status"] = message.status
        return seq, [
            {"did": message.did, "time_us": _time_us(message.time), "kind": "account", "account": body}
        ]
    return seq, []  # #sync, #info: nothing for ingest


class _TolerantFirehoseClient(FirehoseSubscribeReposClient):
    """atproto's client skips only some undecodable frames and dies on others (e.g. a bad
    CBOR major type raises ValueError); this one reports every one and keeps going.

    It also resumes every reconnect from `resume_cursor()` (atproto's client would redial
    with the cursor it started with) and treats a clean close by the relay as a reason to
    reconnect: only `stop()` ends it.
    """

    def __init__(
        self,
        on_bad_frame: Callable[[Exception], None],
        resume_cursor: Callable[[], int | None],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._on_bad_frame = on_bad_frame
        self._resume_cursor = resume_cursor
        self.connections = 0

    def _handle_frame_decoding_error(self, exception: Exception) -> None:
        self._on_bad_frame(exception)

    def _before_connect(self) -> None:
        cursor = self._resume_cursor()
        if cursor is not None:
            self.update_params({"cursor": cursor})
        self.connections += 1

    def _handle_websocket_error_or_stop(self, exception: Exception) -> bool:
        if isinstance(exception, ConnectionClosedOK) and not self._stopped:
            log.info("the relay closed the firehose connection; reconnecting")
            return False
        return super()._handle_websocket_error_or_stop(exception)


class FirehoseSource:
    """An iterable of Jetstream-shaped event bytes from the relay firehose."""

    def __init__(
        self,
        base_uri: str = DEFAULT_BASE_URI,
        state: StateStore | None = None,
        *,
        stop: threading.Event | None = None,
        collections: tuple[str, ...] = (POST_COLLECTION,),
        on_malformed: Callable[[bytes, str], None] | None = None,
        before_checkpoint: Callable[[], object] | None = None,
        checkpoint_every_s: float = 5.0,
        max_queue: int = 10_000,
    ) -> None:
        self.base_uri = base_uri
        self.state = state
        self.stop = stop or threading.Event()
        self.collections = collections
        self.on_malformed = on_malformed
        self.before_checkpoint = before_checkpoint
        self.checkpoint_every_s = checkpoint_every_s
        self.frames = 0
        self.malformed_frames = 0
        self.last_seq: int | None = None
        self.received_seq: int | None = None  # last frame whose events are all queued
        self._queue: queue.Queue[tuple[int | None, bytes]] = queue.Queue(maxsize=max_queue)
        self._saved: int | None = None
        self._client: _TolerantFirehoseClient | None = None
        self._failure: BaseException | None = None

    def _on_message(self, frame: MessageFrame) -> None:
        self.frames += 1
        try:
            seq, events = frame_to_events(frame, self.collections)
        except Exception as exc:  # a bad frame is counted, the connection stays
            self.malformed_frames += 1
            if self.on_malformed is not None:
                raw = orjson.dumps({"type": frame.type}, default=str)
                self.on_malformed(raw, f"firehose frame: {type(exc).__name__}: {exc}"[:500])
            return
        for event in events:
            while not self.stop.is_set():
                try:
                    self._queue.put((seq, orjson.dumps(event)), timeout=0.5)
                    break
                except queue.Full:
                    continue
            else:
                return  # stopping: this frame is not fully queued, so it is not received
        if seq is not None:
            self.received_seq = seq

    def _on_bad_frame(self, exc: Exception) -> None:
        self.malformed_frames += 1
        reason = f"firehose frame: {type(exc).__name__}: {exc}"[:500]
        if self.on_malformed is not None:
            self.on_malformed(b"", reason)
        else:
            log.warning("skipping %s", reason)

    def _run_client(self) -> None:
        params: dict[str, Any] | None = None
        saved = self.state.get_checkpoint(CURSOR_KEY) if self.state is not None else None
        if saved and saved.isdigit():
            params = {"cursor": int(saved)}
        self._client = _TolerantFirehoseClient(
            self._on_bad_frame, lambda: self.received_seq, params=params, base_uri=self.base_uri
        )
        try:
            self._client.start(self._on_message)
        except BaseException as exc:
            self._failure = exc
        finally:
            self.stop.set()

    def save_cursor(self) -> None:
        """Save the seq before the last one handed on: the relay resumes *after* the cursor,
        and a commit may have more ops still queued, so that commit is replayed (at least once)."""
        if self.state is None or self.last_seq is None or self.last_seq == self._saved:
            return
        if self.before_checkpoint is not None:
            self.before_checkpoint()
        self.state.put_checkpoint(CURSOR_KEY, str(max(0, self.last_seq - 1)))
        self._saved = self.last_seq

    def __iter__(self) -> Iterator[bytes]:
        thread = threading.Thread(target=self._run_client, name="firehose-client", daemon=True)
        thread.start()
        last_save = time.monotonic()
        try:
            while not (self.stop.is_set() and self._queue.empty()):
                try:
                    seq, data = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                yield data
                if seq is not None:
                    self.last_seq = seq
                if time.monotonic() - last_save >= self.checkpoint_every_s:
                    self.save_cursor()
                    last_save = time.monotonic()
        finally:
            self.stop.set()
            if self._client is not None:
                self._client.stop()
            thread.join(5)
            self.save_cursor()
        if self._failure is not None:
            raise RuntimeError(f"firehose client failed: {self._failure}") from self._failure


def firehose_events(
    *,
    url: str | None = None,
    state: StateStore | None = None,
    stop: threading.Event | None = None,
    on_malformed: Callable[[bytes, str], None] | None = None,
    before_checkpoint: Callable[[], object] | None = None,
    collections: tuple[str, ...] = (POST_COLLECTION,),
) -> FirehoseSource:
    """The firehose source as `fraud-pipeline ingest --source firehose` uses it."""
    return FirehoseSource(
        url or DEFAULT_BASE_URI,
        state,
        stop=stop,
        collections=collections,
        on_malformed=on_malformed,
        before_checkpoint=before_checkpoint,
    )
