"""Known scam images, matched by perceptual hash so copies still match.

A pHash (imagehash) of 64 bits survives resizing and JPEG recompression with only a few
bits changed; an unrelated image differs in about half of them. The list lives with the
detection policy (`media_blocklist` in policy/media_blocklist.yaml), so a new scam image is
a policy change, versioned and reloaded like a rule.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import yaml  # type: ignore[import-untyped,unused-ignore]
from PIL import Image

from fraud_pipeline.policy.schema import BlockedImage

BLOCKLIST_FILE = "media_blocklist.yaml"
_HEADER = "# Known scam images by perceptual hash (written by `fraud-pipeline media blocklist add`).\n"


_HASH_SOURCE_SIDE = 128  # pHash looks at 32 x 32 pixels: box-reduce first, then its own resize


def perceptual_hash(image: Image.Image) -> imagehash.ImageHash:
    """pHash of the image in grey, box-reduced first (the same way when listing and when
    matching). pHash reads grey anyway; the scorer passes the grey frame it already made for
    the prescreen, so matching costs no conversion of the full frame (hashes made from the
    colour frame before this differ by at most 2 of 64 bits on the tune half)."""
    grey = image if image.mode == "L" else image.convert("L")
    factor = max(1, min(grey.size) // _HASH_SOURCE_SIDE)
    return imagehash.phash(grey.reduce(factor) if factor > 1 else grey)


def closest_match(
    image_hash: imagehash.ImageHash, blocklist: list[BlockedImage], max_distance: int
) -> tuple[BlockedImage, int] | None:
    """The listed image nearest to the hash, if within `max_distance` bits."""
    best: tuple[BlockedImage, int] | None = None
    for entry in blocklist:
        distance = int(image_hash - imagehash.hex_to_hash(entry.phash))
        if distance <= max_distance and (best is None or distance < best[1]):
            best = (entry, distance)
    return best


def add_to_blocklist(policy_dir: Path, image_hash: imagehash.ImageHash, note: str) -> bool:
    """Append a hash to the policy folder's blocklist file; False if it is already there."""
    path = policy_dir / BLOCKLIST_FILE
    entries: list[dict[str, str]] = []
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        entries = list(loaded.get("media_blocklist") or [])
    hex_hash = str(image_hash)
    if any(e.get("phash") == hex_hash for e in entries):
        return False
    entries.append(BlockedImage(phash=hex_hash, note=note).model_dump())
    path.write_text(_HEADER + yaml.safe_dump({"media_blocklist": entries}, sort_keys=False))
    return True
