"""One Jetstream event -> one `records.Post` (or a counted reason why not).

The normalizer is the only place that reads the Jetstream wire format
(`{"did","time_us","kind","commit":{"rev","operation","collection","rkey","record","cid"}}`);
the firehose source converts its commits to the same shape, so both sources share it.

It never raises: whatever arrives (bad JSON, invalid UTF-8, wrong types, unknown `$type`,
huge text, deep nesting) ends as a `Normalized` saying post / delete / skipped(reason) /
malformed(reason), and free text is capped so a record stays far under Kinesis' 1 MiB.
It runs per event at >100k posts/s (see benchmarks/bench_ingest.py), so the hot path
avoids per-post allocations it does not need: reasons are constant strings, results for
skips are shared singletons, and optional fields are read only when present.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final, Literal

import orjson

from fraud_pipeline.ingest.links import link_host
from fraud_pipeline.records import POST_COLLECTION, Post

# Caps on free text. Bluesky allows 300 graphemes / 3,000 bytes of post text; anything far
# beyond is abuse or corruption. Worst case (every char a 4-byte code point or escaped) the
# capped fields of one post stay well under 1 MiB; the pipeline still checks the size.
MAX_TEXT_CHARS: Final = 10_000
MAX_FIELD_CHARS: Final = 2_000  # alt text, link-card title/description, URIs
MAX_ITEMS: Final = 32  # links, mentions, tags, media items per post (lexicon allows 4 images)

Kind = Literal["post", "delete", "skipped", "malformed"]

# Flags: things worth counting about an event that was still usable.
FLAG_TRUNCATED: Final = "truncated"
FLAG_UNKNOWN_EMBED: Final = "unknown_embed"
FLAG_BAD_FIELD: Final = "bad_field"  # an optional field had the wrong type and was ignored

EMBED_KINDS: Final = {
    "app.bsky.embed.images": "images",
    "app.bsky.embed.video": "video",
    "app.bsky.embed.external": "external",
    "app.bsky.embed.record": "record",
    "app.bsky.embed.recordWithMedia": "recordWithMedia",
}

IMAGE_CDN: Final = "https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"
VIDEO_CDN: Final = "https://video.bsky.app/watch/{did}/{cid}/playlist.m3u8"

_FACET_LINK: Final = "app.bsky.richtext.facet#link"
_FACET_MENTION: Final = "app.bsky.richtext.facet#mention"
_FACET_TAG: Final = "app.bsky.richtext.facet#tag"
_NO_FLAGS: tuple[str, ...] = ()

# _build constructs Post positionally for speed; fail loudly at import if records.Post changes.
_POSITIONAL = (
    "uri", "did", "rkey", "operation", "time_us", "cid", "created_at", "text", "langs", "links", "domains",
    "mentions", "tags", "reply_root", "reply_parent", "embed_kind", "media_kinds", "media_paths",
    "media_cids",
    "media_alts",
)  # fmt: skip
if tuple(f.name for f in dataclasses.fields(Post))[: len(_POSITIONAL)] != _POSITIONAL:
    raise ImportError("records.Post field order changed: update normalize._build")


class Normalized:
    """What became of one event. `post` is set for kind post and delete."""

    __slots__ = ("flags", "kind", "post", "reason")

    def __init__(
        self, kind: Kind, post: Post | None = None, reason: str = "", flags: tuple[str, ...] = _NO_FLAGS
    ) -> None:
        self.kind = kind
        self.post = post
        self.reason = reason
        self.flags = flags

    def __repr__(self) -> str:
        return f"Normalized({self.kind!r}, reason={self.reason!r}, flags={self.flags!r}, post={self.post!r})"


def _skipped(reason: str) -> Normalized:
    return Normalized("skipped", reason=reason)


def _malformed(reason: str) -> Normalized:
    return Normalized("malformed", reason=reason)


# Shared results for the common non-post outcomes (no allocation per event).
SKIP_IDENTITY: Final = _skipped("identity")
SKIP_ACCOUNT: Final = _skipped("account")
SKIP_UNKNOWN_KIND: Final = _skipped("unknown_kind")
SKIP_OTHER_COLLECTION: Final = _skipped("other_collection")


def decode_event(raw: bytes | str) -> Any:
    """Parse JSON, tolerating invalid UTF-8 and lone surrogates by replacement.

    Raises ValueError (orjson.JSONDecodeError is one) when the input is not JSON at all.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray | memoryview) else raw
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    # Last resort: the stdlib accepts lone surrogate escapes (\\ud800) that orjson refuses;
    # round-trip through UTF-8 with replacement so the strings can be serialized again.
    try:
        value = json.loads(text)
        return orjson.loads(json.dumps(value, ensure_ascii=False).encode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


def normalize(raw: bytes | str) -> Normalized:
    """Normalize one raw Jetstream event (JSON text)."""
    try:
        event = orjson.loads(raw)  # the fast path; decode_event handles the repairs
    except orjson.JSONDecodeError:
        try:
            event = decode_event(raw)
        except ValueError:
            return _malformed("invalid_json")
    return normalize_event(event)


def normalize_event(event: Any) -> Normalized:
    """Normalize one decoded Jetstream event (a dict)."""
    try:
        return _normalize(event)
    except RecursionError:
        return _malformed("too_deep")
    except Exception as exc:  # never raise out of the normalizer; say what broke
        return _malformed(f"internal_error:{type(exc).__name__}")


def _normalize(event: Any) -> Normalized:
    if type(event) is not dict:
        return _malformed("not_an_object")
    kind = event.get("kind")
    if kind != "commit":
        if kind == "identity":
            return SKIP_IDENTITY
        if kind == "account":
            return SKIP_ACCOUNT
        return SKIP_UNKNOWN_KIND if isinstance(kind, str) else _malformed("missing_kind")
    commit = event.get("commit")
    if type(commit) is not dict:
        return _malformed("missing_commit")
    if commit.get("collection") != POST_COLLECTION:
        return (
            SKIP_OTHER_COLLECTION
            if isinstance(commit.get("collection"), str)
            else _malformed("missing_collection")
        )
    did = event.get("did")
    if type(did) is not str or not did.startswith("did:"):
        return _malformed("missing_did")
    time_us = event.get("time_us")
    if type(time_us) is not int or time_us < 0:
        return _malformed("missing_time_us")
    rkey = commit.get("rkey")
    if type(rkey) is not str or not rkey:
        return _malformed("missing_rkey")
    operation = commit.get("operation")
    uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
    cid = commit.get("cid")
    if cid is not None and type(cid) is not str:
        cid = None
    if operation == "delete":
        return Normalized("delete", Post(uri=uri, did=did, rkey=rkey, operation="delete", time_us=time_us))
    if operation != "create" and operation != "update":
        return _malformed("bad_operation")
    record = commit.get("record")
    if type(record) is not dict:
        return _malformed("missing_record")
    text = record.get("text", "")
    if type(text) is not str:
        return _malformed("text_not_string")
    return _build(record, did, rkey, uri, operation, time_us, cid, text)


def _build(
    record: dict[str, Any],
    did: str,
    rkey: str,
    uri: str,
    operation: Literal["create", "update"],
    time_us: int,
    cid: str | None,
    text: str,
) -> Normalized:
    flags: list[str] | None = None
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        flags = [FLAG_TRUNCATED]

    created_at = record.get("createdAt")
    if created_at is not None and type(created_at) is not str:
        created_at = None
        flags = _flag(flags, FLAG_BAD_FIELD)
    elif created_at is not None and len(created_at) > 64:
        created_at = created_at[:64]

    langs: list[str] = []
    raw_langs = record.get("langs")
    if raw_langs is not None:
        if type(raw_langs) is list:
            langs = [lang[:32] for lang in raw_langs[:MAX_ITEMS] if type(lang) is str]
        else:
            flags = _flag(flags, FLAG_BAD_FIELD)

    links: list[str] = []
    mentions: list[str] = []
    tags: list[str] = []
    facets = record.get("facets")
    if facets is not None:
        if type(facets) is list:
            for facet in facets:
                if type(facet) is not dict:
                    continue
                features = facet.get("features")
                if type(features) is not list:
                    continue
                for feature in features:
                    if type(feature) is not dict:
                        continue
                    ftype = feature.get("$type")
                    if ftype == _FACET_LINK:
                        value = feature.get("uri")
                        if type(value) is str and value:
                            links.append(value[:MAX_FIELD_CHARS])
                    elif ftype == _FACET_MENTION:
                        value = feature.get("did")
                        if type(value) is str and value:
                            mentions.append(value[:MAX_FIELD_CHARS])
                    elif ftype == _FACET_TAG:
                        value = feature.get("tag")
                        if type(value) is str and value:
                            tags.append(value[:MAX_FIELD_CHARS])
        else:
            flags = _flag(flags, FLAG_BAD_FIELD)
    record_tags = record.get("tags")
    if record_tags is not None:
        if type(record_tags) is list:
            tags.extend(t[:MAX_FIELD_CHARS] for t in record_tags if type(t) is str and t)
        else:
            flags = _flag(flags, FLAG_BAD_FIELD)

    reply_root = reply_parent = None
    reply = record.get("reply")
    if reply is not None:
        if type(reply) is dict:
            reply_root = _ref_uri(reply.get("root"))
            reply_parent = _ref_uri(reply.get("parent"))
        else:
            flags = _flag(flags, FLAG_BAD_FIELD)

    # Positional, in field order (records.Post): measurably faster than keywords here.
    post = Post(
        uri, did, rkey, operation, time_us, cid, created_at, text, langs, links, [],
        _unique(mentions), _unique(tags), reply_root, reply_parent, None, [], [], [], [],
    )  # fmt: skip
    embed = record.get("embed")
    if embed is not None:
        flags = _embed(post, embed, did, flags, top=True)
    if links:  # facet links, plus the link card's URI appended by _embed
        post.links = links = _unique(links)
        post.domains = _unique([d for d in map(domain_of, links) if d])
    return Normalized("post", post, "", tuple(flags) if flags else _NO_FLAGS)


def _flag(flags: list[str] | None, flag: str) -> list[str]:
    if flags is None:
        return [flag]
    if flag not in flags:
        flags.append(flag)
    return flags


def _unique(values: list[str]) -> list[str]:
    """Order-preserving de-duplication, capped at MAX_ITEMS."""
    if len(values) < 2:
        return values
    return list(dict.fromkeys(values))[:MAX_ITEMS]


def _ref_uri(ref: Any) -> str | None:
    if type(ref) is dict:
        value = ref.get("uri")
        if type(value) is str:
            return value[:MAX_FIELD_CHARS]
    return None


def blob_cid(blob: Any) -> str | None:
    """The CID of a blob: `{"$type":"blob","ref":{"$link":cid}}` or the legacy `{"cid":cid}`."""
    if type(blob) is not dict:
        return None
    ref = blob.get("ref")
    if type(ref) is dict:
        link = ref.get("$link")
        if type(link) is str and link:
            return link[:256]
    elif type(ref) is str and ref:  # some producers flatten the CID link
        return ref[:256]
    legacy = blob.get("cid")
    if type(legacy) is str and legacy:
        return legacy[:256]
    return None


def _embed(post: Post, embed: Any, did: str, flags: list[str] | None, top: bool) -> list[str] | None:
    """Fill the embed fields of `post` from one embed (recursing once for recordWithMedia)."""
    if type(embed) is not dict:
        return _flag(flags, FLAG_BAD_FIELD)
    kind = EMBED_KINDS.get(embed.get("$type"))  # type: ignore[arg-type]
    if top:
        post.embed_kind = kind or "unknown"
    if kind is None:
        return _flag(flags, FLAG_UNKNOWN_EMBED)
    if kind == "images":
        images = embed.get("images")
        if type(images) is not list:
            return _flag(flags, FLAG_BAD_FIELD)
        for image in images[:MAX_ITEMS]:
            if type(image) is not dict:
                continue
            cid = blob_cid(image.get("image"))
            if cid is None:
                continue
            alt = image.get("alt")
            post.media_kinds.append("image")
            post.media_cids.append(cid)
            post.media_paths.append(IMAGE_CDN.format(did=did, cid=cid))
            post.media_alts.append(alt[:MAX_FIELD_CHARS] if type(alt) is str else "")
    elif kind == "video":
        cid = blob_cid(embed.get("video"))
        if cid is None:
            return _flag(flags, FLAG_BAD_FIELD)
        alt = embed.get("alt")
        post.media_kinds.append("video")
        post.media_cids.append(cid)
        post.media_paths.append(VIDEO_CDN.format(did=did, cid=cid))
        post.media_alts.append(alt[:MAX_FIELD_CHARS] if type(alt) is str else "")
    elif kind == "external":
        external = embed.get("external")
        if type(external) is not dict:
            return _flag(flags, FLAG_BAD_FIELD)
        ext_uri = external.get("uri")
        if type(ext_uri) is str and ext_uri:
            post.external_uri = ext_uri[:MAX_FIELD_CHARS]
            post.links.append(post.external_uri)
        title = external.get("title")
        if type(title) is str:
            post.external_title = title[:MAX_FIELD_CHARS]
        description = external.get("description")
        if type(description) is str:
            post.external_description = description[:MAX_FIELD_CHARS]
    elif kind == "record":
        quoted = embed.get("record")
        # embed.record is a strongRef; inside recordWithMedia it is an embed.record itself.
        if type(quoted) is dict and type(quoted.get("record")) is dict:
            quoted = quoted["record"]
        post.quote_uri = _ref_uri(quoted)
    elif kind == "recordWithMedia" and top:
        flags = _embed(
            post, {"$type": "app.bsky.embed.record", "record": embed.get("record")}, did, flags, False
        )
        media = embed.get("media")
        if media is not None:
            flags = _embed(post, media, did, flags, False)
    return flags


def domain_of(url: str) -> str | None:
    """The host a browser would go to for this link (WHATWG parsing, see links.py)."""
    return link_host(url)
