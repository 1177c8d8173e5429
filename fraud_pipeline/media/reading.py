"""What an image says: a cheap prescreen for text, OCR, QR codes.

OCR is the policy's `ocr_engine`: Tesseract through `tesserocr` (its wheel carries the
library; the English model is Debian's `tesseract-ocr-eng`), or RapidOCR on onnxruntime
(`rapidocr-onnxruntime`, weights in its wheel). Nothing is downloaded at run time. Measured
on the same drawn cards (benchmarks/bench_media_eval.py), Tesseract costs about a fifth of
RapidOCR's CPU for a slightly noisier reading. OCR still costs a tenth of a second or more,
so a prescreen first measures how much of a small grey thumbnail is sharp edges (painted
text is dense with them; photos mostly are not) and skips OCR below the policy's
`prescreen_min_text_edges`, or when too few of those edges form letter-tall outlines
(connected components, scipy.ndimage: windows and grain are specks at thumbnail size).
QR codes are decoded with zxing-cpp (QR formats only), which is
fast enough to run on every frame.

RapidOCR's recogniser often drops the spaces of Latin text (`SEND1ETHGET2ETHBACK`), which
blinds word rules; `respace` splits long runs back into words with wordninja (English word
frequencies shipped in its wheel), leaving tokens that look like links alone.
"""

from __future__ import annotations

import functools
import glob
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import wordninja  # type: ignore[import-untyped,unused-ignore]
import zxingcpp
from PIL import Image
from scipy import ndimage  # type: ignore[import-untyped,unused-ignore]

from fraud_pipeline.policy.schema import MediaSpec

_RUN_TO_SPLIT = re.compile(r"[A-Za-z0-9]{10,}")  # shorter runs are ordinary words
_LINK_MARKS = (".", "/", "@")  # a token with these may be a domain, URL or handle: kept whole
_EDGE_LEVEL = 40  # the least grey-level step (0..255) between neighbours that counts as a text edge
_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # diagonal pixels join an outline (thin, slanted strokes)


def grey_range(grey: np.ndarray) -> float:
    """The 1st to 99th percentile span of an 8-bit grey image, as `np.percentile` (linear
    interpolation between order statistics) computes it, from a 256-bin histogram instead of a
    partial sort (about a tenth of the CPU: the prescreen runs on every image)."""
    values = grey.ravel()
    cumulative = np.cumsum(np.bincount(values, minlength=256))

    def at(q: float) -> float:
        rank = (values.size - 1) * q
        below = int(np.floor(rank))
        low = int(np.searchsorted(cumulative, below, side="right"))
        high = int(np.searchsorted(cumulative, min(below + 1, values.size - 1), side="right"))
        return low + (rank - below) * (high - low)

    return at(0.99) - at(0.01)


def shrunk(image: Image.Image, side: int) -> Image.Image:
    """`image` within a `side` x `side` box: the pixels `Image.thumbnail((side, side))` makes
    (the same size, aspect kept as Pillow rounds it, the same bicubic resample after a whole
    reduction, `reducing_gap` 2.0), as a new image, without the copy of the full-size image
    that `copy().thumbnail()` pays first; `image` itself when it already fits (callers only
    read it). A test holds it to `thumbnail` pixel for pixel."""
    width, height = image.size
    if side >= width and side >= height:
        return image
    aspect = width / height
    if aspect <= 1:  # Pillow's `thumbnail`: the rounding that keeps the aspect closest
        new_width = max(
            min(math.floor(side * aspect), math.ceil(side * aspect), key=lambda n: abs(aspect - n / side)), 1
        )
        size = (new_width, side)
    else:
        new_height = max(
            min(
                math.floor(side / aspect),
                math.ceil(side / aspect),
                key=lambda n: 0 if n == 0 else abs(aspect - side / n),
            ),
            1,
        )
        size = (side, new_height)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _grey_steps(image: Image.Image, side: int) -> tuple[np.ndarray, float]:
    """Each pixel's largest grey-level step to its right or lower neighbour on a `side` grey
    thumbnail, and the image's grey range (1st to 99th percentile). `image` may already be
    grey (the scorer converts a frame once for the prescreen and the QR search)."""
    thumb = shrunk(image.convert("L") if image.mode != "L" else image, side)
    grey8 = np.asarray(thumb)
    if grey8.shape[0] < 2 or grey8.shape[1] < 2:
        return np.zeros((0, 0), dtype=np.int16), 0.0
    grey = grey8.astype(np.int16)
    dx = np.abs(np.diff(grey, axis=1))[:-1, :]
    dy = np.abs(np.diff(grey, axis=0))[:, :-1]
    return np.maximum(dx, dy), grey_range(grey8)


