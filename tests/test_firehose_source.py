"""The firehose source: commit frames built with libipld, parsed by atproto, served locally."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import libipld
import orjson
import pytest
from atproto_subscription.frames import Frame, MessageFrame
from websockets.sync.server import ServerConnection, serve

from fraud_pipeline.ingest.firehose import FirehoseSource, frame_to_events
from fraud_pipeline.ingest.normalize import normalize
from tests.ingest_fixtures import MemoryState

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def cid_bytes(codec: int, data: bytes) -> bytes:
    return bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def car(root: bytes, blocks: list[tuple[bytes, bytes]]) -> bytes:
    header = libipld.encode_dag_cbor({"version": 1, "roots": [root]})
    body = b"".join(varint(len(c) + len(d)) + c + d for c, d in blocks)
    return varint(len(header)) + header + body


IMAGE = cid_bytes(0x55, b"jpeg bytes")


def post_record(text: str) -> dict[str, Any]:
    return {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2024-11-20T10:00:00.000Z",
        "langs": ["en"],
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "wallet",
                    "image": {"$type": "blob", "ref": IMAGE, "mimeType": "image/jpeg", "size": 10},
                }
            ],
        },
    }


def commit_frame(seq: int, ops: list[tuple[str, str, dict[str, Any] | None]]) -> bytes:
    """A #commit frame: (action, path, record) ops, records in the CAR blocks."""
    blocks = []
    op_list = []
    for action, path, record in ops:
        if record is None:
            op_list.append({"action": action, "path": path, "cid": None})
            continue
        data = libipld.encode_dag_cbor(record)
        cid = cid_bytes(0x71, data)
        blocks.append((cid, data))
        op_list.append({"action": action, "path": path, "cid": cid})
    commit_cid = cid_bytes(0x71, b"commit %d" % seq)
    body = {
        "seq": seq,
        "rebase": False,
        "tooBig": False,
        "repo": DID,
        "commit": commit_cid,
        "rev": f"3lbxyz{seq:07d}",
        "since": None,
        "blocks": car(commit_cid, blocks),
        "ops": op_list,
        "blobs": [],
        "time": "2024-11-20T10:00:01.500Z",
    }
    return libipld.encode_dag_cbor({"op": 1, "t": "#commit"}) + libipld.encode_dag_cbor(body)


def identity_frame(seq: int) -> bytes:
    body = {"seq": seq, "did": DID, "time": "2024-11-20T10:00:02.000Z", "handle": "alice.test"}
    return libipld.encode_dag_cbor({"op": 1, "t": "#identity"}) + libipld.encode_dag_cbor(body)


FRAMES = [
    commit_frame(
        1,
        [
            ("create", "app.bsky.feed.post/3lbaaaaaaaa22", post_record("claim your airdrop")),
            ("create", "app.bsky.feed.like/3lbaaaaaaaa23", {"$type": "app.bsky.feed.like", "subject": {}}),
        ],
    ),
    identity_frame(2),
    commit_frame(3, [("delete", "app.bsky.feed.post/3lbaaaaaaaa22", None)]),
    commit_frame(4, [("update", "app.bsky.feed.post/3lbaaaaaaaa24", post_record("edited"))]),
]


def as_frame(data: bytes) -> MessageFrame:
    frame = Frame.from_bytes(data)
    assert isinstance(frame, MessageFrame)
    return frame


def test_commit_frame_becomes_a_normalizable_jetstream_event() -> None:
    seq, events = frame_to_events(as_frame(FRAMES[0]))
    assert seq == 1 and len(events) == 1  # the like is not a wanted collection
    event = events[0]
    assert event["did"] == DID and event["kind"] == "commit"
    assert event["time_us"] == 1_732_096_801_500_000
    assert event["commit"]["record"]["embed"]["images"][0]["image"]["ref"] == {
        "$link": libipld.encode_cid(IMAGE)
    }
    result = normalize(orjson.dumps(event))
    assert result.kind == "post" and result.post is not None
    assert result.post.uri == f"at://{DID}/app.bsky.feed.post/3lbaaaaaaaa22"
    assert result.post.text == "claim your airdrop"
    assert result.post.cid == libipld.encode_cid(
        cid_bytes(0x71, libipld.encode_dag_cbor(post_record("claim your airdrop")))
    )
    assert result.post.media_cids == [libipld.encode_cid(IMAGE)]

    assert normalize(orjson.dumps(frame_to_events(as_frame(FRAMES[1]))[1][0])).reason == "identity"
    assert normalize(orjson.dumps(frame_to_events(as_frame(FRAMES[2]))[1][0])).kind == "delete"
    update = normalize(orjson.dumps(frame_to_events(as_frame(FRAMES[3]))[1][0]))
    assert update.post is not None and update.post.operation == "update"


