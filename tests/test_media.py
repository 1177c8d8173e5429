"""Image scoring on local bytes: decode guard, OCR, QR codes, blocklist, the `media` CLI."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import orjson
import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from fraud_pipeline.cli import main
from fraud_pipeline.media.decode import MediaRejected, decode_image
from fraud_pipeline.media.reading import glyph_edge_share, grey_range, respace, shrunk, text_edges
from fraud_pipeline.media.scorer import ImageScorer
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.policy.loader import load_policy
from fraud_pipeline.scoring.text_model import load_text_model
from tests.policy_fixtures import edited, write_policy


def _png(image: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def scam_card(text: str, qr_url: str | None = None, size: tuple[int, int] = (820, 420)) -> Image.Image:
    image = Image.new("RGB", size, (250, 246, 235))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    for row, line in enumerate(text.split("\n")):
        draw.text((24, 30 + 56 * row), line, fill=(20, 20, 30), font=font)
    if qr_url:
        code = zxingcpp.create_barcode(qr_url, zxingcpp.BarcodeFormat.QRCode)
        image.paste(
            Image.fromarray(np.asarray(code.to_image(scale=4))).convert("RGB"), (size[0] - 200, size[1] - 200)
        )
    return image


def photo_like(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Smooth colour noise: a photo's texture without text or hard edges."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size (a decompression bomb) with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def scorer() -> ImageScorer:
    return ImageScorer(load_default_policy(), load_text_model())


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    media = load_default_policy().spec.media
    assert media is not None
    return media


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty blob"),
        (b"<html><body>404</body></html>", "unknown magic bytes"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10, "unreadable PNG"),
        (png_header_only(20_000, 20_000), "decompression bomb"),
        (png_header_only(8_000, 8_000), "exceeds the 40000000-pixel cap"),
    ],
    ids=["empty", "html-as-image", "corrupt-png", "20000x20000-png", "over-policy-pixel-cap"],
)
def test_hostile_bytes_are_rejected_with_a_reason(scorer: ImageScorer, data: bytes, reason: str) -> None:
    verdict = scorer.score_bytes(data)
    assert verdict.fraud_media_likelihood is None and not verdict.is_fraud
    assert verdict.unavailable is not None and reason in verdict.unavailable
    assert verdict.reasons == [f"media unavailable: {verdict.unavailable}"]


def test_truncated_jpeg_is_rejected(scorer: ImageScorer) -> None:
    whole = _png(photo_like(1), "JPEG", quality=90)
    verdict = scorer.score_bytes(whole[: len(whole) // 2])
    assert verdict.unavailable is not None and "JPEG" in verdict.unavailable


def test_oversized_blob_is_refused_before_decoding(spec) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MediaRejected, match="byte cap"):
        decode_image(b"\xff\xd8\xff" + b"\x00" * spec.max_bytes, spec)


def test_animated_gif_reads_only_the_frame_cap(spec) -> None:  # type: ignore[no-untyped-def]
    frames = []
    for i in range(300):  # each frame differs, so the encoder keeps all of them
        frame = Image.new("RGB", (32, 32), "white")
        ImageDraw.Draw(frame).rectangle((i % 30, 0, i % 30 + 2, (i // 30) + 2), fill="black")
        frames.append(frame)
    data = _png(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    decoded = decode_image(data, spec)
    assert decoded.total_frames == 300
    assert len(decoded.frames) == spec.max_frames


# --- reading and judging -----------------------------------------------------------------


def test_ocr_reads_a_painted_scam_and_flags_it(scorer: ImageScorer) -> None:
    card = scam_card("SEND 1 ETH AND GET 2 ETH BACK\nGiveaway ends today, connect wallet")
    verdict = scorer.score_bytes(_png(card, "JPEG", quality=80))
    assert "GET 2 ETH" in verdict.ocr_text.upper() and "CONNECT WALLET" in verdict.ocr_text.upper()
    assert verdict.is_fraud, verdict
    assert any("text model" in r or "rule" in r for r in verdict.reasons)


def test_respace_splits_run_together_words_but_not_links() -> None:
    assert respace("SEND1ETHANDGET2ETHBACK") == "SEND 1 ETH AND GET 2 ETH BACK"
    assert (
        respace("today,connectwallet at metamask-verify.xyz") == "today,connect wallet at metamask-verify.xyz"
    )


def test_photo_is_prescreened_and_not_flagged(scorer: ImageScorer) -> None:
    verdict = scorer.score_bytes(_png(photo_like(7), "JPEG", quality=85))
    assert verdict.ocr_skipped and verdict.ocr_text == ""
    assert verdict.fraud_media_likelihood == 0.0 and not verdict.is_fraud


def lit_facade(size: tuple[int, int] = (1000, 700)) -> Image.Image:
    """Walls with rows of lit and dark windows: sharp, aligned, high-contrast specks."""
    rng = np.random.default_rng(3)
    image = Image.new("RGB", size, (150, 170, 200))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 200):
        top = 120 + (x // 200) * 40 % 200
        draw.rectangle((x, top, x + 180, size[1]), fill=(80, 80, 85))
        for wy in range(top + 10, size[1] - 20, 16):
            for wx in range(x + 8, x + 170, 16):
                lit = rng.random() < 0.4
                draw.rectangle((wx, wy, wx + 8, wy + 8), fill=(250, 240, 200) if lit else (10, 10, 20))
    return image


def test_window_grid_passes_the_edge_share_but_is_not_read(scorer: ImageScorer, spec) -> None:  # type: ignore[no-untyped-def]
    """Lit windows are as sharp as letters at thumbnail size, but specks, not letter-tall
    outlines: the glyph test skips OCR where the edge share alone would have paid for it."""
    facade = lit_facade()
    edges = text_edges(facade, spec.prescreen_side, spec.prescreen_step_of_range)
    assert edges.mean() >= spec.prescreen_min_text_edges  # the edge share alone would read it
    assert glyph_edge_share(edges, spec.prescreen_glyph_min_height) < spec.prescreen_min_glyph_edges
    verdict = scorer.score_bytes(_png(facade, "JPEG", quality=90))
    assert verdict.ocr_skipped and verdict.ocr_text == "" and not verdict.is_fraud
    # the same windows with a line of text painted over them are read
    card = facade.copy()
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 0, 1000, 110), fill=(250, 250, 250))  # a caption band, as memes and cards have
    draw.text((30, 10), "SEND 1 ETH GET 2 BACK", fill=(10, 10, 20), font=ImageFont.load_default(size=80))
    edges = text_edges(card, spec.prescreen_side, spec.prescreen_step_of_range)
    assert glyph_edge_share(edges, spec.prescreen_glyph_min_height) >= spec.prescreen_min_glyph_edges
    read = scorer.score_bytes(_png(card, "JPEG", quality=90))
    assert not read.ocr_skipped and "eth" in read.ocr_text.lower()


def test_harmless_caption_is_not_flagged(scorer: ImageScorer) -> None:
    card = scam_card("Sunday hike with the dogs\nthe view from the top was worth it")
    verdict = scorer.score_bytes(_png(card))
    assert not verdict.ocr_skipped and "dogs" in verdict.ocr_text.lower()
    assert not verdict.is_fraud, verdict


def test_qr_code_to_a_listed_domain_is_flagged(tmp_path: Path) -> None:
    files = edited("lists.yaml", "scam_domains: []", "scam_domains: [claim-bonus-now.com]")
    scorer = ImageScorer(load_policy(files), load_text_model())
    image = Image.new("RGB", (400, 400), "white")
    code = zxingcpp.create_barcode("https://claim-bonus-now.com/r/77", zxingcpp.BarcodeFormat.QRCode)
    image.paste(Image.fromarray(np.asarray(code.to_image(scale=5))).convert("RGB"), (80, 80))
    verdict = scorer.score_bytes(_png(image))
    assert verdict.qr_urls == ["https://claim-bonus-now.com/r/77"]
    assert verdict.is_fraud
    assert any("scam_domain (QR code)" in r for r in verdict.reasons), verdict.reasons
    # the same code to an ordinary site is not
    clean = ImageScorer(load_default_policy(), load_text_model()).score_bytes(_png(image))
    assert not clean.is_fraud


def test_a_small_qr_code_on_a_photo_without_text_is_read() -> None:
    """The prescreen gates OCR, not the QR search: a code large enough to scan (3 px modules
    on a 1000 px JPEG photo, no text) is below the prescreen's threshold and still read."""
    scorer = ImageScorer(load_default_policy(), load_text_model())
    photo = photo_like(11, (1000, 750))
    code = zxingcpp.create_barcode("https://claim-bonus-now.com/r/77", zxingcpp.BarcodeFormat.QRCode)
    photo.paste(Image.fromarray(np.asarray(code.to_image(scale=3))).convert("RGB"), (820, 570))
    verdict = scorer.score_bytes(_png(photo, "JPEG", quality=80))
    assert verdict.qr_urls == ["https://claim-bonus-now.com/r/77"], verdict
    plain = scorer.score_bytes(_png(photo_like(11, (1000, 750)), "JPEG", quality=80))
    assert verdict.ocr_skipped and plain.ocr_skipped and plain.qr_urls == []


