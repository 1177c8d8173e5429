"""Synthetic images: reproducible from a seed, true to their labels, and split into disjoint halves."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from fraud_pipeline.media.synth_images import (
    BENIGN_KINDS,
    CAPTIONS,
    CHART_TITLES,
    FONTS,
    POSTERS,
    SCAM_KINDS,
    TEMPLATES,
    available_fonts,
    benign_image,
    draw_benign_image,
    draw_scam_image,
    drawable,
    image_mix,
    scam_image,
    source_texts,
)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_same_seed_draws_the_same_bytes_and_other_seeds_differ() -> None:
    for split in ("tune", "eval"):
        assert scam_image(11, split=split) == scam_image(11, split=split)
        assert benign_image(11, split=split) == benign_image(11, split=split)
    assert scam_image(11).data != scam_image(12).data
    assert scam_image(11, split="tune").data != scam_image(11, split="eval").data
    one = draw_scam_image(np.random.default_rng(5), "SEND 1 ETH GET 2 ETH BACK", qr_url="https://a.xyz/r")
    two = draw_scam_image(np.random.default_rng(5), "SEND 1 ETH GET 2 ETH BACK", qr_url="https://a.xyz/r")
    assert one == two
    assert draw_benign_image(np.random.default_rng(5), "chart") == draw_benign_image(
        np.random.default_rng(5), "chart"
    )


@pytest.mark.parametrize("kind", SCAM_KINDS)
def test_every_scam_kind_is_a_readable_image_with_its_truth(kind: str) -> None:
    image = scam_image(3, kind=kind, split="eval")
    assert image.label == 1 and image.is_scam and image.kind == kind and image.text
    decoded = _open(image.data)
    assert decoded.format in {"JPEG", "PNG"} and min(decoded.size) >= 250


@pytest.mark.parametrize("kind", BENIGN_KINDS)
def test_every_benign_kind_is_a_readable_image_with_its_truth(kind: str) -> None:
    image = benign_image(3, kind=kind)
    assert image.label == 0 and not image.is_scam and image.kind == kind
    assert _open(image.data).format in {"JPEG", "PNG"}
    assert (image.text == "") == (kind == "photo")


def test_qr_code_drawn_with_segno_decodes_to_the_recorded_url() -> None:
    for seed in range(3):
        image = scam_image(seed, kind="giveaway", with_qr=True)
        assert image.qr_url and image.qr_url.startswith("https://")
        codes = [c.text for c in zxingcpp.read_barcodes(_open(image.data).convert("RGB")) if c.valid]
        assert codes == [image.qr_url]
    poster = benign_image(1, kind="poster")
    assert [c.text for c in zxingcpp.read_barcodes(_open(poster.data).convert("RGB"))] == [poster.qr_url]


def test_tune_and_eval_share_no_text_template_caption_or_font() -> None:
    for label in (0, 1):
        tune, held = set(source_texts(label, "tune")), set(source_texts(label, "eval"))
        assert len(tune) > 100 and len(held) > 100 and not tune & held
    for kind in TEMPLATES["tune"]:
        assert not set(TEMPLATES["tune"][kind]) & set(TEMPLATES["eval"][kind])
    for table in (CAPTIONS, POSTERS, CHART_TITLES):
        assert not set(table["tune"]) & set(table["eval"])  # type: ignore[operator]
    assert not set(FONTS["tune"]) & set(FONTS["eval"])
    assert available_fonts("tune") and available_fonts("eval"), "make system-deps installs the fonts"
    drawn = {split: {scam_image(s, split=split).font for s in range(20)} for split in ("tune", "eval")}
    assert drawn["tune"] <= set(FONTS["tune"]) and drawn["eval"] <= set(FONTS["eval"])
    texts = {
        split: {scam_image(s, split=split, kind="data_text").text for s in range(20)}
        for split in ("tune", "eval")
    }
    assert not texts["tune"] & texts["eval"]


def test_mix_follows_its_proportions() -> None:
    images = list(image_mix(seed=4, count=60, scam_share=0.3, photo_share=0.5))
    kinds = Counter("scam" if i.is_scam else ("photo" if i.kind == "photo" else "other") for i in images)
    assert 8 <= kinds["scam"] <= 30 and 18 <= kinds["photo"] <= 42 and kinds["other"] >= 5
    assert [i.data for i in image_mix(seed=4, count=5)] == [i.data for i in image_mix(seed=4, count=5)]


def test_drawable_drops_emoji_and_keeps_latin_text() -> None:
    assert drawable("🎁 FREE AIRDROP!  Claim 1000 $GIFT") == "FREE AIRDROP! Claim 1000 $GIFT"
    assert drawable("café £79 – now\n\n\nline two") == "café £79 – now\nline two"
