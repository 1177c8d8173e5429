"""The synthetic capture generator: real-looking identifiers, offsets, campaigns, determinism."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from pathlib import Path

import libipld
import orjson
import pytest
from click.testing import CliRunner

from fraud_pipeline.ingest.normalize import normalize
from fraud_pipeline.ingest.replay import read_lines
from fraud_pipeline.ingest.synth import (
    B32_SORTABLE,
    LabeledText,
    facets_for,
    labels_path_for,
    load_texts,
    record_cid,
    synthesize,
    tid,
)

TEXTS = [LabeledText(f"hello world number {i} #daily", 0) for i in range(50)] + [
    LabeledText("Free ETH giveaway! claim at https://eth-claim.xyz/now before it ends", 1),
    LabeledText("Your wallet is locked, verify at walletfix.top today", 1),
    LabeledText("U have won a prize, call now", 1),
]


def test_tid_is_13_sortable_chars_of_time_and_clock() -> None:
    a, b = tid(1_732_000_000_000_000, 5), tid(1_732_000_000_000_001, 0)
    assert len(a) == 13 and set(a) <= set(B32_SORTABLE) and a < b
    value = 0
    for ch in a:
        value = value * 32 + B32_SORTABLE.index(ch)
    assert value >> 10 == 1_732_000_000_000_000 and value & 0x3FF == 5


def test_record_cid_is_cidv1_dag_cbor_sha256() -> None:
    record = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-01T00:00:00.000Z"}
    cid = record_cid(record)
    raw = base64.b32decode(cid[1:].upper() + "=" * (-len(cid[1:]) % 8))
    assert cid.startswith("bafyrei") and raw[:4] == bytes([1, 0x71, 0x12, 0x20])
    assert raw[4:] == hashlib.sha256(libipld.encode_dag_cbor(record)).digest()
    assert libipld.decode_cid(cid)["codec"] == 0x71


def test_facets_have_utf8_byte_offsets() -> None:
    text = "café ☕ see https://x.io/a and @bob.bsky.social #Tea"
    facets = facets_for(text, {"bob.bsky.social": "did:plc:bob"})
    data = text.encode()
    spans = {f["features"][0]["$type"].rsplit("#", 1)[1]: f["index"] for f in facets}
    assert data[spans["link"]["byteStart"] : spans["link"]["byteEnd"]] == b"https://x.io/a"
    assert data[spans["mention"]["byteStart"] : spans["mention"]["byteEnd"]] == b"@bob.bsky.social"
    assert data[spans["tag"]["byteStart"] : spans["tag"]["byteEnd"]] == b"#Tea"
    assert facets_for("pay at walletfix.top", {})[0]["features"][0]["uri"] == "https://walletfix.top"


def test_stream_has_every_kind_valid_ids_and_campaigns() -> None:
    events = list(synthesize(TEXTS, 4500, seed=3, rate=5))
    kinds = Counter(e["kind"] if e["kind"] != "commit" else e["commit"]["collection"] for e, _ in events)
    assert {"identity", "account", "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost",
            "app.bsky.graph.follow"} <= set(kinds)  # fmt: skip
    ops = Counter(e["commit"]["operation"] for e, _ in events if e["kind"] == "commit")
    assert ops["delete"] > 0 and ops["update"] > 0
    times = [e["time_us"] for e, _ in events]
    assert times == sorted(times) and len(set(times)) == len(times)
    # mean gap near 1/rate (Poisson arrivals at 5/s): loose bounds, 4500 samples
    assert 0.18 < (times[-1] - times[0]) / len(times) / 1e6 < 0.22
    did_re = re.compile(r"^did:plc:[a-z2-7]{24}$")
    assert all(did_re.match(e["did"]) for e, _ in events)

    posts = [(e, label) for e, label in events if label is not None]
    results = [normalize(orjson.dumps(e)) for e, _ in posts]
    assert all(r.kind == "post" for r in results)
    embeds = Counter(r.post.embed_kind for r in results if r.post)
    assert {"images", "video", "external", "record", "recordWithMedia"} <= set(embeds)
    assert 0.04 < embeds["images"] / len(results) < 0.12
    assert any(r.post and r.post.reply_parent for r in results)

    campaigns: dict[str, list[tuple[dict, object]]] = {}
    for event, label in posts:
        if label.campaign_id:
            campaigns.setdefault(label.campaign_id, []).append((event, label))
    assert len(campaigns) >= 2
    for members in list(campaigns.values())[:-1]:  # the last may still be running at the end
        assert len(members) >= 8
        assert len({e["did"] for e, _ in members}) == len(members)  # one post per fresh account
        span_s = (members[-1][0]["time_us"] - members[0][0]["time_us"]) / 1e6
        assert span_s < 15 * 60  # within minutes
        urls = {normalize(orjson.dumps(e)).post.links[0] for e, _ in members}  # type: ignore[union-attr]
        assert len(urls) > 1  # URL variants
        assert all(label.label == 1 for _, label in members)  # type: ignore[attr-defined]


def test_same_seed_same_bytes_and_cli_writes_labels(tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_bytes(
        b"".join(orjson.dumps({"text": t.text, "label": t.label}) + b"\n" for t in TEXTS) + b"not json\n"
    )
    assert len(load_texts([texts])) == len(TEXTS)
    runner = CliRunner()
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl.zst"
        result = runner.invoke(
            __import__("fraud_pipeline.ingest.commands", fromlist=["synth"]).synth,
            ["--events", "600", "--seed", "9", "--texts", str(texts), "--rate", "30", "--out", str(out)],
        )
        assert result.exit_code == 0, result.output
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    labels = [orjson.loads(line) for line in labels_path_for(outs[0]).read_bytes().splitlines()]
    lines = list(read_lines(outs[0]))
    assert len(lines) == 600
    post_uris = {
        normalize(line).post.uri  # type: ignore[union-attr]
        for line in lines
        if normalize(line).kind == "post" and orjson.loads(line)["commit"]["operation"] == "create"
    }
    assert {row["uri"] for row in labels} == post_uris
    assert labels_path_for(tmp_path / "x.jsonl") == tmp_path / "x.labels.jsonl"


def test_needs_both_labels() -> None:
    with pytest.raises(ValueError, match="both labels"):
        list(synthesize([LabeledText("only benign", 0)], 10))


def test_campaign_shapes_and_benign_repetition() -> None:
    from fraud_pipeline.ingest.synth import BENIGN_SHAPES, CAMPAIGN_SHAPES, Synthesizer

    synth = Synthesizer(TEXTS, seed=5, rate=20, campaign_every=300, benign_every=300, benign_after_s=60)
    posts = {}
    for event, label in synth.events(9000):
        if label is not None:
            result = normalize(orjson.dumps(event))
            assert result.post is not None
            posts[label.uri] = (result.post, label)
    groups: dict[str, list] = {}
    for post, label in posts.values():
        key = label.campaign_id or label.group_id
        if key:
            groups.setdefault(key, []).append((post, label))
    shapes = {members[0][1].shape for members in groups.values()}
    assert set(CAMPAIGN_SHAPES) | set(BENIGN_SHAPES) <= shapes
    organic = {a.did for a in synth.accounts[: synth.organic_count]}
    for members in groups.values():
        shape, label = members[0][1].shape, members[0][1].label
        dids = [p.did for p, _ in members]
        assert len(set(dids)) == len(dids)
        if shape in CAMPAIGN_SHAPES:
            assert label == 1 and not set(dids) & organic and all(p.links for p, _ in members)
        else:
            assert label == 0 and set(dids) <= organic  # accounts with a history
        if shape in ("image_reuse", "meme"):
            assert len({tuple(p.media_cids) for p, _ in members}) == 1 and members[0][0].media_cids
        if shape == "near_duplicate" and len(members) > 5:
            assert len({p.text.rsplit(" ", 1)[0] for p, _ in members}) > 1  # the wording varies
        if shape == "rotated_domains" and len(members) > 5:
            assert len({p.domains[0] for p, _ in members}) > len(members) // 2
        if shape in ("greeting", "lyrics", "meme"):
            assert not any(p.links for p, _ in members)
