"""Live source: Bluesky Jetstream over a websocket, resumable and self-healing.

After Osprey's jetstream_input_stream: the cursor (`time_us` of the last event handed on)
is saved to the state store every few seconds and on disconnect; a (re)connect resumes
from it minus a short rewind, so a crash or a dropped connection loses nothing (the few
seconds replayed twice are duplicates the lake's compaction removes). Reconnects back off
exponentially with jitter. A frame that cannot be decoded is counted, handed to
`on_malformed` and skipped: the connection stays up.

Frames are taken as bytes (`recv(decode=False)`) so invalid UTF-8 reaches the normalizer
(which replaces it) instead of making the websocket library close the connection.
With `compress=True` Jetstream sends zstd frames made with its own dictionary: pass
`zstd_dictionary` (a file path); plain zstd frames decode without one.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import zstandard
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException
from websockets.sync.client import connect

from fraud_pipeline.records import POST_COLLECTION
from fraud_pipeline.state.base import StateStore

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
CURSOR_KEY = "ingest/jetstream/cursor"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
TIME_US_RE = re.compile(rb'"time_us"\s*:\s*(\d{1,19})')


@dataclass
class JetstreamConfig:
    url: str = DEFAULT_URL
    collections: tuple[str, ...] = (POST_COLLECTION,)
    compress: bool = False
    zstd_dictionary: Path | None = None
    cursor_key: str = CURSOR_KEY
    rewind_s: float = 5.0  # resume this far before the saved cursor
    checkpoint_every_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    open_timeout_s: float = 10.0
    recv_timeout_s: float = 1.0  # how often a quiet connection checks `stop`
    max_frame_bytes: int = 4 * 1024 * 1024


@dataclass
class JetstreamStats:
    connects: int = 0
    disconnects: int = 0
    frames: int = 0
    malformed_frames: int = 0
    cursor_saves: int = 0
    last_time_us: int | None = None
    requested_cursors: list[int | None] = field(default_factory=list)


class JetstreamSource:
    """An iterable of raw event bytes from Jetstream; iterate once, stop with `stop`."""

    def __init__(
        self,
        config: JetstreamConfig,
        state: StateStore | None = None,
        *,
        stop: threading.Event | None = None,
        on_malformed: Callable[[bytes, str], None] | None = None,
        before_checkpoint: Callable[[], object] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.stop = stop or threading.Event()
        self.on_malformed = on_malformed
        self.before_checkpoint = before_checkpoint  # e.g. producer.flush: save only what is stored
        self.stats = JetstreamStats()
        self._rng = rng or random.Random()
        self._saved: int | None = None
        self._decompressor = self._make_decompressor()

    def _make_decompressor(self) -> zstandard.ZstdDecompressor:
        if self.config.zstd_dictionary is not None:
            data = Path(self.config.zstd_dictionary).read_bytes()
            return zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(data))
        return zstandard.ZstdDecompressor()

    # -- cursor ---------------------------------------------------------------------------
    def resume_cursor(self) -> int | None:
        """Where to start: the saved cursor minus the rewind, or live (None)."""
        rewind_us = int(self.config.rewind_s * 1_000_000)
        if self.stats.last_time_us is not None:
            return max(0, self.stats.last_time_us - rewind_us)
        if self.state is None:
            return None
        try:
            saved = self.state.get_checkpoint(self.config.cursor_key)
        except Exception as exc:  # a state outage must not stop ingest: start live
            log.warning("could not read the Jetstream cursor (%s); starting live", exc)
            return None
        if saved is None or not saved.isdigit():
            return None
        return max(0, int(saved) - rewind_us)

    def save_cursor(self) -> None:
        cursor = self.stats.last_time_us
        if self.state is None or cursor is None or cursor == self._saved:
            return
        if self.before_checkpoint is not None:
            self.before_checkpoint()
        try:
            self.state.put_checkpoint(self.config.cursor_key, str(cursor))
        except Exception as exc:
            log.warning("could not save the Jetstream cursor (%s); will retry", exc)
            return
        self._saved = cursor
        self.stats.cursor_saves += 1

    def url_for(self, cursor: int | None) -> str:
        parts = urlsplit(self.config.url)
        query = [
            (k, v) for k, v in parse_qsl(parts.query) if k not in ("wantedCollections", "cursor", "compress")
        ]
        query += [("wantedCollections", c) for c in self.config.collections]
        if self.config.compress:
            query.append(("compress", "true"))
        if cursor is not None:
            query.append(("cursor", str(cursor)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    # -- frames ---------------------------------------------------------------------------
    def decode_frame(self, frame: bytes | str) -> bytes | None:
        """The event JSON of one frame, or None (counted, sent to on_malformed) if undecodable."""
        data = frame.encode("utf-8", "replace") if isinstance(frame, str) else bytes(frame)
        if data[:4] != ZSTD_MAGIC:
            return data
        try:
            return self._decompressor.decompress(data, max_output_size=self.config.max_frame_bytes)
        except zstandard.ZstdError as exc:
            self._malformed(data, f"zstd: {exc}")
            return None

    def _malformed(self, data: bytes, reason: str) -> None:
        self.stats.malformed_frames += 1
        if self.on_malformed is not None:
            self.on_malformed(data[:65536], reason)
        else:
            log.warning("skipping malformed Jetstream frame (%s)", reason)

    # -- the loop -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[bytes]:
        failures = 0
        last_save = time.monotonic()
        try:
            while not self.stop.is_set():
                cursor = self.resume_cursor()
                self.stats.requested_cursors.append(cursor)
                url = self.url_for(cursor)
                try:
                    with connect(
                        url,
                        open_timeout=self.config.open_timeout_s,
                        max_size=self.config.max_frame_bytes,
                        compression=None,
                        user_agent_header="fraud-pipeline-ingest",
                    ) as ws:
                        self.stats.connects += 1
                        log.info("connected to %s", url)
                        while not self.stop.is_set():
                            try:
                                frame = ws.recv(timeout=self.config.recv_timeout_s, decode=False)
                            except TimeoutError:
                                frame = None
                            if frame is not None:
                                failures = 0
                                self.stats.frames += 1
                                event = self.decode_frame(frame)
                                if event is not None:
                                    match = TIME_US_RE.search(event, 0, 200)
                                    yield event
                                    if match is not None:
                                        self.stats.last_time_us = int(match.group(1))
                            if time.monotonic() - last_save >= self.config.checkpoint_every_s:
                                self.save_cursor()
                                last_save = time.monotonic()
                except (OSError, TimeoutError, WebSocketException) as exc:
                    if isinstance(exc, InvalidURI):
                        raise
                    self.stats.disconnects += 1
                    failures += 1
                    level = logging.WARNING if not isinstance(exc, InvalidHandshake) else logging.ERROR
                    log.log(
                        level,
                        "Jetstream connection lost (%s); reconnecting",
                        exc,
                        extra={
                            "next_step": "reconnects with backoff from the saved cursor; if it "
                            "keeps failing, check the Jetstream URL and the network"
                        },
                    )
                self.save_cursor()
                last_save = time.monotonic()
                if failures and not self.stop.is_set():
                    self.stop.wait(self._backoff(failures))
        finally:
            if self.stats.last_time_us is not None:
                try:
                    self.save_cursor()
                except Exception as exc:  # the caller's flush failed: its error wins
                    log.warning("final cursor save failed: %s", exc)

    def _backoff(self, failures: int) -> float:
        """Full jitter: uniform(0, min(max, base * 2^(n-1)))."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** min(failures - 1, 20))
        return self._rng.uniform(0, ceiling)


def jetstream_events(
    settings: object,
    state: StateStore | None,
    *,
    url: str | None = None,
    stop: threading.Event | None = None,
    compress: bool = False,
    zstd_dictionary: Path | None = None,
    on_malformed: Callable[[bytes, str], None] | None = None,
    before_checkpoint: Callable[[], object] | None = None,
    collections: tuple[str, ...] = (POST_COLLECTION,),
) -> JetstreamSource:
    """The Jetstream source as `up --live` and `ingest` use it (settings reserved for names).
    Identity and account events come whatever `collections` asks for (Jetstream sends them)."""
    config = JetstreamConfig(
        url=url or DEFAULT_URL, collections=collections, compress=compress, zstd_dictionary=zstd_dictionary
    )
    return JetstreamSource(
        config, state, stop=stop, on_malformed=on_malformed, before_checkpoint=before_checkpoint
    )
