"""Open untrusted image bytes without letting them hurt the process.

Blobs come from strangers: corrupt or truncated files, a 20000 x 20000 PNG that would take
gigabytes once decoded, animated GIFs with thousands of frames, HTML served as an image.
Every check here runs before the pixels are decoded (size, magic bytes, declared
dimensions, frame count), and every failure is a `MediaRejected` with a reason the caller
records; nothing else escapes.
"""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageSequence

try:  # libspng: still PNGs in a little over half of Pillow's CPU (`_png_pixels`)
    import pyspng as _pyspng  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - an install without it decodes every PNG with Pillow
    _pyspng = None

from fraud_pipeline.policy.schema import MediaSpec

# The formats Bluesky accepts for image blobs, by their first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


class MediaRejected(ValueError):
    """The bytes are not an image this scorer will read; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    format: str
    width: int  # as declared by the file
    height: int
    frames: list[Image.Image]  # RGB, at most `max_frames`, shrunk to at most `decode_max_side`
    total_frames: int


def sniff_format(data: bytes) -> str | None:
    """The image format the magic bytes announce (PNG, JPEG, GIF, WEBP), or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def shrink_factor(width: int, height: int, side: int) -> int:
    """The least whole factor that brings the longer side within `side` (1: already within).

    Frames are shrunk by whole factors (JPEG's DCT scaling, else a box `reduce`), not
    resampled to exactly `side`: a bicubic resample of a large photo cost more than decoding
    it, and an image already within `side` keeps its exact pixels (Tesseract's reading moves
    with them)."""
    return max(1, -(-max(width, height) // side))


# IHDR's bit depth and colour type (the first chunk of every PNG, at fixed offsets)
_PNG_DEPTH, _PNG_COLOUR = 24, 25
_PNG_RGB, _PNG_RGBA = 2, 6


def _png_chunks_intact(data: bytes) -> bool:
    """Every chunk up to IEND whole and matching its CRC (about 0.4 ms per MB). pyspng has
    libspng use damaged chunks as they are, so a PNG whose bytes were damaged would decode to
    wrong pixels instead of being refused; such a PNG goes to Pillow, which refuses it."""
    view, position = memoryview(data), 8
    while position + 12 <= len(data):
        length = int.from_bytes(view[position : position + 4], "big")
        end = position + 12 + length
        if end > len(data):
            return False
        body = view[position + 4 : position + 8 + length]  # the chunk type and its data
        if zlib.crc32(body) != int.from_bytes(view[end - 4 : end], "big"):
            return False
        if body[:4] == b"IEND":
            return True
        position = end
    return False


def _png_pixels(data: bytes, width: int, height: int) -> Image.Image | None:
    """A still 8-bit RGB or RGBA PNG's pixels as RGB, decoded by libspng (`pyspng`), or None
    to let Pillow decode it (another kind of PNG, no pyspng, or bytes libspng refuses: Pillow
    then reads them, or refuses them with its own reason).

    libspng decodes a PNG in a little over half of Pillow's CPU (zlib inflate and the row
    filters, about 20 ms for a 1300 px photo with Pillow); the pixels are the same, alpha
    dropped as Pillow's `convert("RGB")` drops it (a test holds them to Pillow's). Called
    after the header checks: the pixel cap has been applied to the declared size. A PNG with a
    damaged chunk is left to Pillow (`_png_chunks_intact`)."""
    if _pyspng is None or len(data) < 33 or data[_PNG_DEPTH] != 8:
        return None
    if data[_PNG_COLOUR] not in (_PNG_RGB, _PNG_RGBA) or not _png_chunks_intact(data):
        return None
    try:
        pixels = _pyspng.load(data, format="RGB")
    except Exception:  # whatever libspng refuses, Pillow decodes or refuses with its reason
        return None
    if pixels.dtype != np.uint8 or pixels.shape != (height, width, 3):
        return None
    return Image.fromarray(pixels)


def decode_image(data: bytes, spec: MediaSpec) -> DecodedImage:
    """Decode at most `spec.max_frames` frames of an image, or raise MediaRejected."""
    if not data:
        raise MediaRejected("empty blob")
    if len(data) > spec.max_bytes:
        raise MediaRejected(f"blob of {len(data)} bytes exceeds the {spec.max_bytes}-byte cap")
    expected = sniff_format(data)
    if expected is None:
        raise MediaRejected("not an image (unknown magic bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[expected])
            width, height = image.size
            if width * height > spec.max_pixels:
                cap = spec.max_pixels
                raise MediaRejected(
                    f"{width}x{height} image exceeds the {cap}-pixel cap (decompression bomb guard)"
                )
            total = int(getattr(image, "n_frames", 1))
            side = spec.decode_max_side
            factor = shrink_factor(width, height, side)
            if expected == "JPEG" and factor > 1:  # DCT scaling: decodes at 1/2, 1/4 or 1/8 the size
                scale = next((s for s in (2, 4, 8) if s >= factor), 8)
                image.draft("RGB", (width // scale, height // scale))
            frames: list[Image.Image] = []
            still_png = _png_pixels(data, width, height) if expected == "PNG" and total == 1 else None
            if still_png is not None:
                rest = shrink_factor(still_png.width, still_png.height, side)
                frames.append(still_png.reduce(rest) if rest > 1 else still_png)
            for frame in ImageSequence.Iterator(image) if still_png is None else ():
                if len(frames) >= spec.max_frames:
                    break
                if total == 1 and frame.mode == "RGB":
                    frame.load()  # decodes; a still image's only frame is used as it is (no copy)
                    rgb = frame
                else:  # converted (an animation's frames are one object, moved by each seek)
                    rgb = frame.convert("RGB")
                rest = shrink_factor(rgb.width, rgb.height, side)
                frames.append(rgb.reduce(rest) if rest > 1 else rgb)  # every later step reads at most `side`
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(f"decompression bomb: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise MediaRejected(f"unreadable {expected}: {exc}") from exc
    if not frames:
        raise MediaRejected(f"{expected} without frames")
    return DecodedImage(expected, width, height, frames, total)