def _text_level(grey_range: float, step_of_range: float) -> float:
    return max(_EDGE_LEVEL, step_of_range * grey_range)


def text_edges(image: Image.Image, side: int, step_of_range: float) -> np.ndarray:
    """Pixels of a `side` grey thumbnail on a step nearly as large as the image's grey range.

    Painted text is drawn to be read: its strokes jump between two far-apart levels, so it
    is dense in steps of at least `step_of_range` of the range (1st to 99th percentile).
    Photo detail (foliage, grain, windows) makes many smaller steps, which an absolute edge
    level counted as text."""
    steps, grey_range = _grey_steps(image, side)
    return np.asarray(steps >= _text_level(grey_range, step_of_range))


def glyph_edge_share(edges: np.ndarray, min_height: int) -> float:
    """Share of the thumbnail's pixels on text edges that lie in connected outlines at least
    `min_height` px tall.

    A letter's outline is one connected edge as tall as the letter; the sharp detail of a
    photo (lit windows on a facade, grain, leaves) breaks into specks a pixel or two tall at
    thumbnail size, however many of them line up in rows. Measured against the whole
    thumbnail, not against all edges, so a caption over such a photo still counts in full.
    Text smaller than that is below what OCR reads at `ocr_max_side` anyway."""
    if not edges.any():
        return 0.0
    labels, count = ndimage.label(edges, structure=_EIGHT_NEIGHBOURS)
    boxes = ndimage.find_objects(labels)
    tall = [index + 1 for index, box in enumerate(boxes) if box[0].stop - box[0].start >= min_height]
    if not tall:
        return 0.0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    return float(sizes[tall].sum()) / edges.size


@dataclass(frozen=True)
class Prescreen:
    """What the prescreen saw: whether OCR should read (`reads`), and the share of the
    thumbnail on smaller steps than text edges (`busy_share`: photo texture behind the text)."""

    reads: bool
    busy_share: float


def prescreen(image: Image.Image, spec: MediaSpec) -> Prescreen:
    """The prescreen: enough text edges (`prescreen_min_text_edges`), and enough of them in
    letter-tall outlines (`prescreen_min_glyph_edges`); OCR is skipped otherwise. Also the busy
    share: pixels on a step of at least `prescreen_busy_step_of_range` of the grey range but
    below a text edge, which is where Tesseract's page reading fails (busy backgrounds)."""
    steps, grey_range = _grey_steps(image, spec.prescreen_side)
    if not steps.size:
        return Prescreen(False, 0.0)
    level = _text_level(grey_range, spec.prescreen_step_of_range)
    edges = steps >= level
    busy = float(((steps >= max(1.0, spec.prescreen_busy_step_of_range * grey_range)) & ~edges).mean())
    if float(edges.mean()) < spec.prescreen_min_text_edges:
        return Prescreen(False, busy)
    reads = glyph_edge_share(edges, spec.prescreen_glyph_min_height) >= spec.prescreen_min_glyph_edges
    return Prescreen(reads, busy)


def looks_like_text(image: Image.Image, spec: MediaSpec) -> bool:
    """Whether the prescreen lets OCR read the image (`prescreen`)."""
    return prescreen(image, spec).reads


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float


class OcrUnavailable(RuntimeError):
    """The configured OCR engine cannot run here (e.g. no Tesseract language data)."""


# Where Debian's tesseract-ocr-eng puts the English model (the tesserocr wheel brings the
# library, not the language data); TESSDATA_PREFIX overrides.
_TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")


def tessdata_dir() -> str:
    candidates = [os.environ["TESSDATA_PREFIX"]] if os.environ.get("TESSDATA_PREFIX") else []
    for pattern in _TESSDATA_GLOBS:
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    for folder in candidates:
        if Path(folder, "eng.traineddata").is_file():
            return folder
    raise OcrUnavailable("no Tesseract English model (install tesseract-ocr-eng or set TESSDATA_PREFIX)")


