"""Links from the dashboard to a post or an account on Bluesky, built only from valid identifiers.

A post's `at://<did>/app.bsky.feed.post/<rkey>` URI and DID come from the firehose, which
anyone can write to; a link built from them by string concatenation could point anywhere
(`javascript:`, another host, a path escape). So the DID and the record key are checked with
the atproto SDK's own syntax validators (`atproto_client.models.string_formats`, the rules of
the atproto DID and record-key specs), the DID method must be one atproto supports (`plc`,
`web`), and each part is percent-encoded into its path segment. Anything else gets no link:
the page shows the identifier as text.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from atproto_client.models import string_formats
from pydantic import TypeAdapter, ValidationError

from fraud_pipeline.records import POST_COLLECTION

BSKY_APP = "https://bsky.app"
# The DID methods atproto accounts use ("blessed" methods of the atproto DID spec).
ATPROTO_DID_METHODS = ("did:plc:", "did:web:")
# The SDK validates string formats only when the caller opts in through this context key.
_STRICT = {"strict_string_format": True}
_DID = TypeAdapter(string_formats.Did)
_RKEY = TypeAdapter(string_formats.RecordKey)
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a % not followed by two hex digits


def valid_did(did: object) -> bool:
    if not isinstance(did, str) or not did.startswith(ATPROTO_DID_METHODS) or _PERCENT.search(did):
        return False
    try:
        _DID.validate_python(did, context=_STRICT)
    except ValidationError:
        return False
    return True


def valid_rkey(rkey: object) -> bool:
    if not isinstance(rkey, str):
        return False
    try:
        _RKEY.validate_python(rkey, context=_STRICT)
    except ValidationError:
        return False
    return True


def _segment(value: str) -> str:
    """One path segment: everything but the unreserved characters and ':' percent-encoded."""
    return quote(value, safe=":")


def account_url(did: object) -> str | None:
    """`https://bsky.app/profile/<did>`, or None for anything that is not an atproto DID."""
    if not valid_did(did):
        return None
    assert isinstance(did, str)
    return f"{BSKY_APP}/profile/{_segment(did)}"


def split_post_uri(uri: object) -> tuple[str, str] | None:
    """(did, rkey) of `at://<did>/app.bsky.feed.post/<rkey>`, or None when it is not one."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or parts[1] != POST_COLLECTION:
        return None
    return parts[0], parts[2]


def subject_did(uri: str) -> str:
    """The account a label's subject belongs to: the DID of an `at://` URI, or the DID itself."""
    return uri[len("at://") :].split("/", 1)[0] if uri.startswith("at://") else uri


def post_url(uri: object) -> str | None:
    """`https://bsky.app/profile/<did>/post/<rkey>` for a valid post URI, else None."""
    parts = split_post_uri(uri)
    if parts is None:
        return None
    did, rkey = parts
    if not valid_did(did) or not valid_rkey(rkey):
        return None
    return f"{BSKY_APP}/profile/{_segment(did)}/post/{_segment(rkey)}"
