"""Jetstream's account-side events -> one `AccountEvent` each (or a counted reason why not).

Scammers are accounts before they are posts: a profile that sells "account recovery" with a
WhatsApp number, a burst of follows, a handle that keeps changing. This module reads the
four event shapes that carry that evidence, with the same care as posts (normalize.py):

- commit on `app.bsky.actor.profile` (create/update/delete): display name, description,
  avatar present;
- commit on `app.bsky.graph.follow` (create/delete): the followed DID;
- `identity` events: the account's (new) handle;
- `account` events: active or not, and the status (takendown, suspended, deleted, ...).

It never raises: whatever arrives ends as `AccountNormalized` with an event, or skipped /
malformed with a constant reason the caller counts (bad records go to the errors prefix).
Free text is capped so one record stays far under a stream record's size limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from fraud_pipeline.records import RecordError

PROFILE_COLLECTION: Final = "app.bsky.actor.profile"
FOLLOW_COLLECTION: Final = "app.bsky.graph.follow"
ACCOUNT_COLLECTIONS: Final = frozenset({PROFILE_COLLECTION, FOLLOW_COLLECTION})

# Lexicon limits: displayName 64 graphemes (640 bytes), description 256 graphemes (2,560
# bytes). Far beyond is abuse or corruption: capped and flagged, not dropped.
MAX_DISPLAY_NAME_CHARS: Final = 640
MAX_DESCRIPTION_CHARS: Final = 2_560
MAX_HANDLE_CHARS: Final = 253  # a DNS name
MAX_DID_CHARS: Final = 400  # did:plc is 32; longer ones are refused (they key state sets)
MAX_STATUS_CHARS: Final = 64

AccountEventKind = Literal["profile", "follow", "identity", "account"]
ACCOUNT_EVENT_KINDS: tuple[str, ...] = ("profile", "follow", "identity", "account")
Outcome = Literal["event", "skipped", "malformed"]

FLAG_TRUNCATED: Final = "truncated"
FLAG_BAD_FIELD: Final = "bad_field"


@dataclass(slots=True)
class AccountEvent:
    """One normalized account-side event; which fields are set depends on `kind`."""

    kind: AccountEventKind
    did: str  # the account the event is about (the author of the commit)
    time_us: int  # Jetstream/relay time (trusted clock)
    operation: str = "create"  # create | update | delete (commits); "create" for identity/account
    display_name: str | None = None  # profile
    description: str | None = None  # profile
    has_avatar: bool = False  # profile
    subject: str | None = None  # follow: the followed DID
    rkey: str | None = None  # follow: the record key (a delete names only this)
    handle: str | None = None  # identity
    active: bool | None = None  # account
    status: str | None = None  # account: takendown | suspended | deleted | deactivated | ...
    ingested_at_us: int = 0

    @property
    def profile_text(self) -> str:
        """Display name and description as one text, for the rules and the text model."""
        return f"{self.display_name or ''}\n{self.description or ''}".strip()

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> AccountEvent:
        """Rebuild from the stream's JSON; raises RecordError when it is not an account event."""
        if payload.get("kind") not in ACCOUNT_EVENT_KINDS:
            raise RecordError(f"not an account event kind: {payload.get('kind')!r}")
        try:
            event = cls(**{k: payload[k] for k in _FIELDS if k in payload})
        except TypeError as exc:
            raise RecordError(f"not an account event: {exc}") from exc
        if type(event.did) is not str or not event.did.startswith("did:"):
            raise RecordError("account event field 'did' must be a DID")
        if type(event.time_us) is not int or event.time_us < 0:
            raise RecordError("account event field 'time_us' must be a non-negative integer")
        return event


_FIELDS: tuple[str, ...] = tuple(AccountEvent.__dataclass_fields__)


def account_event_from_json(data: bytes | str) -> AccountEvent | None:
    """The account event a stream record holds, or None when it is not one (a post, garbage).

    Raises RecordError when the record says it is an account event but is not a valid one.
    """
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(payload) is not dict or "uri" in payload or payload.get("kind") not in ACCOUNT_EVENT_KINDS:
        return None
    return AccountEvent.from_dict(payload)


@dataclass(slots=True, frozen=True)
class AccountNormalized:
    """What became of one event: an AccountEvent, or skipped / malformed with a reason."""

    outcome: Outcome
    event: AccountEvent | None = None
    reason: str = ""
    flags: tuple[str, ...] = ()


SKIP_NOT_ACCOUNT: Final = AccountNormalized("skipped", reason="not_account_event")


