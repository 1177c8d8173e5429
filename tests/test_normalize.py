"""The normalizer: every post shape Jetstream sends, and every kind of bad input."""

from __future__ import annotations

import json

import orjson
import pytest

from fraud_pipeline.ingest.normalize import (
    FLAG_BAD_FIELD,
    FLAG_TRUNCATED,
    FLAG_UNKNOWN_EMBED,
    MAX_TEXT_CHARS,
    domain_of,
    normalize,
    normalize_event,
)
from fraud_pipeline.records import Post
from tests.ingest_fixtures import DID, post_event, raw

IMG_CID = "bafkreihq2gtl6ufwbr7ejbyrhdnjhqgm4mpumaqb3jvcfbfqsrpfcfwpbe"
VID_CID = "bafkreiaxkvwgxkq5b3ksvzdaqkbfm6buztiywofuu5bjxnn3lttxzmi6ra"


def blob(cid: str, mime: str = "image/jpeg") -> dict:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": 1234}


def test_plain_post_round_trips_through_json() -> None:
    result = normalize(raw(post_event("Hello there", langs=["en", "pt"])))
    assert result.kind == "post" and result.flags == ()
    post = result.post
    assert post is not None
    assert post.uri == f"at://{DID}/app.bsky.feed.post/3lbabcdefgh22"
    assert (post.did, post.rkey, post.operation, post.text) == (DID, "3lbabcdefgh22", "create", "Hello there")
    assert post.langs == ["en", "pt"]
    assert post.created_at == "2024-11-20T10:00:00.000Z" and post.time_us == 1_732_000_000_000_000
    assert post.embed_kind is None and post.media_paths == []
    assert Post.from_json(post.to_json()) == post


def test_facets_links_mentions_tags() -> None:
    text = "see https://Scam.Example.COM/x and @bob.bsky.social #Crypto"
    facets = [
        {
            "index": {"byteStart": 4, "byteEnd": 33},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://Scam.Example.COM/x"}],
        },
        {
            "index": {"byteStart": 38, "byteEnd": 54},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bob"}],
        },
        {"index": {}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Crypto"}]},
        {"features": [{"$type": "app.bsky.richtext.facet#somethingNew", "x": 1}]},
    ]
    post = normalize(raw(post_event(text, facets=facets, tags=["giveaway", "Crypto"]))).post
    assert post is not None
    assert post.links == ["https://Scam.Example.COM/x"]
    assert post.domains == ["scam.example.com"]
    assert post.mentions == ["did:plc:bob"]
    assert post.tags == ["Crypto", "giveaway"]


def test_images_embed_with_alt_and_cdn_paths() -> None:
    embed = {
        "$type": "app.bsky.embed.images",
        "images": [
            {"alt": "a wallet", "image": blob(IMG_CID)},
            {"image": {"cid": "bafkreilegacy", "mimeType": "image/png"}},  # legacy blob
            {"alt": "no blob"},
        ],
    }
    post = normalize(raw(post_event("pic", embed=embed))).post
    assert post is not None
    assert post.embed_kind == "images"
    assert post.media_kinds == ["image", "image"]
    assert post.media_cids == [IMG_CID, "bafkreilegacy"]
    assert post.media_alts == ["a wallet", ""]
    assert post.media_paths[0] == f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{IMG_CID}@jpeg"


def test_video_embed() -> None:
    embed = {"$type": "app.bsky.embed.video", "video": blob(VID_CID, "video/mp4"), "alt": "clip"}
    post = normalize(raw(post_event("vid", embed=embed))).post
    assert post is not None
    assert post.embed_kind == "video" and post.media_kinds == ["video"]
    assert post.media_paths == [f"https://video.bsky.app/watch/{DID}/{VID_CID}/playlist.m3u8"]
    assert post.media_alts == ["clip"]


def test_external_embed_adds_link_and_domain() -> None:
    embed = {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://user:pw@Claim-Now.io:8443/a?b=1",
            "title": "Claim",
            "description": "free tokens",
            "thumb": blob(IMG_CID),
        },
    }
    facets = [{"features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://other.net/"}]}]
    post = normalize(raw(post_event("x", embed=embed, facets=facets))).post
    assert post is not None
    assert post.embed_kind == "external"
    assert post.external_uri == "https://user:pw@Claim-Now.io:8443/a?b=1"
    assert (post.external_title, post.external_description) == ("Claim", "free tokens")
    assert post.links == ["https://other.net/", "https://user:pw@Claim-Now.io:8443/a?b=1"]
    assert post.domains == ["other.net", "claim-now.io"]
    assert post.media_paths == []  # a link card thumbnail is not post media


def test_quote_and_record_with_media() -> None:
    quote = {"uri": "at://did:plc:x/app.bsky.feed.post/3kq", "cid": "bafyq"}
    post = normalize(raw(post_event("q", embed={"$type": "app.bsky.embed.record", "record": quote}))).post
    assert post is not None and post.embed_kind == "record" and post.quote_uri == quote["uri"]

    embed = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"$type": "app.bsky.embed.record", "record": quote},
        "media": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob(IMG_CID)}]},
    }
    post = normalize(raw(post_event("qm", embed=embed))).post
    assert post is not None
    assert post.embed_kind == "recordWithMedia"
    assert post.quote_uri == quote["uri"]
    assert post.media_cids == [IMG_CID] and post.media_kinds == ["image"]


def test_unknown_embed_is_flagged_not_dropped() -> None:
    result = normalize(raw(post_event("x", embed={"$type": "app.bsky.embed.hologram", "data": 1})))
    assert result.kind == "post" and result.post is not None
    assert result.post.embed_kind == "unknown"
    assert FLAG_UNKNOWN_EMBED in result.flags