@functools.lru_cache(maxsize=1)
def _tesseract() -> Any:
    import tesserocr  # type: ignore[import-untyped,unused-ignore]

    # LSTM only, automatic page segmentation; one thread (a scoring runtime owns one core).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return tesserocr.PyTessBaseAPI(
        path=tessdata_dir(), lang="eng", psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY
    )


@functools.lru_cache(maxsize=1)
def _rapidocr() -> Any:
    import rapidocr_onnxruntime  # type: ignore[import-untyped,unused-ignore]
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped,unused-ignore]

    from fraud_pipeline.media.onnx_models import fused_model_path

    # One thread per session: a scoring runtime owns one core (one runtime per shard). Given
    # as the global settings: RapidOCR 1.4 copies its global thread counts over every model's
    # (`det_intra_op_num_threads` etc. are silently overwritten), and onnxruntime's default
    # pool, one spinning thread per core, about doubled the CPU of each call for the same text.
    # The image is already shrunk to the policy's `ocr_max_side`: the detector must not
    # enlarge it again (its default grows the short side to 736 px, several times the cost).
    # The recogniser reads one line at a time: in a batch every line is padded to the widest
    # one's length, about a fifth of its CPU spent on padding (chosen on the tune half: same
    # verdicts, 14 of 290 readings moved, e.g. "FREEAIRDROP" -> "FREE AIRDROP").
    # Its detector and recogniser with hard-swish fused and the scalar affine steps folded into
    # the convolutions (media/onnx_models.py: the same outputs within about 1e-6, the recogniser
    # about a quarter and the detector a fifth cheaper than the wheel's), from the wheel's own files.
    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    return RapidOCR(
        det_limit_type="max",
        det_limit_side_len=4096,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
        rec_batch_num=1,
        det_model_path=str(fused_model_path(models / "ch_PP-OCRv4_det_infer.onnx")),
        rec_model_path=str(fused_model_path(models / "ch_PP-OCRv4_rec_infer.onnx")),
    )


_ENGINE_LOCK = threading.Lock()  # one engine instance per process; calls are serialized


def _loads(name: str) -> bool:
    try:
        (_tesseract if name == "tesseract" else _rapidocr)()
    except (ImportError, OcrUnavailable):
        return False
    return True


@functools.lru_cache(maxsize=8)
def ocr_engines_here(preference: tuple[str, ...]) -> tuple[str, ...]:
    """The engines of the policy's `ocr_engines` that can run here, in its order (decided once)."""
    engines = tuple(name for name in preference if _loads(name))
    if not engines:
        raise OcrUnavailable(f"none of the OCR engines {list(preference)} can run here")
    return engines


def _alnum(lines: list[OcrLine]) -> int:
    return sum(ch.isalnum() for line in lines for ch in line.text)


def reading_order(spec: MediaSpec, busy_share: float) -> tuple[str, ...]:
    """The engines that read, in order: the policy's `ocr_engines` (those installed), except
    that RapidOCR reads first on a busy image (`busy_share` at least `ocr_rapidocr_first_busy`):
    Tesseract's page reading mostly fails on light text over photo texture (memes, cards on
    darkened photos), and reading there first only delays the RapidOCR reading that follows."""
    engines = ocr_engines_here(tuple(spec.ocr_engines))
    if "rapidocr" in engines and busy_share >= spec.ocr_rapidocr_first_busy:
        return ("rapidocr", *(name for name in engines if name != "rapidocr"))
    return engines


def ocr_lines(image: Image.Image, spec: MediaSpec, busy_share: float = 0.0) -> list[OcrLine]:
    """Lines of text OCR reads with at least the policy's confidence, top to bottom.

    The first engine of `reading_order` reads; when it reads fewer than
    `ocr_fallback_below_chars` letters and digits (Tesseract loses light text on busy
    backgrounds), the next engine reads too and the longer reading is kept. When RapidOCR
    reads first, Tesseract reads after it only below `ocr_fallback_after_rapidocr_below_chars`
    (a busy image's short caption, "NOBODY: / MY DOG AT 6 AM", is all there is: Tesseract's page
    reading of it came back shorter every time), and when RapidOCR's detector finds no line of
    text nothing is read (the busy photos that passed the prescreen end there, as they do
    when RapidOCR reads second)."""
    work = shrunk(image, spec.ocr_max_side)
    best: list[OcrLine] = []
    order = reading_order(spec, busy_share)
    enough = (
        spec.ocr_fallback_after_rapidocr_below_chars
        if order[0] == "rapidocr"
        else spec.ocr_fallback_below_chars
    )
    for position, engine in enumerate(order):
        with _ENGINE_LOCK:
            if engine == "tesseract":
                raw = _read_tesseract(work)
            else:
                raw = _read_rapidocr(work, spec.ocr_detect_side, spec.ocr_max_lines, spec.ocr_rec_min_width)
        lines = [
            OcrLine(respace(text.strip()), confidence)
            for text, confidence in raw
            if confidence >= spec.ocr_min_confidence and text.strip()
        ]
        if _alnum(lines) > _alnum(best):
            best = lines
        nothing_detected = engine == "rapidocr" and position == 0 and not raw
        if _alnum(best) >= enough or nothing_detected:
            break
    return best


