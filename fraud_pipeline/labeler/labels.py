"""The atproto label (`com.atproto.label.defs#label`) and its wire forms.

A label is signed over the DAG-CBOR encoding of the label without `sig` (with `ver: 1`,
absent optional fields left out, `neg` only when true), exactly as the atproto labeler
spec says, so any atproto client can verify it against the key in the labeler's DID
document. The signed label is stored as its DAG-CBOR bytes: a `subscribeLabels` frame is
then a few header bytes around them, and replay never re-encodes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import libipld

LABEL_VERSION = 1
MAX_VAL_CHARS = 128  # com.atproto.label.defs#label.val maxLength


class Signer(Protocol):
    def sign(self, data: bytes) -> bytes:
        """A compact (r || s, 64 bytes), low-S ECDSA signature over sha256(data)."""
        ...


def atproto_datetime(moment: datetime) -> str:
    """Millisecond-precision UTC with a trailing Z, the form atproto services emit."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Label:
    """One label, unsigned (`sig` empty) or signed."""

    src: str
    uri: str
    val: str
    cts: str
    cid: str | None = None
    neg: bool = False
    exp: str | None = None
    sig: bytes = b""

    def unsigned_dict(self) -> dict[str, Any]:
        """The object that is signed: every present field but `sig`, `ver: 1` included."""
        body: dict[str, Any] = {"ver": LABEL_VERSION, "src": self.src, "uri": self.uri, "val": self.val}
        if self.cid is not None:
            body["cid"] = self.cid
        if self.neg:
            body["neg"] = True
        body["cts"] = self.cts
        if self.exp is not None:
            body["exp"] = self.exp
        return body

    def signing_bytes(self) -> bytes:
        return bytes(libipld.encode_dag_cbor(self.unsigned_dict()))

    def signed(self, signer: Signer) -> Label:
        return Label(
            self.src,
            self.uri,
            self.val,
            self.cts,
            self.cid,
            self.neg,
            self.exp,
            signer.sign(self.signing_bytes()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The label as a DAG-CBOR data model object (`sig` as bytes)."""
        body = self.unsigned_dict()
        if self.sig:
            body["sig"] = self.sig
        return body

    def to_cbor(self) -> bytes:
        return bytes(libipld.encode_dag_cbor(self.to_dict()))

    @classmethod
    def from_cbor(cls, data: bytes) -> Label:
        body = libipld.decode_dag_cbor(data)
        return cls(
            src=body["src"],
            uri=body["uri"],
            val=body["val"],
            cts=body["cts"],
            cid=body.get("cid"),
            neg=bool(body.get("neg", False)),
            exp=body.get("exp"),
            sig=bytes(body.get("sig", b"")),
        )


def label_json(label_cbor: bytes) -> dict[str, Any]:
    """A stored label in atproto's JSON form (bytes as `{"$bytes": base64}`, as XRPC answers carry them)."""
    body = libipld.decode_dag_cbor(label_cbor)
    sig = body.get("sig")
    if isinstance(sig, bytes):
        body["sig"] = {"$bytes": base64.b64encode(sig).decode().rstrip("=")}
    return dict(body)


# -- the event-stream framing of com.atproto.label.subscribeLabels ------------------------
# Each websocket message is two concatenated DAG-CBOR objects: a header ({op, t}) and a body.
_LABELS_HEADER = bytes(libipld.encode_dag_cbor({"op": 1, "t": "#labels"}))
_INFO_HEADER = bytes(libipld.encode_dag_cbor({"op": 1, "t": "#info"}))
_ERROR_HEADER = bytes(libipld.encode_dag_cbor({"op": -1}))
# The #labels body {"seq": N, "labels": [label]}: DAG-CBOR orders map keys by length, so
# "seq" comes first; the label bytes are appended as the one element of the array.
_SEQ_KEY = bytes(libipld.encode_dag_cbor("seq"))
_LABELS_KEY_ONE = bytes(libipld.encode_dag_cbor("labels")) + b"\x81"


def labels_frame(seq: int, label_cbor: bytes) -> bytes:
    """A `#labels` message carrying one stored label under its sequence number."""
    return (
        _LABELS_HEADER
        + b"\xa2"
        + _SEQ_KEY
        + bytes(libipld.encode_dag_cbor(seq))
        + _LABELS_KEY_ONE
        + label_cbor
    )


def info_frame(name: str, message: str) -> bytes:
    return _INFO_HEADER + bytes(libipld.encode_dag_cbor({"name": name, "message": message}))


def error_frame(error: str, message: str) -> bytes:
    return _ERROR_HEADER + bytes(libipld.encode_dag_cbor({"error": error, "message": message}))