def test_reply_refs() -> None:
    reply = {
        "root": {"uri": "at://did:plc:r/app.bsky.feed.post/1", "cid": "c1"},
        "parent": {"uri": "at://did:plc:p/app.bsky.feed.post/2", "cid": "c2"},
    }
    post = normalize(raw(post_event("re", reply=reply))).post
    assert post is not None
    assert post.reply_root == "at://did:plc:r/app.bsky.feed.post/1"
    assert post.reply_parent == "at://did:plc:p/app.bsky.feed.post/2"


def test_delete_and_update() -> None:
    result = normalize(raw(post_event(operation="delete")))
    assert result.kind == "delete" and result.post is not None
    assert result.post.operation == "delete" and result.post.text == "" and result.post.cid is None
    result = normalize(raw(post_event("edited", operation="update")))
    assert result.kind == "post" and result.post is not None and result.post.operation == "update"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"did": DID, "time_us": 1, "kind": "identity", "identity": {}}, "identity"),
        ({"did": DID, "time_us": 1, "kind": "account", "account": {}}, "account"),
        ({"did": DID, "time_us": 1, "kind": "sync"}, "unknown_kind"),
        (
            {
                "did": DID,
                "time_us": 1,
                "kind": "commit",
                "commit": {"operation": "create", "collection": "app.bsky.feed.like", "rkey": "k"},
            },
            "other_collection",
        ),
    ],
)
def test_non_posts_are_skipped_with_reason(event: dict, reason: str) -> None:
    result = normalize(raw(event))
    assert (result.kind, result.reason, result.post) == ("skipped", reason, None)


def _broken(path: tuple[str, ...], value: object) -> bytes:
    event = post_event("x")
    target = event
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw(event)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1,2]", "not_an_object"),
        (b'"str"', "not_an_object"),
        (_broken(("kind",), KeyError), "missing_kind"),
        (_broken(("commit",), KeyError), "missing_commit"),
        (_broken(("commit",), "x"), "missing_commit"),
        (_broken(("commit", "collection"), 5), "missing_collection"),
        (_broken(("did",), KeyError), "missing_did"),
        (_broken(("did",), 42), "missing_did"),
        (_broken(("time_us",), "123"), "missing_time_us"),
        (_broken(("time_us",), True), "missing_time_us"),
        (_broken(("commit", "rkey"), ""), "missing_rkey"),
        (_broken(("commit", "operation"), "upsert"), "bad_operation"),
        (_broken(("commit", "record"), KeyError), "missing_record"),
        (_broken(("commit", "record", "text"), {"a": 1}), "text_not_string"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_malformed_events_get_a_reason(data: bytes, reason: str) -> None:
    result = normalize(data)
    assert (result.kind, result.reason, result.post) == ("malformed", reason, None)


def test_deeply_nested_record_does_not_raise() -> None:
    nested: object = {"$type": "app.bsky.embed.record"}
    for _ in range(500):
        nested = {"record": nested}
    event = post_event("deep", embed={"$type": "app.bsky.embed.record", "record": nested})
    result = normalize(json.dumps(event))  # orjson refuses to encode this deep
    assert result.kind == "post" and result.post is not None and result.post.quote_uri is None


def test_wrong_types_in_optional_fields_are_flagged() -> None:
    result = normalize(
        raw(post_event("x", langs="en", facets={"a": 1}, reply=[1], createdAt=5, embed="img", tags=3))
    )
    assert result.kind == "post" and result.post is not None
    assert result.flags == (FLAG_BAD_FIELD,)
    post = result.post
    assert (post.langs, post.links, post.reply_root, post.created_at) == ([], [], None, None)
    assert post.embed_kind is None
    # odd items inside lists are skipped individually
    facets = [None, {"features": "x"}, {"features": [3, {"$type": 4}]}]
    result = normalize(raw(post_event("x", langs=["en", 7], facets=facets)))
    assert result.post is not None and result.post.langs == ["en"] and result.flags == ()


def test_huge_text_is_truncated_and_flagged() -> None:
    result = normalize(raw(post_event("A" * 1_100_000)))
    assert result.kind == "post" and result.post is not None
    assert len(result.post.text) == MAX_TEXT_CHARS
    assert FLAG_TRUNCATED in result.flags
    assert len(result.post.to_json()) < 100_000


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    data = raw(post_event("PLACEHOLDER")).replace(b"PLACEHOLDER", b"caf\xc3\xa9 \xff\xfe ok")
    result = normalize(data)
    assert result.kind == "post" and result.post is not None
    assert result.post.text == "café \ufffd\ufffd ok"
    # lone surrogate escapes, which orjson refuses, are replaced too
    data = raw(post_event("PLACEHOLDER")).replace(b"PLACEHOLDER", b"a\\ud800b")
    result = normalize(data)
    assert result.kind == "post" and result.post is not None
    assert result.post.text == "a?b"
    orjson.loads(result.post.to_json())


def test_str_input_and_dict_input() -> None:
    event = post_event("s")
    assert normalize(raw(event).decode()).kind == "post"
    assert normalize_event(event).kind == "post"
    assert normalize_event(None).reason == "not_an_object"


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://Example.COM/path", "example.com"),
        ("http://a.b.c:8080", "a.b.c"),
        ("https://u:p@host.io?x=1", "host.io"),
        ("https://host.io.#frag", "host.io"),
        ("http://[::1]:80/x", "[::1]"),
        ("mailto:someone@x.com", None),
        ("https://", None),
    ],
)
def test_domain_of(url: str, domain: str | None) -> None:
    assert domain_of(url) == domain