def test_an_inverted_qr_code_beside_text_is_read() -> None:
    """Where the prescreen sees text the QR search is thorough: a code drawn light on dark
    (zxing-cpp's inverted pass) is read; a frame it skips gets the plain search only."""
    scorer = ImageScorer(load_default_policy(), load_text_model())
    card = scam_card("Scan to claim your bonus\nlimited slots today")
    code = zxingcpp.create_barcode("https://claim-bonus-now.com/r/77", zxingcpp.BarcodeFormat.QRCode)
    inverted = Image.fromarray(255 - np.asarray(code.to_image(scale=4))).convert("RGB")
    card.paste(inverted, (card.width - 200, card.height - 200))
    verdict = scorer.score_bytes(_png(card))
    assert not verdict.ocr_skipped
    assert verdict.qr_urls == ["https://claim-bonus-now.com/r/77"], verdict


def test_grey_range_is_numpys_percentile_span() -> None:
    """The prescreen's grey range from a histogram equals np.percentile's 1st-99th span
    (linear interpolation) exactly, so its decisions are those it was tuned with."""
    rng = np.random.default_rng(3)
    for index in range(300):
        height, width = (int(v) for v in rng.integers(2, 120, 2))
        if index % 3 == 0:
            grey = rng.integers(0, 256, (height, width))
        elif index % 3 == 1:
            grey = rng.normal(rng.uniform(0, 255), rng.uniform(1, 60), (height, width)).clip(0, 255)
        else:
            grey = rng.choice([0, 17, 200, 255], (height, width))
        grey = grey.astype(np.uint8)
        low, high = np.percentile(grey.astype(np.int16), (1, 99))
        assert grey_range(grey) == float(high - low)


