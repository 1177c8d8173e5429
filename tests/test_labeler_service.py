"""The labeler service: a real atproto client subscribes, signatures verify against did.json,
queryLabels pages, bad requests get XRPC errors, slow consumers are cut off, restarts resume."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import libipld
import orjson
import pytest
from atproto_client import models as atproto_models
from atproto_core.cbor import decode_dag_multi
from atproto_crypto.did import format_did_key_multikey
from atproto_crypto.verify import verify_signature
from atproto_firehose import FirehoseSubscribeLabelsClient, parse_subscribe_labels_message
from websockets.sync.client import connect

from fraud_pipeline.labeler.keys import SigningKey
from fraud_pipeline.labeler.server import ServiceLimits
from fraud_pipeline.labeler.store import SqliteLabelStore
from fraud_pipeline.labeler.worker import SIGNING_KEY_META
from fraud_pipeline.settings import Settings
from tests.labeler_fixtures import (
    drain,
    fill_store,
    http_get,
    post_uri,
    put_tagged,
    running_service,
    verdict,
    worker_for,
)

SUBSCRIBE = "/xrpc/com.atproto.label.subscribeLabels"


def _collect(port: int, cursor: int | None, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Subscribe with the atproto package's own client until `count` #labels messages arrived."""
    params = {} if cursor is None else {"cursor": cursor}
    client = FirehoseSubscribeLabelsClient(params=params, base_uri=f"ws://127.0.0.1:{port}/xrpc")
    bodies: list[dict[str, Any]] = []

    def on_message(frame: Any) -> None:
        assert frame.type == "#labels"
        parse_subscribe_labels_message(frame)  # the typed model accepts it
        bodies.append(frame.body)
        if len(bodies) >= count:
            client.stop()

    thread = threading.Thread(target=client.start, args=(on_message,), daemon=True)
    thread.start()
    thread.join(timeout)
    client.stop()
    return bodies


def _verifies(did_document: dict[str, Any], label: dict[str, Any]) -> bool:
    method = did_document["verificationMethod"][0]
    assert method["id"].endswith("#atproto_label") and method["type"] == "Multikey"
    unsigned = {k: v for k, v in label.items() if k != "sig"}
    return verify_signature(
        format_did_key_multikey(method["publicKeyMultibase"]), libipld.encode_dag_cbor(unsigned), label["sig"]
    )


def test_an_atproto_client_receives_replay_and_live_labels_that_verify(local_settings: Settings) -> None:
    put_tagged(local_settings, [verdict(i) for i in range(30)])
    worker = worker_for(local_settings)
    drain(worker)
    multikey = worker.store.get_meta(SIGNING_KEY_META)  # recorded by the worker for the service
    assert multikey is not None
    with running_service(worker.store, multikey) as (_service, port):
        status, document = http_get(port, "/.well-known/did.json")
        assert status == 200 and document["id"] == "did:web:localhost"
        assert document["service"][0] == {
            "id": "#atproto_labeler",
            "type": "AtprotoLabeler",
            "serviceEndpoint": "http://127.0.0.1",
        }
        replayed = _collect(port, 0, 30)
        assert [b["seq"] for b in replayed] == list(range(1, 31))
        for body in replayed:
            (label,) = body["labels"]
            assert label["ver"] == 1 and label["src"] == local_settings.labeler_did
            assert _verifies(document, label)
        # live: a subscriber that caught up gets what the worker stores next, in order
        live: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: live.extend(_collect(port, 30, 12)), daemon=True)
        thread.start()
        time.sleep(0.5)
        put_tagged(
            local_settings, [verdict(i, action="none") for i in range(10)] + [verdict(40), verdict(41)]
        )
        drain(worker)
        thread.join(30)
        assert [b["seq"] for b in live] == list(range(31, 43))
        negations = [b["labels"][0] for b in live if b["labels"][0].get("neg")]
        assert len(negations) == 10 and all(_verifies(document, label) for label in negations)