class FakeRelay:
    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.paths: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_uri(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/xrpc"

    def _handle(self, conn: ServerConnection) -> None:
        self.paths.append(conn.request.path if conn.request else "")
        for frame in self.frames:
            conn.send(frame)
        with contextlib.suppress(Exception):
            conn.recv()

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture()
def relay() -> Iterator[FakeRelay]:
    # a frame of garbage between good ones must be skipped, not end the subscription
    srv = FakeRelay([FRAMES[0], b"\xff\x00garbage", FRAMES[1], FRAMES[2], FRAMES[3]])
    yield srv
    srv.close()


def test_firehose_source_over_a_local_websocket(relay: FakeRelay) -> None:
    state = MemoryState()
    source = FirehoseSource(relay.base_uri, state, checkpoint_every_s=0.0)
    got = []
    for data in source:
        got.append(normalize(data))
        if len(got) == 4:
            source.stop.set()
    assert [r.kind for r in got] == ["post", "skipped", "delete", "post"]
    assert source.malformed_frames == 1
    assert relay.paths[0].startswith("/xrpc/com.atproto.sync.subscribeRepos")
    assert state.checkpoints["ingest/firehose/cursor"] == "3"  # last seq 4, minus one: replayed once


class CursorRelay:
    """A relay that honours `?cursor=` (sends frames with a larger seq) and ends its first
    connection after `first` frames, cleanly (close code 1000) or with an error (1011)."""

    def __init__(self, frames: list[bytes], first: int, close_code: int) -> None:
        self.frames = frames
        self.first = first
        self.close_code = close_code
        self.paths: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_uri(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/xrpc"

    def _handle(self, conn: ServerConnection) -> None:
        from urllib.parse import parse_qs, urlsplit

        path = conn.request.path if conn.request else ""
        self.paths.append(path)
        cursor = parse_qs(urlsplit(path).query).get("cursor")
        if len(self.paths) == 1:
            for frame in self.frames[: self.first]:
                conn.send(frame)
            conn.close(code=self.close_code)
            return
        # Without a cursor a relay serves live: only what is new from now on (nothing here).
        start = int(cursor[0]) if cursor else len(self.frames)
        for frame in self.frames[start:]:  # frame i has seq i + 1
            conn.send(frame)
        with contextlib.suppress(Exception):
            conn.recv()

    def close(self) -> None:
        self._server.shutdown()


@pytest.mark.parametrize("close_code", [1000, 1011], ids=["clean-close", "error-close"])
def test_firehose_reconnects_from_the_last_received_seq(close_code: int) -> None:
    """Before: a reconnect resumed live (a gap), and a clean close ended ingest."""
    frames = [
        commit_frame(seq, [("create", f"app.bsky.feed.post/3lbaaaaaaa{seq:03d}", post_record(f"post {seq}"))])
        for seq in range(1, 7)
    ]
    relay = CursorRelay(frames, first=3, close_code=close_code)
    source = FirehoseSource(relay.base_uri, MemoryState(), checkpoint_every_s=0.0)
    texts: list[str] = []
    stopper = threading.Timer(30, source.stop.set)  # a bound, should the source hang
    stopper.start()
    try:
        for data in source:
            result = normalize(data)
            assert result.post is not None
            texts.append(result.post.text)
            if len(texts) == 6:
                source.stop.set()
    finally:
        stopper.cancel()
        relay.close()
    assert texts == [f"post {seq}" for seq in range(1, 7)]  # no gap, no duplicate
    assert len(relay.paths) == 2 and "cursor=3" in relay.paths[1]
    assert "cursor" not in relay.paths[0]
