"""Image scoring on local bytes: cost per kind of image, images/s on a mix, verdicts, memory.

Draws images with Pillow in memory (scam cards with and without a QR code, harmless
captions, photo-like textures), scores each with `media.scorer.ImageScorer` (decode guard,
prescreen, OCR on one onnxruntime thread, QR, blocklist, text model and rules) and prints
one JSON object:

- per kind: median CPU seconds per image (OCR runs on one thread), share skipped by the
  prescreen, share flagged;
- images/s end to end on a mix with `--photo-share` photos (most images people post are
  photos), computed from the per-kind medians and measured directly over the mix;
- precision/recall of `is_fraud` on these images. They are few and drawn by the same code
  the tests use: a smoke figure, not the held-out evaluation (issue #13 step 2);
- peak resident memory (ru_maxrss) after the run.

    python benchmarks/bench_media.py [--per-kind 6] [--photo-share 0.7]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import time

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from fraud_pipeline.media.scorer import ImageScorer
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.scoring.text_model import load_text_model

SCAM_TEXTS = (
    "SEND 1 ETH AND GET 2 ETH BACK\nOfficial giveaway, ends today",
    "Wallet support: verify your seed phrase\nto restore your account",
    "FREE AIRDROP - connect your wallet\nclaim 5000 tokens now",
    "Lost crypto? We recover stolen funds\nDM our recovery agent",
    "Binance support 24/7\ncall +1 888 555 0199 to unlock",
    "Elon is giving away 10,000 BTC\nsend any amount, get double back",
)
BENIGN_TEXTS = (
    "Sunday hike with the dogs\nthe view was worth it",
    "Quarterly rainfall, mm\nJan 80  Feb 65  Mar 70",
    "when the build passes\non the first try",
    "New bakery opens on Main St\nsourdough every morning",
    "Reading list for December\nthree novels and a poem",
    "Team standup notes\nship the docs on Friday",
)
QR_URLS = ("https://metamask-claim.xyz/r", "https://bit.ly/3xAirdrop", "https://wallet-verify.top/s")


def card(text: str, seed: int, qr: str | None) -> Image.Image:
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(640, 1000)), int(rng.integers(360, 640)))
    background = tuple(int(v) for v in rng.integers(200, 256, 3))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(rng.integers(28, 42)))
    for row, line in enumerate(text.split("\n")):
        draw.text((20, 24 + 60 * row), line, fill=(15, 15, 25), font=font)
    if qr:
        code = zxingcpp.create_barcode(qr, zxingcpp.BarcodeFormat.QRCode)
        image.paste(
            Image.fromarray(np.asarray(code.to_image(scale=4))).convert("RGB"), (size[0] - 190, size[1] - 190)
        )
    return image


def photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (9, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((int(rng.integers(800, 1200)), 800), Image.Resampling.BICUBIC)


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def build(per_kind: int) -> dict[str, list[tuple[bytes, bool]]]:
    kinds: dict[str, list[tuple[bytes, bool]]] = {
        "scam_text": [],
        "scam_qr": [],
        "benign_caption": [],
        "photo": [],
    }
    for i in range(per_kind):
        q = 60 + 7 * (i % 5)
        kinds["scam_text"].append((jpeg(card(SCAM_TEXTS[i % len(SCAM_TEXTS)], i, None), q), True))
        kinds["scam_qr"].append(
            (jpeg(card(SCAM_TEXTS[(i + 3) % len(SCAM_TEXTS)], 100 + i, QR_URLS[i % 3]), q), True)
        )
        kinds["benign_caption"].append(
            (jpeg(card(BENIGN_TEXTS[i % len(BENIGN_TEXTS)], 200 + i, None), q), False)
        )
        kinds["photo"].append((jpeg(photo(300 + i), q), False))
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-kind", type=int, default=6)
    parser.add_argument("--photo-share", type=float, default=0.7)
    args = parser.parse_args()

    scorer = ImageScorer(load_default_policy(), load_text_model())
    kinds = build(args.per_kind)
    scorer.score_bytes(kinds["scam_text"][0][0])  # load the OCR sessions outside the timings
    report: dict[str, object] = {"per_kind": {}}
    tp = fp = fn = 0
    medians: dict[str, float] = {}
    cpu_start = time.process_time()
    for kind, images in kinds.items():
        seconds, skipped, flagged = [], 0, 0
        for data, is_scam in images:
            start = time.process_time()  # CPU time: the machine is shared, wall time is noise
            verdict = scorer.score_bytes(data)
            seconds.append(time.process_time() - start)
            skipped += verdict.ocr_skipped
            flagged += verdict.is_fraud
            tp += is_scam and verdict.is_fraud
            fp += (not is_scam) and verdict.is_fraud
            fn += is_scam and not verdict.is_fraud
        medians[kind] = statistics.median(seconds)
        report["per_kind"][kind] = {  # type: ignore[index]
            "images": len(images),
            "median_cpu_s": round(medians[kind], 4),
            "prescreen_skipped": round(skipped / len(images), 3),
            "flagged": round(flagged / len(images), 3),
        }
    cpu_s = time.process_time() - cpu_start
    others = [k for k in kinds if k != "photo"]
    mix_s = args.photo_share * medians["photo"] + (1 - args.photo_share) * statistics.mean(
        medians[k] for k in others
    )
    total = sum(len(v) for v in kinds.values())
    report["mix"] = {
        "photo_share": args.photo_share,
        "images_per_cpu_s_from_medians": round(1 / mix_s, 2),
        "images_per_cpu_s_equal_mix": round(total / cpu_s, 2),
    }
    report["verdicts"] = {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "note": "drawn by the bench itself, not held out (issue #13 step 2)",
    }
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
