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
from dataclasses import dataclass

from PIL import Image, ImageSequence

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
            for frame in ImageSequence.Iterator(image):
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