def _read_tesseract(image: Image.Image) -> list[tuple[str, float]]:
    """Tesseract (tesserocr, LSTM): about 5x less CPU than RapidOCR on the same cards."""
    import tesserocr

    api = _tesseract()
    api.SetImage(image.convert("L"))
    api.Recognize()
    level = tesserocr.RIL.TEXTLINE
    lines = []
    for result in tesserocr.iterate_level(api.GetIterator(), level):
        try:
            text = result.GetUTF8Text(level) or ""
        except RuntimeError:  # tesserocr raises on a line without text
            continue
        lines.append((" ".join(text.split()), float(result.Confidence(level)) / 100.0))
    api.Clear()
    return lines


def _read_rapidocr(
    image: Image.Image, detect_side: int, max_lines: int, rec_min_width: int
) -> list[tuple[str, float]]:
    """RapidOCR's detector on the image shrunk to `detect_side` (its cost grows with the pixels;
    painted text stays detectable small), its recogniser on crops of the sharper OCR image, at
    most `max_lines` of them (the largest: headlines first; the recogniser's cost grows with
    the text's length), each padded to no more than `rec_min_width` (RapidOCR's default pads
    every line to 320 px, so a three-letter axis label cost as much as a sentence). Uses
    RapidOCR 1.4's `text_det`/`text_rec` steps (pinned version); called under the engine lock."""
    engine = _rapidocr()
    small = shrunk(image, detect_side)
    boxes, _ = engine.text_det(np.asarray(small))
    if boxes is None or len(boxes) == 0:
        return []  # no text found: the recogniser does not run (most photos end here)
    scale = image.width / small.width
    boxes = [np.asarray(box, dtype=np.float32) * scale for box in boxes]
    if len(boxes) > max_lines:
        boxes = sorted(boxes, key=_box_area, reverse=True)[:max_lines]
    boxes = list(engine.sorted_boxes(np.asarray(boxes)))
    crops = engine.get_crop_img_list(np.asarray(image), boxes)
    channels, height, _width = engine.text_rec.rec_image_shape
    engine.text_rec.rec_image_shape = [channels, height, rec_min_width]  # its resize reads it per call
    results, _ = engine.text_rec(crops)
    return [(str(text), float(confidence)) for text, confidence, *_rest in results]


def _box_area(box: np.ndarray) -> float:
    width = float(np.linalg.norm(box[0] - box[1]))
    height = float(np.linalg.norm(box[0] - box[3]))
    return width * height


def respace(line: str) -> str:
    """Put back the spaces OCR dropped between words, outside anything that looks like a link."""
    tokens = []
    for token in line.split():
        if not any(mark in token for mark in _LINK_MARKS):
            token = _RUN_TO_SPLIT.sub(lambda m: " ".join(wordninja.split(m.group())), token)
        tokens.append(token)
    return " ".join(tokens)


# Scams point phones at QR codes; looking for every 1D/2D format costs about 30x more.
_QR_FORMATS = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode])


def qr_texts(image: Image.Image, thorough: bool = True) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in the image (grey, or converted to grey).

    `thorough` also tries the image inverted (light modules on dark) and downscaled (codes
    too noisy or too large at full size), which cost about as much again as the plain search.
    The scorer asks for it where the prescreen saw text; on a frame it skips (a photo) only a
    small dark-on-light code can hide: a large one is letter-tall edges, which the prescreen
    counts as text."""
    grey = image if image.mode == "L" else image.convert("L")
    return [
        code.text
        for code in zxingcpp.read_barcodes(
            grey, formats=_QR_FORMATS, try_rotate=False, try_downscale=thorough, try_invert=thorough
        )
        if code.valid and code.text
    ]