def test_cursor_errors_and_info_frames(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    key = SigningKey.generate()
    fill_store(store, key, 5)
    with running_service(store, key.multikey) as (_service, port):
        with connect(f"ws://127.0.0.1:{port}{SUBSCRIBE}?cursor=99") as ws:
            header, body = decode_dag_multi(ws.recv(timeout=10))
            assert header == {"op": -1} and body["error"] == "FutureCursor"
        status, error = http_get(port, f"{SUBSCRIBE}?cursor=abc")
        assert status == 400 and error["error"] == "InvalidRequest"
        status, error = http_get(port, f"{SUBSCRIBE}?cursor=1&bogus=1")
        assert status == 400 and "bogus" in error["message"]
        # labels 1-2 are gone from the store: an older cursor is told, then replayed from 3
        store._conn().execute("DELETE FROM labels WHERE seq <= 2")  # retention stand-in
        with connect(f"ws://127.0.0.1:{port}{SUBSCRIBE}?cursor=0") as ws:
            header, body = decode_dag_multi(ws.recv(timeout=10))
            assert header == {"op": 1, "t": "#info"} and body["name"] == "OutdatedCursor"
            assert [decode_dag_multi(ws.recv(timeout=10))[1]["seq"] for _ in range(3)] == [3, 4, 5]


def test_query_labels_pages_and_refuses_abuse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    key = SigningKey.generate()
    fill_store(store, key, 23)
    with running_service(store, key.multikey) as (service, port):
        pattern = "uriPatterns=at://did:plc:author/*"
        seen: list[str] = []
        cursor = ""
        for _ in range(10):
            status, page = http_get(port, f"/xrpc/com.atproto.label.queryLabels?{pattern}&limit=7{cursor}")
            assert status == 200
            seen.extend(label["uri"] for label in page["labels"])
            assert all(set(label["sig"]) == {"$bytes"} for label in page["labels"])
            if "cursor" not in page:
                break
            cursor = f"&cursor={page['cursor']}"
        assert seen == [post_uri(i) for i in range(23)]
        status, page = http_get(port, f"/xrpc/com.atproto.label.queryLabels?uriPatterns={post_uri(4)}")
        assert [label["uri"] for label in page["labels"]] == [post_uri(4)] and "cursor" not in page
        many = "&".join(f"uriPatterns=at://did:plc:a{i}/*" for i in range(51))
        for query in (
            "",  # no patterns
            "uriPatterns=*",
            "uriPatterns=at://*",
            "uriPatterns=at://did:plc:*",
            "uriPatterns=at://did:plc:x*/y",
            f"{pattern}&limit=1000",
            f"{pattern}&limit=0",
            f"{pattern}&limit=-3",
            f"{pattern}&cursor=abc",
            f"{pattern}&sources=notadid",
            f"{pattern}&color=blue",
            many,
        ):
            status, error = http_get(port, f"/xrpc/com.atproto.label.queryLabels?{query}")
            assert status == 400 and error["error"] == "InvalidRequest" and error["message"], query
        assert http_get(port, "/xrpc/com.atproto.label.nope")[0] == 501
        assert http_get(port, "/nothing-here")[0] == 404
        assert service.stats.bad_requests == 14


def _silent_subscriber(port: int, cursor: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET {SUBSCRIBE}?cursor={cursor} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


def test_a_client_that_never_reads_is_cut_off_and_others_are_served(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    key = SigningKey.generate()
    fill_store(store, None, 40_000)  # ~10 MB of frames: more than the socket buffers hold
    limits = ServiceLimits(stall_timeout_s=1.0, max_pending_frames=500)
    with running_service(store, key.multikey, limits) as (service, port):
        silent = _silent_subscriber(port, 0)
        try:
            assert len(_collect(port, 39_990, 10)) == 10  # served while the silent one stalls
            deadline = time.monotonic() + 20
            while service.stats.slow_disconnects == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert service.stats.slow_disconnects == 1
            assert len(service.subscribers) == 0 or all(
                s.connection is not None and s.pending_frames <= limits.max_pending_frames
                for s in service.subscribers
            )
        finally:
            silent.close()


def test_a_live_subscriber_that_falls_behind_gets_an_error_frame(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    key = SigningKey.generate()
    limits = ServiceLimits(stall_timeout_s=30.0, max_pending_frames=200)
    with running_service(store, key.multikey, limits) as (service, port):
        with connect(f"ws://127.0.0.1:{port}{SUBSCRIBE}", max_queue=4) as ws:
            time.sleep(0.3)
            fill_store(store, None, 20_000)  # arrives live far faster than this client reads
            frames: list[tuple[dict[str, Any], dict[str, Any]]] = []
            with pytest.raises(Exception):  # noqa: B017 - the server closes after the error frame
                while True:
                    time.sleep(0.001 if len(frames) % 50 else 0.05)
                    frames.append(decode_dag_multi(ws.recv(timeout=20)))
        assert frames[-1][0] == {"op": -1} and frames[-1][1]["error"] == "ConsumerTooSlow"
        assert 0 < len(frames) < 20_000
        assert service.stats.slow_disconnects == 1


def test_the_service_record_validates_as_an_atproto_record() -> None:
    from fraud_pipeline.labeler.commands import service_record

    record = service_record()
    model = atproto_models.AppBskyLabelerService.Record.model_validate(record)
    assert model.policies.label_values == ["phishing", "scam", "spam-campaign"]
    definitions = {d.identifier: d for d in model.policies.label_value_definitions or []}
    assert definitions["scam"].severity == "alert" and definitions["scam"].locales[0].lang == "en"


def test_a_client_leaving_mid_replay_ends_only_its_own_stream(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqliteLabelStore(tmp_path / "labels.sqlite")
    fill_store(store, None, 30_000)
    with running_service(store, SigningKey.generate().multikey) as (service, port):
        for _ in range(3):
            sock = _silent_subscriber(port, 0)
            assert sock.recv(4096)  # the handshake answer and the first frames: replay has begun
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()  # reset mid-replay
        assert [b["seq"] for b in _collect(port, 29_995, 5)] == list(range(29_996, 30_001))
        deadline = time.monotonic() + 20
        while service.subscribers and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not service.subscribers and service.stats.subscribers == 4


def test_account_labels_reach_a_subscribe_labels_client(local_settings: Settings) -> None:
    """An account record with `action = label` becomes a label whose subject is the DID (no cid),
    served by subscribeLabels and queryLabels; the account cleared later becomes a negation. A
    record calling itself an account record without a DID goes to errors."""
    from fraud_pipeline.accounts.lake_table import account_record
    from fraud_pipeline.accounts.tracker import AccountVerdict

    scammer, other = "did:plc:scammeraccount000000000", "did:plc:reviewedaccount00000000"

    def record(did: str, action: str, t: int) -> bytes:
        verdict_ = AccountVerdict(did, t, 0.8, action, ("profile_services", "reply_flood:20"), None)
        return account_record(verdict_, t + 1, ["scam-account"]).to_json()

    t0 = 1_764_000_000_000_000
    bad = orjson.dumps(
        {"uri": "at://did:plc:x/app.bsky.feed.post/1", "operation": "account", "action": "label"}
    )
    put_tagged(local_settings, [record(scammer, "label", t0), record(other, "review", t0), bad])
    worker = worker_for(local_settings)
    drain(worker)
    assert worker.stats.bad_records == 1 and worker.stats.labels == 1
    multikey = worker.store.get_meta(SIGNING_KEY_META)
    assert multikey is not None
    with running_service(worker.store, multikey) as (_service, port):
        _, document = http_get(port, "/.well-known/did.json")
        (first,) = _collect(port, 0, 1)
        (label,) = first["labels"]
        assert (label["uri"], label["val"], label.get("neg", False)) == (scammer, "scam", False)
        assert "cid" not in label and _verifies(document, label)
        live: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: live.extend(_collect(port, first["seq"], 1)), daemon=True)
        thread.start()
        time.sleep(0.5)
        put_tagged(local_settings, [record(scammer, "none", t0 + 60_000_000)])
        drain(worker)
        thread.join(30)
        (negation,) = live[0]["labels"]
        assert (negation["uri"], negation["val"], negation["neg"]) == (scammer, "scam", True)
        assert _verifies(document, negation)
        status, page = http_get(port, f"/xrpc/com.atproto.label.queryLabels?uriPatterns={scammer}")
        assert status == 200 and [(x["uri"], x.get("neg", False)) for x in page["labels"]] == [
            (scammer, True)
        ]
