"""The Jetstream source against a websocket server on 127.0.0.1 that plays Jetstream.

The server honours `cursor` (events with time_us >= cursor), can kill the first connection
mid-stream, and mixes in frames a real network might deliver broken.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import zstandard
from websockets.sync.server import ServerConnection, serve

from fraud_pipeline.ingest.jetstream import JetstreamConfig, JetstreamSource
from fraud_pipeline.ingest.normalize import normalize
from tests.ingest_fixtures import MemoryState, post_event

SECOND = 1_000_000
EVENTS = [
    orjson.dumps(post_event(f"post {i}", rkey=f"3lb{i:010d}", time_us=(i + 1) * SECOND)) for i in range(30)
]


class FakeJetstream:
    def __init__(
        self, kill_after: int | None = None, extra_frames: dict[int, bytes | str] | None = None
    ) -> None:
        self.kill_after = kill_after  # events sent on the first connection before killing it
        self.extra_frames = extra_frames or {}  # index -> frame sent before EVENTS[index]
        self.requests: list[dict[str, list[str]]] = []
        self.zstd: zstandard.ZstdCompressor | None = None
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/subscribe"

    def _handle(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path if conn.request else "").query)
        self.requests.append(query)
        first = len(self.requests) == 1
        cursor = int(query["cursor"][0]) if "cursor" in query else 0
        sent = 0
        for index, event in enumerate(EVENTS):
            if orjson.loads(event)["time_us"] < cursor:
                continue
            if index in self.extra_frames and first:
                conn.send(self.extra_frames[index])
            if self.zstd is not None and query.get("compress") == ["true"]:
                conn.send(self.zstd.compress(event))
            else:
                conn.send(event.decode())
            sent += 1
            if first and self.kill_after is not None and sent >= self.kill_after:
                conn.socket.shutdown(socket.SHUT_RDWR)  # abrupt: no close frame
                return
        conn.recv()  # keep the connection open until the client leaves

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture()
def server() -> Iterator[FakeJetstream]:
    srv = FakeJetstream(
        kill_after=10,
        extra_frames={3: b"\x28\xb5\x2f\xfd not really zstd", 5: "{not json", 7: b'{"text":"\xff\xfe"}'},
    )
    yield srv
    srv.close()


def consume(source: JetstreamSource, until_time_us: int) -> list[bytes]:
    got: list[bytes] = []
    for event in source:
        got.append(event)
        if normalize(event).post is not None and normalize(event).post.time_us >= until_time_us:  # type: ignore[union-attr]
            source.stop.set()
    return got


def config(url: str, **kwargs: object) -> JetstreamConfig:
    defaults: dict[str, object] = dict(
        url=url,
        rewind_s=2.0,
        checkpoint_every_s=0.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        recv_timeout_s=0.2,
    )
    defaults.update(kwargs)
    return JetstreamConfig(**defaults)  # type: ignore[arg-type]


def test_reconnects_after_a_killed_connection_and_skips_malformed_frames(server: FakeJetstream) -> None:
    state = MemoryState()
    malformed: list[tuple[bytes, str]] = []
    source = JetstreamSource(config(server.url), state, on_malformed=lambda d, r: malformed.append((d, r)))
    got = consume(source, until_time_us=30 * SECOND)

    results = [normalize(e) for e in got]
    times = [r.post.time_us for r in results if r.post is not None]
    assert set(times) == {(i + 1) * SECOND for i in range(30)}  # nothing lost
    # the broken frames did not drop the connection: the only reconnect is the kill
    assert source.stats.connects == 2 and source.stats.disconnects == 1
    assert [r for _, r in malformed] and malformed[0][1].startswith("zstd")
    assert source.stats.malformed_frames == 1
    # non-JSON and invalid UTF-8 frames reach the normalizer, which counts or repairs them
    assert [r.reason for r in results if r.kind == "malformed"] == ["invalid_json", "missing_kind"]
    # first request live (no cursor), the reconnect rewinds 2 s from the last event seen (10 s)
    assert "cursor" not in server.requests[0]
    assert server.requests[1]["cursor"] == [str(8 * SECOND)]
    assert server.requests[0]["wantedCollections"] == ["app.bsky.feed.post"]
    # duplicates from the rewind are expected (at-least-once): 8 s, 9 s, 10 s seen twice
    assert sorted(t for t in set(times) if times.count(t) > 1) == [8 * SECOND, 9 * SECOND, 10 * SECOND]
    assert state.checkpoints["ingest/jetstream/cursor"] == str(30 * SECOND)


def test_restart_resumes_from_the_stored_cursor_minus_rewind() -> None:
    srv = FakeJetstream()
    try:
        state = MemoryState()
        state.put_checkpoint("ingest/jetstream/cursor", str(20 * SECOND))
        flushed: list[int] = []
        source = JetstreamSource(
            config(srv.url), state, before_checkpoint=lambda: flushed.append(1)
        )  # fmt: skip
        got = consume(source, until_time_us=30 * SECOND)
        assert srv.requests[0]["cursor"] == [str(18 * SECOND)]
        first = normalize(got[0]).post
        assert first is not None and first.time_us == 18 * SECOND
        assert flushed  # the producer is flushed before every cursor save
        assert state.checkpoints["ingest/jetstream/cursor"] == str(30 * SECOND)
    finally:
        srv.close()


def test_zstd_frames_with_and_without_a_dictionary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = FakeJetstream()
    try:
        srv.zstd = zstandard.ZstdCompressor()
        source = JetstreamSource(config(srv.url, compress=True), MemoryState())
        got = consume(source, until_time_us=30 * SECOND)
        assert srv.requests[0]["compress"] == ["true"]
        assert got[:30] == EVENTS and source.stats.malformed_frames == 0

        samples = [orjson.dumps(post_event(f"sample text {i} " * (i % 7), rkey=f"r{i}")) for i in range(400)]
        dictionary = zstandard.train_dictionary(2048, samples)
        dict_path = tmp_path / "jetstream.dict"
        dict_path.write_bytes(dictionary.as_bytes())
        srv.zstd = zstandard.ZstdCompressor(dict_data=dictionary)
        srv.requests.clear()
        source = JetstreamSource(config(srv.url, compress=True, zstd_dictionary=dict_path), MemoryState())
        assert consume(source, until_time_us=30 * SECOND)[:30] == EVENTS

        # without the dictionary those frames are counted as malformed, not fatal
        source = JetstreamSource(config(srv.url, compress=True), MemoryState())
        source.stop.set()
        assert source.decode_frame(srv.zstd.compress(EVENTS[0])) is None
        assert source.stats.malformed_frames == 1
    finally:
        srv.close()


def test_unreachable_server_backs_off_until_stopped() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = JetstreamSource(config(f"ws://127.0.0.1:{port}/subscribe", open_timeout_s=0.5), MemoryState())
    timer = threading.Timer(0.6, source.stop.set)
    timer.start()
    assert list(source) == []
    assert source.stats.disconnects >= 2 and source.stats.connects == 0
