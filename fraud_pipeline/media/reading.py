"""What an image says: a cheap prescreen for text, OCR, QR codes.

OCR is RapidOCR on onnxruntime (`rapidocr-onnxruntime`): its wheel carries the detection
and recognition weights, so nothing is downloaded at run time. It costs a few tenths of a
second per image, so a prescreen first measures how much of a small grey thumbnail is
sharp edges (painted text is dense with them; photos mostly are not) and skips OCR below
the policy's `prescreen_min_text_edges`. QR codes are decoded with zxing-cpp, which is fast
enough to run on every frame.

RapidOCR's recogniser often drops the spaces of Latin text (`SEND1ETHGET2ETHBACK`), which
blinds word rules; `respace` splits long runs back into words with wordninja (English word
frequencies shipped in its wheel), leaving tokens that look like links alone.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import wordninja  # type: ignore[import-untyped,unused-ignore]
import zxingcpp
from PIL import Image

from fraud_pipeline.policy.schema import MediaSpec

_RUN_TO_SPLIT = re.compile(r"[A-Za-z0-9]{10,}")  # shorter runs are ordinary words
_LINK_MARKS = (".", "/", "@")  # a token with these may be a domain, URL or handle: kept whole
_EDGE_LEVEL = 48  # grey-level step (0..255) between neighbours that counts as a sharp edge


def text_edge_share(image: Image.Image, side: int) -> float:
    """Share of thumbnail pixels on a sharp horizontal or vertical step (text is dense in them)."""
    thumb = image.convert("L")
    thumb.thumbnail((side, side))
    grey = np.asarray(thumb, dtype=np.int16)
    if grey.shape[0] < 2 or grey.shape[1] < 2:
        return 0.0
    dx = np.abs(np.diff(grey, axis=1))[:-1, :] >= _EDGE_LEVEL
    dy = np.abs(np.diff(grey, axis=0))[:, :-1] >= _EDGE_LEVEL
    return float(np.mean(dx | dy))


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float


@functools.lru_cache(maxsize=1)
def _engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped,unused-ignore]

    # One thread per session: a scoring runtime owns one core (one runtime per shard).
    one = {
        f"{part}_{kind}_op_num_threads": 1 for part in ("det", "cls", "rec") for kind in ("intra", "inter")
    }
    # The image is already shrunk to the policy's `ocr_max_side`: the detector must not
    # enlarge it again (its default grows the short side to 736 px, several times the cost).
    return RapidOCR(det_limit_type="max", det_limit_side_len=4096, **one)


_ENGINE_LOCK = threading.Lock()  # one onnxruntime session; calls are serialized


def ocr_lines(image: Image.Image, spec: MediaSpec) -> list[OcrLine]:
    """Lines of text RapidOCR reads with at least the policy's confidence, top to bottom."""
    work = image.copy()
    work.thumbnail((spec.ocr_max_side, spec.ocr_max_side))
    with _ENGINE_LOCK:
        result, _ = _engine()(np.asarray(work), use_cls=False)
    lines = []
    for _box, text, confidence in result or []:
        if float(confidence) >= spec.ocr_min_confidence and str(text).strip():
            lines.append(OcrLine(respace(str(text)), float(confidence)))
    return lines


def respace(line: str) -> str:
    """Put back the spaces OCR dropped between words, outside anything that looks like a link."""
    tokens = []
    for token in line.split():
        if not any(mark in token for mark in _LINK_MARKS):
            token = _RUN_TO_SPLIT.sub(lambda m: " ".join(wordninja.split(m.group())), token)
        tokens.append(token)
    return " ".join(tokens)


def qr_texts(image: Image.Image) -> list[str]:
    """Texts of the QR codes (and other 2D/1D codes) zxing-cpp finds in the image."""
    return [code.text for code in zxingcpp.read_barcodes(image) if code.valid and code.text]