def test_blocklisted_image_matches_after_resize_and_recompression(tmp_path: Path) -> None:
    folder = write_policy(tmp_path / "policy", load_default_policy().files)
    original = photo_like(42, (800, 600))
    source = tmp_path / "scam.png"
    original.save(source)
    result = CliRunner().invoke(
        main, ["media", "blocklist", "add", str(source), "--policy", str(folder), "--note", "fake giveaway"]
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["added"] is True
    again = CliRunner().invoke(main, ["media", "blocklist", "add", str(source), "--policy", str(folder)])
    assert orjson.loads(again.output)["added"] is False

    scorer = ImageScorer(
        load_policy({p.name: p.read_bytes() for p in folder.glob("*.yaml")}), load_text_model()
    )
    copy = _png(original.resize((431, 323)), "JPEG", quality=55)
    hit = scorer.score_bytes(copy)
    assert hit.is_fraud and hit.blocklist_distance is not None
    assert any("known scam image" in r and "fake giveaway" in r for r in hit.reasons)
    unrelated = scorer.score_bytes(_png(photo_like(43, (800, 600)), "JPEG", quality=80))
    assert unrelated.blocklist_distance is None and not unrelated.is_fraud


def test_cli_scores_files_as_json_lines(tmp_path: Path) -> None:
    scam = tmp_path / "scam.jpg"
    scam_card("Wallet support: verify your seed phrase\nat metamask-verify.xyz").save(scam, "JPEG")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    result = CliRunner().invoke(main, ["media", "score", str(scam), str(broken), "--json"])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.output.splitlines()]
    assert [r["path"] for r in rows] == [str(scam), str(broken)]
    assert {"path", "fraud_media_likelihood", "is_fraud", "reasons"} <= set(rows[0])
    assert rows[0]["is_fraud"] is True
    assert rows[1]["fraud_media_likelihood"] is None and rows[1]["is_fraud"] is False
    assert "unknown magic bytes" in rows[1]["reasons"][0]


# --- engines and cost ----------------------------------------------------------------------