def _malformed(reason: str) -> AccountNormalized:
    return AccountNormalized("malformed", reason=reason)


def _capped(value: Any, limit: int, flags: list[str]) -> str | None:
    """A string field capped at `limit`; a wrong type is flagged and read as missing."""
    if value is None:
        return None
    if type(value) is not str:
        flags.append(FLAG_BAD_FIELD)
        return None
    if len(value) > limit:
        flags.append(FLAG_TRUNCATED)
        return value[:limit]
    return value


def normalize_account_event(event: Any) -> AccountNormalized:
    """Normalize one decoded Jetstream event; events about posts or other things are skipped."""
    try:
        return _normalize(event)
    except RecursionError:
        return _malformed("too_deep")
    except Exception as exc:  # never raise out of the normalizer; say what broke
        return _malformed(f"internal_error:{type(exc).__name__}")


def _normalize(event: Any) -> AccountNormalized:
    if type(event) is not dict:
        return _malformed("not_an_object")
    kind = event.get("kind")
    if kind == "commit":
        commit = event.get("commit")
        if type(commit) is not dict or commit.get("collection") not in ACCOUNT_COLLECTIONS:
            return SKIP_NOT_ACCOUNT
    elif kind != "identity" and kind != "account":
        return SKIP_NOT_ACCOUNT
    did = event.get("did")
    if type(did) is not str or not did.startswith("did:") or len(did) > MAX_DID_CHARS:
        return _malformed("missing_did")
    time_us = event.get("time_us")
    if type(time_us) is not int or time_us < 0:
        return _malformed("missing_time_us")
    if kind == "identity":
        return _identity(event.get("identity"), did, time_us)
    if kind == "account":
        return _account(event.get("account"), did, time_us)
    return _commit(event["commit"], did, time_us)


def _identity(body: Any, did: str, time_us: int) -> AccountNormalized:
    if type(body) is not dict:
        return _malformed("missing_identity")
    handle = body.get("handle")
    if handle is not None and (type(handle) is not str or not handle or len(handle) > MAX_HANDLE_CHARS):
        return _malformed("bad_handle")
    return AccountNormalized(
        "event", AccountEvent("identity", did, time_us, handle=handle.lower() if handle else None)
    )


def _account(body: Any, did: str, time_us: int) -> AccountNormalized:
    if type(body) is not dict:
        return _malformed("missing_account")
    active = body.get("active")
    if type(active) is not bool:
        return _malformed("bad_active")
    flags: list[str] = []
    status = _capped(body.get("status"), MAX_STATUS_CHARS, flags)
    return AccountNormalized(
        "event", AccountEvent("account", did, time_us, active=active, status=status), flags=tuple(flags)
    )


def _commit(commit: dict[str, Any], did: str, time_us: int) -> AccountNormalized:
    collection = commit["collection"]
    operation = commit.get("operation")
    if operation not in ("create", "update", "delete"):
        return _malformed("bad_operation")
    rkey = commit.get("rkey")
    if type(rkey) is not str or not rkey or len(rkey) > 512:
        return _malformed("missing_rkey")
    if collection == FOLLOW_COLLECTION:
        if operation == "delete":
            return AccountNormalized("event", AccountEvent("follow", did, time_us, "delete", rkey=rkey))
        record = commit.get("record")
        if type(record) is not dict:
            return _malformed("missing_record")
        subject = record.get("subject")
        if type(subject) is not str or not subject.startswith("did:") or len(subject) > MAX_DID_CHARS:
            return _malformed("bad_follow_subject")
        return AccountNormalized(
            "event", AccountEvent("follow", did, time_us, operation, subject=subject, rkey=rkey)
        )
    # app.bsky.actor.profile: one record per account (rkey "self").
    if operation == "delete":
        return AccountNormalized("event", AccountEvent("profile", did, time_us, "delete"))
    record = commit.get("record")
    if type(record) is not dict:
        return _malformed("missing_record")
    flags: list[str] = []
    display_name = _capped(record.get("displayName"), MAX_DISPLAY_NAME_CHARS, flags)
    description = _capped(record.get("description"), MAX_DESCRIPTION_CHARS, flags)
    avatar = record.get("avatar")
    if avatar is not None and type(avatar) is not dict:
        flags.append(FLAG_BAD_FIELD)
    profile = AccountEvent(
        "profile",
        did,
        time_us,
        operation,
        display_name=display_name,
        description=description,
        has_avatar=type(avatar) is dict,
    )
    return AccountNormalized("event", profile, flags=tuple(dict.fromkeys(flags)))