def test_frames_are_shrunk_to_the_decode_side(spec) -> None:  # type: ignore[no-untyped-def]
    big = _png(photo_like(3, (3000, 1500)), "JPEG", quality=85)
    decoded = decode_image(big, spec)
    assert (decoded.width, decoded.height) == (3000, 1500)  # as declared
    assert max(decoded.frames[0].size) <= spec.decode_max_side
    assert decoded.frames[0].size[0] == 2 * decoded.frames[0].size[1]


def test_frames_shrink_by_whole_factors_and_small_images_keep_their_pixels(spec) -> None:  # type: ignore[no-untyped-def]
    """A PNG over the side is box-reduced by the least whole factor (no bicubic resample);
    an image within the side is decoded pixel for pixel (OCR reads exactly what was sent)."""
    side = spec.decode_max_side
    big = decode_image(_png(photo_like(4, (side * 2 + 10, 300)), "PNG"), spec)
    assert big.frames[0].size == (-(-(side * 2 + 10) // 3), 100)  # factor 3: ceil(2570 / 3) x 100
    small_image = photo_like(5, (side - 80, 400))
    small = decode_image(_png(small_image, "PNG"), spec)
    assert small.frames[0].tobytes() == small_image.convert("RGB").tobytes()


def test_a_still_rgb_image_is_decoded_without_a_copy_and_others_converted(spec) -> None:  # type: ignore[no-untyped-def]
    """A still RGB image's frame is the decoded image itself; a palette, grey or RGBA image
    is converted to RGB, and an animation's frames stay distinct frames."""
    photo = photo_like(6, (300, 200))
    for source in (photo, photo.convert("P"), photo.convert("L"), photo.convert("RGBA")):
        for fmt in ("PNG", "JPEG") if source.mode in ("RGB", "L") else ("PNG",):
            frame = decode_image(_png(source, fmt), spec).frames[0]
            assert frame.mode == "RGB" and frame.size == (300, 200)
            expected = Image.open(io.BytesIO(_png(source, fmt))).convert("RGB")
            assert frame.tobytes() == expected.tobytes()
    first, second = photo_like(7, (64, 48)), scam_card("hi", size=(64, 48))
    buffer = io.BytesIO()
    first.save(buffer, "GIF", save_all=True, append_images=[second], duration=100)
    frames = decode_image(buffer.getvalue(), spec).frames
    assert len(frames) == 2 and frames[0].tobytes() != frames[1].tobytes()


def test_pngs_decode_to_pillows_pixels_whichever_decoder_reads_them(spec) -> None:  # type: ignore[no-untyped-def]
    """Still 8-bit RGB and RGBA PNGs are decoded by libspng (pyspng), the rest by Pillow: the
    frame is Pillow's `convert("RGB")` pixel for pixel either way (alpha dropped, interlaced
    rows, 16-bit samples, palettes, grey), and a truncated or corrupt PNG is still refused."""
    from fraud_pipeline.media import decode

    rng = np.random.default_rng(12)
    rgba = Image.fromarray(rng.integers(0, 255, (90, 130, 4), dtype=np.uint8), "RGBA")
    sources = {
        "rgb": _png(rgba.convert("RGB")),
        "rgba": _png(rgba),
        "interlaced": _png(rgba.convert("RGB"), interlace=1),
        "palette": _png(rgba.convert("RGB").convert("P")),
        "grey": _png(rgba.convert("L")),
        "grey16": _png(Image.fromarray(rng.integers(0, 65535, (90, 130), dtype=np.uint16))),
    }
    for name, data in sources.items():
        frame = decode_image(data, spec).frames[0]
        expected = Image.open(io.BytesIO(data)).convert("RGB")
        assert frame.mode == "RGB" and frame.tobytes() == expected.tobytes(), name
    assert decode._pyspng is not None  # installed with the project: the fast path is taken
    assert decode._png_pixels(sources["rgba"], 130, 90) is not None
    assert decode._png_pixels(sources["palette"], 130, 90) is None  # Pillow's
    with pytest.raises(MediaRejected, match="unreadable PNG"):
        decode_image(sources["rgb"][: len(sources["rgb"]) // 2], spec)
    corrupt = bytearray(sources["rgb"])
    corrupt[60:80] = bytes(20)  # inside the compressed rows
    with pytest.raises(MediaRejected, match="unreadable PNG"):
        decode_image(bytes(corrupt), spec)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_shrunk_is_pillows_thumbnail_pixel_for_pixel(mode: str) -> None:
    """The prescreen's and OCR's shrunk images are `copy().thumbnail()`'s, without the copy."""
    rng = np.random.default_rng(11)
    sizes = [
        (1280, 960),
        (960, 1280),
        (1000, 1000),
        (641, 300),
        (640, 480),
        (300, 2000),
        (2000, 7),
        (5, 3000),
        (257, 256),
    ]
    for width, height in sizes:
        channels = (height, width, 3) if mode == "RGB" else (height, width)
        image = Image.fromarray(rng.integers(0, 255, channels, dtype=np.uint8), mode)
        for side in (256, 384, 640):
            expected = image.copy()
            expected.thumbnail((side, side))
            got = shrunk(image, side)
            assert got.size == expected.size and got.mode == mode, (width, height, side)
            assert got.tobytes() == expected.tobytes(), (width, height, side)
            assert shrunk(image, max(width, height)) is image  # already within: the image itself


def test_rapidocr_sessions_run_on_one_thread() -> None:
    """A scoring runtime owns one core: onnxruntime's default pool (a spinning thread per
    core) about doubled RapidOCR's CPU per image, and RapidOCR 1.4 drops per-model settings."""
    from fraud_pipeline.media.reading import _rapidocr

    engine = _rapidocr()
    for session in (engine.text_det.infer, engine.text_rec.session):  # RapidOCR 1.4's wrappers
        options = session.session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_rapidocr_pads_a_short_line_only_to_the_policy_width(spec, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The recogniser's CPU grows with the padded width: RapidOCR's default pads every line to
    320 px, so a three-letter label cost as much as a sentence. Lines shorter than
    `ocr_rec_min_width` are padded to it, longer ones keep their own width, and the word is
    still read."""
    from fraud_pipeline.media import reading

    engine = reading._rapidocr()
    session = engine.text_rec.session
    widths: list[int] = []

    def recording(batch: np.ndarray) -> object:
        widths.extend([int(batch.shape[-1])] * int(batch.shape[0]))
        return session(batch)

    monkeypatch.setattr(engine.text_rec, "session", recording)
    only = spec.model_copy(update={"ocr_engines": ["rapidocr"], "ocr_fallback_below_chars": 0})
    card = scam_card("JAN")
    assert "JAN" in " ".join(line.text for line in reading.ocr_lines(card, only)).upper()
    assert widths and max(widths) == spec.ocr_rec_min_width < 320
    widths.clear()
    long_line = scam_card("SEND 1 ETH AND GET 2 ETH BACK TODAY", size=(1200, 300))
    assert "GET 2 ETH" in " ".join(line.text for line in reading.ocr_lines(long_line, only)).upper()
    assert max(widths) > 320  # a long line is read at its own width, as before


def test_each_ocr_engine_reads_a_painted_scam(spec) -> None:  # type: ignore[no-untyped-def]
    from fraud_pipeline.media.reading import ocr_engines_here, ocr_lines

    assert ocr_engines_here(("tesseract", "rapidocr")) == ("tesseract", "rapidocr")
    card = scam_card("SEND 1 ETH AND GET 2 ETH BACK\nGiveaway ends today")
    for engine in ("tesseract", "rapidocr"):
        only = spec.model_copy(update={"ocr_engines": [engine], "ocr_fallback_below_chars": 0})
        text = " ".join(line.text for line in ocr_lines(card, only)).upper()
        assert "GET 2 ETH" in text, (engine, text)


def test_second_engine_reads_only_when_the_first_reads_too_little(
    spec,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fraud_pipeline.media import reading

    calls: list[str] = []
    monkeypatch.setattr(reading, "_read_tesseract", lambda image: calls.append("t") or [("hi", 0.9)])
    monkeypatch.setattr(
        reading,
        "_read_rapidocr",
        lambda image, side, lines, width: calls.append("r") or [("SEND 1 ETH GET 2 ETH BACK", 0.9)],
    )
    image = photo_like(1)
    both = spec.model_copy(update={"ocr_engines": ["tesseract", "rapidocr"], "ocr_fallback_below_chars": 10})
    assert [line.text for line in reading.ocr_lines(image, both)] == ["SEND 1 ETH GET 2 ETH BACK"]
    assert calls == ["t", "r"]
    calls.clear()
    enough = both.model_copy(update={"ocr_fallback_below_chars": 2})
    assert [line.text for line in reading.ocr_lines(image, enough)] == ["hi"]
    assert calls == ["t"]


def busy_meme(caption: str = "WHEN THE BUILD PASSES ON THE FIRST TRY") -> Image.Image:
    """A meme: white capitals outlined in black over a grainy photo (Tesseract's weak spot)."""
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    texture = np.asarray(
        Image.fromarray(cells).resize((800, 600), Image.Resampling.BICUBIC), dtype=np.float32
    )
    texture += rng.normal(0, 14, (*texture.shape[:2], 1)).astype(np.float32)
    image = Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    words = caption.split()
    for row, line in enumerate((" ".join(words[:4]), " ".join(words[4:]))):
        draw.text(
            (30, 30 + 480 * row), line, fill=(255, 255, 255), font=font, stroke_width=3, stroke_fill=(0, 0, 0)
        )
    return image


def test_a_busy_image_is_read_by_rapidocr_first(spec, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Tesseract's page reading mostly fails on light text over photo texture, and RapidOCR
    then reads anyway: on a busy image RapidOCR reads first and Tesseract only if it reads
    too little; a flat card is read by Tesseract first as before."""
    from fraud_pipeline.media import reading

    meme, card = busy_meme(), scam_card("SEND 1 ETH AND GET 2 ETH BACK\nGiveaway ends today")
    seen_meme, seen_card = reading.prescreen(meme, spec), reading.prescreen(card, spec)
    assert seen_meme.reads and seen_meme.busy_share >= spec.ocr_rapidocr_first_busy
    assert seen_card.reads and seen_card.busy_share < spec.ocr_rapidocr_first_busy
    assert reading.reading_order(spec, seen_meme.busy_share) == ("rapidocr", "tesseract")
    assert reading.reading_order(spec, seen_card.busy_share) == ("tesseract", "rapidocr")
    text = " ".join(line.text for line in reading.ocr_lines(meme, spec, seen_meme.busy_share)).upper()
    assert "BUILD PASSES" in text, text

    calls: list[str] = []
    rapid_reads: list[list[tuple[str, float]]] = []
    monkeypatch.setattr(
        reading, "_read_tesseract", lambda image: calls.append("t") or [("TESSERACT READ", 0.9)]
    )
    monkeypatch.setattr(
        reading, "_read_rapidocr", lambda image, side, lines, width: calls.append("r") or rapid_reads.pop()
    )
    rapid_reads.append([("WHEN THE BUILD PASSES ON THE FIRST TRY", 0.9)])
    reading.ocr_lines(meme, spec, seen_meme.busy_share)
    assert calls == ["r"]  # RapidOCR read enough: Tesseract is not asked
    calls.clear()
    rapid_reads.append([])  # its detector found no line of text: nothing to read
    assert reading.ocr_lines(meme, spec, seen_meme.busy_share) == []
    assert calls == ["r"]
    calls.clear()
    rapid_reads.append([("WHEN", 0.9)])  # too little: Tesseract reads too, the longer reading is kept
    assert [line.text for line in reading.ocr_lines(meme, spec, seen_meme.busy_share)] == ["TESSERACT READ"]
    assert calls == ["r", "t"]
    calls.clear()
    # a short caption, at least `ocr_fallback_after_rapidocr_below_chars` letters but under
    # `ocr_fallback_below_chars`: all there is on a busy image, Tesseract is not asked
    assert spec.ocr_fallback_after_rapidocr_below_chars <= 15 < spec.ocr_fallback_below_chars
    rapid_reads.append([("NOBODY:", 0.9), ("MY DOG AT 6 AM", 0.9)])
    assert [line.text for line in reading.ocr_lines(meme, spec, seen_meme.busy_share)] == [
        "NOBODY:",
        "MY DOG AT 6 AM",
    ]
    assert calls == ["r"]


def test_missing_ocr_engine_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    from fraud_pipeline.media import reading

    def unavailable() -> None:
        raise reading.OcrUnavailable("no Tesseract English model")

    monkeypatch.setattr(reading, "_tesseract", unavailable)
    reading.ocr_engines_here.cache_clear()
    try:
        files = edited("media.yaml", "ocr_engines: [tesseract, rapidocr]", "ocr_engines: [tesseract]")
        scorer = ImageScorer(load_policy(files), load_text_model())
        verdict = scorer.score_bytes(_png(scam_card("Wallet support: verify your seed phrase")))
        assert verdict.fraud_media_likelihood is not None and verdict.ocr_text == ""
        assert any(r.startswith("OCR unavailable") for r in verdict.reasons), verdict.reasons
    finally:
        reading.ocr_engines_here.cache_clear()


def test_affine_steps_fold_into_convolutions_without_moving_the_output() -> None:
    """`Conv * s + b` folds into the convolution; `y * s + b` before a convolution folds into it
    only when it pads nothing (a padded border sums zeros, not `b`); a step with another user
    stays. The folded graph computes the same as the original (onnxruntime, float32)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from fraud_pipeline.media.onnx_models import fold_affine_into_conv

    rng = np.random.default_rng(9)

    def const(name: str, value: object) -> onnx.NodeProto:
        array = np.asarray(value, dtype=np.float32)
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name + "_v"))

    nodes = [
        const("w1", rng.normal(size=(4, 3, 3, 3))),
        const("b1", rng.normal(size=4)),
        const("s1", [1.7]),
        const("c1", [-0.4]),
        const("w2", rng.normal(size=(5, 4, 1, 1))),
        const("w3", rng.normal(size=(5, 5, 3, 3))),
        const("s2", [0.6]),
        const("c2", [0.9]),
        const("s3", [1.3]),
        const("c3", [0.2]),
        helper.make_node("Conv", ["x", "w1", "b1"], ["conv1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["s1", "conv1"], ["scaled1"]),  # after a conv: folds
        helper.make_node("Add", ["scaled1", "c1"], ["affine1"]),
        helper.make_node("Relu", ["affine1"], ["act1"]),
        helper.make_node("Mul", ["act1", "s2"], ["scaled2"]),  # before an unpadded conv: folds
        helper.make_node("Add", ["scaled2", "c2"], ["affine2"]),
        helper.make_node("Conv", ["affine2", "w2"], ["conv2"]),
        helper.make_node("Relu", ["conv2"], ["act2"]),
        helper.make_node("Mul", ["act2", "s3"], ["scaled3"]),  # before a padded conv: stays
        helper.make_node("Add", ["scaled3", "c3"], ["affine3"]),
        helper.make_node("Conv", ["affine3", "w3"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 12, 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.normal(size=(1, 3, 12, 10)).astype(np.float32)

    def run(proto: onnx.ModelProto) -> np.ndarray:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"x": x})[0])

    before = run(model)
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert fold_affine_into_conv(folded) == 2
    onnx.checker.check_model(folded)
    ops = [node.op_type for node in folded.graph.node if node.op_type != "Constant"]
    assert ops == ["Conv", "Relu", "Conv", "Relu", "Mul", "Add", "Conv"]
    assert np.allclose(run(folded), before, rtol=1e-5, atol=1e-4)


def test_rapidocr_models_read_with_hard_swish_fused(tmp_path: Path) -> None:
    """The detector and recogniser RapidOCR runs are the wheel's with `x * clip(x + 3, 0, 6) / 6`
    rewritten as `x * HardSigmoid(x)`: no Clip left, and on the same input the same output
    (within float rounding) as the wheel's file; a file that cannot be rewritten is used as is."""
    import onnx
    import onnxruntime as ort
    import rapidocr_onnxruntime

    from fraud_pipeline.media.onnx_models import fused_model_path

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    rng = np.random.default_rng(5)
    for name, shape in (
        ("ch_PP-OCRv4_rec_infer.onnx", (1, 3, 48, 160)),
        ("ch_PP-OCRv4_det_infer.onnx", (1, 3, 96, 128)),
    ):
        fused = fused_model_path(models / name)
        assert fused != models / name
        ops = [node.op_type for node in onnx.load(str(fused)).graph.node]
        assert "Clip" not in ops and ops.count("HardSigmoid") >= 20, name
        shipped = [node.op_type for node in onnx.load(str(models / name)).graph.node]
        # the affine steps around the convolutions are gone into them (at least 28 of each kind)
        assert ops.count("Conv") == shipped.count("Conv"), name
        assert ops.count("Add") <= shipped.count("Add") - 28 - 24, name  # 24: the hard-swish's own
        x = rng.random(shape, dtype=np.float32)
        outputs = []
        for path in (models / name, fused):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            outputs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
        assert np.allclose(outputs[0], outputs[1], atol=1e-4), name
    not_a_model = tmp_path / "broken.onnx"
    not_a_model.write_bytes(b"not a model")
    assert fused_model_path(not_a_model) == not_a_model
