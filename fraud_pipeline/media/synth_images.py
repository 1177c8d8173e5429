"""Synthetic images with ground truth: scam cards and ordinary pictures, drawn from a seed.

The media scorer needs images to be measured on, the synth capture needs image posts, and
the end-to-end test needs an image-only scam; no real scam images may be downloaded. So
they are drawn here with Pillow: scam cards in the shapes seen on Bluesky (fake giveaways,
"send 1 get 2", wallet support, fund recovery, fake support numbers, celebrity endorsement
cards, and the project's own scam texts from `data/labeled/train.jsonl`), with and without
a QR code (drawn with `segno`, a pure-Python encoder independent of the zxing-cpp decoder
the scorer uses), and benign ones (photo-like textures, drawn charts, memes with harmless
captions, screenshots of ordinary posts, event posters with a QR code to an ordinary site).
Fonts, sizes, backgrounds (flat, gradient, photo-like noise), rotations and JPEG qualities
vary.

Everything is a function of a seed (`numpy.random.Generator`), so a capture or a benchmark
is reproducible byte for byte on the same Pillow and fonts. The sources are split in two
disjoint halves, `tune` and `eval` (texts by a hash of the text, templates, captions and
font families by list), so a held-out evaluation can be drawn from material the policy was
never tuned on (benchmarks/bench_media_eval.py).

    image = scam_image(7, split="eval")          # SynthImage(data, label=1, kind, text, ...)
    data = draw_scam_image(rng, "SEND 1 ETH GET 2 BACK", qr_url="https://x.xyz/r")
    for image in image_mix(seed=1, count=100):   # a realistic mix, mostly photos
        ...
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
import segno
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from fraud_pipeline.bundled import bundled_path

Split = Literal["tune", "eval"]
SPLITS: tuple[Split, ...] = ("tune", "eval")
SCAM_KINDS = ("giveaway", "double", "wallet_support", "recovery", "support_number", "celebrity", "data_text")
BENIGN_KINDS = ("photo", "chart", "meme", "screenshot", "poster")
BACKGROUNDS = ("flat", "gradient", "noise", "photo")

FONT_DIR = Path("/usr/share/fonts/truetype")
# Font families per split (Debian packages fonts-dejavu-core, fonts-liberation,
# fonts-freefont-ttf, fonts-lato, fonts-open-sans; see the Makefile's system-deps).
FONTS: dict[Split, tuple[str, ...]] = {
    "tune": (
        "dejavu/DejaVuSans-Bold.ttf",
        "dejavu/DejaVuSans.ttf",
        "dejavu/DejaVuSerif-Bold.ttf",
        "dejavu/DejaVuSansCondensed-Bold.ttf",
        "freefont/FreeSansBold.ttf",
        "freefont/FreeMonoBold.ttf",
    ),
    "eval": (
        "liberation/LiberationSans-Bold.ttf",
        "liberation/LiberationSerif-Regular.ttf",
        "liberation/LiberationSansNarrow-Bold.ttf",
        "lato/Lato-Black.ttf",
        "lato/Lato-Regular.ttf",
        "open-sans/OpenSans-ExtraBold.ttf",
        "open-sans/OpenSans-Regular.ttf",
    ),
}

# Scam card templates per kind and split. Slots: {coin} {amount} {double} {brand} {celeb}
# {phone} {domain} {handle}. The two splits share no template.
TEMPLATES: dict[Split, dict[str, tuple[str, ...]]] = {
    "tune": {
        "giveaway": (
            "OFFICIAL {coin} GIVEAWAY\n{amount} {coin} for our community\nClaim at {domain}",
            "FREE AIRDROP\nConnect your wallet to claim\n{amount} ${coin} tokens now",
        ),
        "double": (
            "SEND 1 {coin} GET 2 {coin} BACK\nOfficial event - ends today",
            "Send {amount} {coin}, receive {double} {coin}\nDouble your {coin} instantly",
        ),
        "wallet_support": (
            "{brand} Wallet Support\nYour wallet is restricted\nVerify your seed phrase at {domain}",
            "{brand} SECURITY NOTICE\nSync your wallet within 24h\nor lose access to your funds",
        ),
        "recovery": (
            "LOST YOUR CRYPTO?\nWe recover stolen funds\nDM {handle} for recovery",
            "Scammed? Hacked wallet?\nCertified fund recovery agents\n100% success, contact {handle}",
        ),
        "support_number": (
            "{brand} Customer Care 24/7\nCall {phone}\nto unlock your account",
            "Account suspended\nCall {brand} support now: {phone}",
        ),
        "celebrity": (
            "{celeb} is giving away {amount} {coin}\nSend any amount, get double back",
            '"I support this {coin} event" - {celeb}\nParticipate at {domain}',
        ),
    },
    "eval": {
        "giveaway": (
            "{coin} REWARD PROGRAM\nFirst 500 wallets get {amount} {coin}\nJoin now: {domain}",
            "MEGA GIVEAWAY LIVE\nclaim your free {coin} before it ends\n{domain}",
        ),
        "double": (
            "DOUBLE YOUR {coin}\nsend 0.5 {coin} receive 1 {coin}\nlimited time only",
            "Send {coin} to the address below\nand we send back twice the amount",
        ),
        "wallet_support": (
            "{brand} Help Desk\nWallet validation required\nenter your recovery phrase at {domain}",
            "Your {brand} wallet has been compromised\nconnect wallet to secure your assets",
        ),
        "recovery": (
            "Need help recovering lost funds?\nOur hackers get your crypto back\nmessage {handle}",
            "CRYPTO RECOVERY EXPERTS\nget back stolen bitcoin fast\nwrite to {handle}",
        ),
        "support_number": (
            "{brand} Official Helpline\nWithdrawal pending - call {phone}",
            "Problem with your {brand} account?\nSupport team available: {phone}",
        ),
        "celebrity": (
            "{celeb} announces {coin} giveaway\n{amount} {coin} for every participant\ngo to {domain}",
            "{celeb}: I am giving back to the community\nsend {coin}, get 2x back",
        ),
    },
}
_COINS = ("ETH", "BTC", "SOL", "USDT", "XRP", "DOGE", "BNB")
_BRANDS = ("MetaMask", "Coinbase", "Binance", "Phantom", "Ledger", "Trust Wallet", "Kraken")
_CELEBS = ("Elon Musk", "Vitalik Buterin", "Michael Saylor", "Cathie Wood", "MrBeast")
# Where scam QR codes and painted links point: lookalikes, cheap TLDs, shorteners, plain.
_SCAM_HOSTS = (
    "metamask-verify.xyz",
    "coinbase-claim.top",
    "binance-support.click",
    "phantom-airdrop.live",
    "ledger-secure.site",
    "eth-double.online",
    "claim-rewards.icu",
    "bit.ly",
    "tinyurl.com",
    "wallet-sync-portal.com",
    "giveaway-event.net",
)
_BENIGN_HOSTS = (
    "www.citylibrary.org",
    "tickets.example-festival.org",
    "www.bbc.co.uk",
    "en.wikipedia.org",
    "github.com",
    "www.eventbrite.com",
)
# Harmless meme captions (top, bottom) and poster texts, per split.
CAPTIONS: dict[Split, tuple[tuple[str, str], ...]] = {
    "tune": (
        ("when the build passes", "on the first try"),
        ("me explaining my weekend plans", "to my cat"),
        ("nobody:", "my dog at 6 am"),
        ("monday morning coffee", "hits different"),
        ("when you find fries", "at the bottom of the bag"),
    ),
    "eval": (
        ("when the bus arrives", "exactly on time"),
        ("my plants after", "one day of sunshine"),
        ("trying to fold", "a fitted sheet"),
        ("when the recipe says", "prep time 10 minutes"),
        ("the group chat", "at 2 am"),
    ),
}
POSTERS: dict[Split, tuple[str, ...]] = {
    "tune": (
        "SPRING BOOK FAIR\nSaturday 10am - 4pm\nCity Library, Main Hall",
        "Community Cleanup Day\nmeet at the park gate\ngloves provided",
    ),
    "eval": (
        "JAZZ IN THE PARK\nFriday evenings all summer\nfree entry",
        "Farmers Market\nfresh bread, cheese and flowers\nevery Sunday morning",
    ),
}
CHART_TITLES: dict[Split, tuple[str, ...]] = {
    "tune": ("Monthly rainfall (mm)", "Bike trips per day", "Visitors by weekday"),
    "eval": ("Average temperature", "Books read per month", "Garden harvest (kg)"),
}
_NAMES = ("Alex Rivera", "Sam Chen", "Jordan Lee", "Priya N.", "Mika", "Tom Baker", "Ana Sousa")

# Characters the bundled fonts draw; everything else (emoji, other scripts) is dropped.
_DRAWABLE = re.compile(r"[^\x20-\x7e\xa0-\u024f\u2013-\u2026\u20ac\n]")


@dataclass(frozen=True)
class SynthImage:
    """One drawn image and its truth: `label` 1 = scam, 0 = benign."""

    data: bytes
    label: int
    kind: str
    text: str  # what is painted on it ("" for photos and charts)
    qr_url: str | None
    font: str | None  # the font file drawn with (relative to FONT_DIR), None without text
    split: Split
    seed: int

    @property
    def is_scam(self) -> bool:
        return self.label == 1


# --- sources -----------------------------------------------------------------------------


def text_split(text: str) -> Split:
    """The half a source text belongs to, by a hash of it: stable, disjoint, about 50/50."""
    return "tune" if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else "eval"


def drawable(text: str, limit: int = 220) -> str:
    """The text as the fonts can draw it: emoji and unsupported scripts dropped, spaces tidied."""
    lines = [" ".join(line.split()) for line in _DRAWABLE.sub("", text).splitlines()]
    cleaned = "\n".join(line for line in lines if line)
    return cleaned[:limit].rsplit(" ", 1)[0] if len(cleaned) > limit else cleaned


@functools.lru_cache(maxsize=4)
def source_texts(label: int, split: Split) -> tuple[str, ...]:
    """Labeled texts of `data/labeled/train.jsonl` for a label and split, cleaned for drawing.

    The text model was trained on this file: images from these texts test the reading (OCR),
    not the model's generalisation. The templates above are in no training data."""
    texts: list[str] = []
    with bundled_path("data/labeled/train.jsonl").open("rb") as handle:
        for line in handle:
            row = orjson.loads(line)
            if int(row["label"]) != label:
                continue
            text = drawable(str(row["text"]))
            if len(text) >= 25 and sum(c.isalpha() for c in text) >= 15 and text_split(text) == split:
                texts.append(text)
    return tuple(texts)


def template_texts(kind: str, split: Split) -> tuple[str, ...]:
    return TEMPLATES[split][kind]


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def fill_template(rng: np.random.Generator, template: str) -> str:
    coin = _pick(rng, _COINS)
    amount = _pick(rng, ("500", "1,000", "5,000", "10,000", "50,000"))
    phone = f"+1 ({rng.integers(800, 900)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
    handle = "@" + _pick(rng, ("recovery", "fundsback", "cryptohelp", "asset_retrieval")) + "_agent"
    return template.format(
        coin=coin,
        amount=amount,
        double=str(int(amount.replace(",", "")) * 2),
        brand=_pick(rng, _BRANDS),
        celeb=_pick(rng, _CELEBS),
        phone=phone,
        domain=_pick(rng, _SCAM_HOSTS[:7]),
        handle=handle,
    )


def scam_url(rng: np.random.Generator) -> str:
    host = _pick(rng, _SCAM_HOSTS)
    path = "".join(_pick(rng, tuple("abcdefghjkmnpqrstuvwxyz0123456789")) for _ in range(6))
    return f"https://{host}/{path}"


def benign_url(rng: np.random.Generator) -> str:
    return f"https://{_pick(rng, _BENIGN_HOSTS)}/{_pick(rng, ('events', 'tickets', 'about', 'info'))}"


# --- drawing helpers ---------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _font(name: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if name is not None and (FONT_DIR / name).is_file():
        return ImageFont.truetype(str(FONT_DIR / name), size)
    return ImageFont.load_default(size=size)


def available_fonts(split: Split) -> tuple[str, ...]:
    """The split's fonts installed here (none: Pillow's built-in font is drawn with)."""
    return tuple(name for name in FONTS[split] if (FONT_DIR / name).is_file())


def _choose_font(rng: np.random.Generator, fonts: Sequence[str] | None) -> str | None:
    return _pick(rng, fonts) if fonts else None


def _colour(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return (r, g, b)


def _luminance(colour: tuple[int, int, int]) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def photo_texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A photo's look without a photo: smooth colour fields at a few scales, soft blobs, grain.

    The smooth part is drawn at a quarter of the pixels and enlarged (it has no detail to lose)."""
    width, height = size
    half = (max(2, width // 2), max(2, height // 2))
    field = np.zeros((half[1], half[0], 3), dtype=np.float32)
    for cells, weight in ((3, 0.55), (8, 0.3), (24, 0.15)):
        field += weight * _noise_layer(rng, cells, half)
    image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):  # out-of-focus shapes
        x, y = int(rng.integers(0, half[0])), int(rng.integers(0, half[1]))
        r = int(rng.integers(half[0] // 20, half[0] // 5))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng, 0, 256))
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(2, 6))))
    image = image.resize(size, Image.Resampling.BILINEAR)
    detail = float(rng.uniform(0.0, 0.4))  # foliage, gravel, fabric: some photos are busy
    pixels = (1 - detail) * np.asarray(image, dtype=np.float32) + detail * _noise_layer(rng, 160, size)
    pixels += rng.normal(0, float(rng.uniform(2, 8)), (height, width, 1)).astype(np.float32)  # grain
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _noise_layer(rng: np.random.Generator, cells: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    small = rng.integers(0, 255, (cells, max(2, cells * width // height), 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)


def _urban_photo(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Buildings and windows: a photo with many straight sharp edges (hard for an edge prescreen)."""
    image = photo_texture(rng, size)
    draw = ImageDraw.Draw(image)
    width, height = size
    x = 0
    while x < width:
        w = int(rng.integers(width // 10, width // 4))
        top = int(rng.integers(height // 6, height // 2))
        wall = _colour(rng, 60, 200)
        draw.rectangle((x, top, x + w, height), fill=wall)
        step = int(rng.integers(14, 30))
        for wy in range(top + 8, height - step, step):
            for wx in range(x + 6, x + w - step, step):
                lit = rng.random() < 0.4
                draw.rectangle(
                    (wx, wy, wx + step // 2, wy + step // 2), fill=(230, 210, 140) if lit else (40, 45, 60)
                )
        x += w + int(rng.integers(0, 20))
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.2))))
    return image


def _background(rng: np.random.Generator, size: tuple[int, int], style: str) -> Image.Image:
    width, height = size
    if style == "flat":
        return Image.new("RGB", size, _colour(rng, 0, 256))
    if style == "gradient":
        start = np.array(_colour(rng, 0, 256), dtype=np.float32)
        end = np.array(_colour(rng, 0, 256), dtype=np.float32)
        t = np.linspace(0.0, 1.0, height if rng.random() < 0.5 else width, dtype=np.float32)[:, None]
        ramp = (start * (1 - t) + end * t).astype(np.uint8)
        if len(t) == height:
            arr = np.repeat(ramp[:, None, :], width, axis=1)
        else:
            arr = np.repeat(ramp[None, :, :], height, axis=0)
        return Image.fromarray(arr)
    if style == "noise":
        return photo_texture(rng, size)
    # "photo" with a darkened band so the text stays readable, as real scam cards do
    image = _urban_photo(rng, size) if rng.random() < 0.3 else photo_texture(rng, size)
    shade = Image.new("RGB", size, (0, 0, 0))
    return Image.blend(image, shade, float(rng.uniform(0.35, 0.6)))


def _text_colour(background: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    region = background.crop(box).resize((8, 8))
    mean = np.asarray(region, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    luminance = _luminance((int(mean[0]), int(mean[1]), int(mean[2])))
    return (15, 15, 20) if luminance > 140 else (250, 250, 245)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}".strip()
            if current and draw.textlength(trial, font=font) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        if current:
            lines.append(current)
    return lines


def _qr_image(url: str, module_px: int) -> Image.Image:
    """A QR code drawn with segno (quiet zone of 4 modules), black on white."""
    code = segno.make(url, error="m", micro=False)
    matrix = np.array([list(row) for row in code.matrix], dtype=np.uint8)
    matrix = np.pad(matrix, 4)
    pixels = np.where(matrix == 1, 0, 255).astype(np.uint8)
    return (
        Image.fromarray(pixels, "L")
        .resize((pixels.shape[1] * module_px, pixels.shape[0] * module_px), Image.Resampling.NEAREST)
        .convert("RGB")
    )


def _encode(rng: np.random.Generator, image: Image.Image) -> bytes:
    """JPEG at a quality between 45 and 95 most of the time, PNG otherwise."""
    buffer = io.BytesIO()
    if rng.random() < 0.8:
        image.save(buffer, "JPEG", quality=int(rng.integers(45, 96)))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _rotate(rng: np.random.Generator, image: Image.Image, max_degrees: float) -> Image.Image:
    if max_degrees <= 0 or rng.random() < 0.5:
        return image
    angle = float(rng.uniform(-max_degrees, max_degrees))
    fill = image.getpixel((0, 0))
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


_CARD_SIZES = ((1080, 1080), (1200, 675), (1080, 1350), (800, 600), (1000, 500), (720, 720), (1280, 720))


def _card_size(rng: np.random.Generator) -> tuple[int, int]:
    width, height = _CARD_SIZES[int(rng.integers(len(_CARD_SIZES)))]
    scale = float(rng.uniform(0.6, 1.0))
    return int(width * scale), int(height * scale)


def _paint_text_card(
    rng: np.random.Generator,
    text: str,
    *,
    qr_url: str | None,
    style: str | None,
    font_name: str | None,
    max_rotation: float,
) -> Image.Image:
    size = _card_size(rng)
    width, height = size
    image = _background(rng, size, style or _pick(rng, BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    margin = int(width * float(rng.uniform(0.05, 0.09)))
    qr_side = 0
    if qr_url:
        qr = _qr_image(
            qr_url, module_px=max(3, int(min(width, height) * float(rng.uniform(0.28, 0.4))) // 41)
        )
        qr_side = qr.width
        corner = int(rng.integers(3))  # bottom right, bottom left, or centred at the bottom
        qx = (width - qr_side - margin // 2, margin // 2, (width - qr_side) // 2)[corner]
        image.paste(qr, (qx, height - qr_side - margin // 2))
    text_height = height - qr_side - margin * 2
    body_size = max(18, int(min(width, height) * float(rng.uniform(0.045, 0.075))))
    lines: list[str] = []
    font = _font(font_name, body_size)
    while body_size > 14:  # shrink until the text fits above the QR code
        font = _font(font_name, body_size)
        lines = _wrap(draw, text, font, width - 2 * margin)
        if len(lines) * body_size * 1.3 <= max(text_height, body_size * 2):
            break
        body_size = int(body_size * 0.85)
    box = (margin, margin, width - margin, margin + int(len(lines) * body_size * 1.3))
    colour = _text_colour(image, (box[0], box[1], box[2], max(box[3], box[1] + 1)))
    centred = rng.random() < 0.5
    for row, line in enumerate(lines):
        line_font = font
        if row == 0 and len(lines) > 1:  # a larger headline when it fits
            headline = _font(font_name, int(body_size * 1.25))
            if draw.textlength(line, font=headline) <= width - 2 * margin:
                line_font = headline
        line_width = draw.textlength(line, font=line_font)
        x = (width - line_width) / 2 if centred else margin
        draw.text((x, margin + row * body_size * 1.3), line, fill=colour, font=line_font)
    return _rotate(rng, image, max_rotation)


# --- public drawing API ------------------------------------------------------------------


def draw_scam_image(
    rng: np.random.Generator,
    text: str,
    *,
    qr_url: str | None = None,
    style: str | None = None,
    fonts: Sequence[str] | None = None,
    max_rotation: float = 6.0,
) -> bytes:
    """A scam card painting `text` (and a QR code to `qr_url`), encoded as JPEG or PNG.

    `style` is the background (flat, gradient, noise, photo; random when None); `fonts` the
    font files to choose from (default: every split's installed fonts)."""
    font_name = _choose_font(
        rng, fonts if fonts is not None else available_fonts("tune") + available_fonts("eval")
    )
    image = _paint_text_card(
        rng, drawable(text, 400), qr_url=qr_url, style=style, font_name=font_name, max_rotation=max_rotation
    )
    return _encode(rng, image)


def _chart(rng: np.random.Generator, title: str, font_name: str | None) -> Image.Image:
    width, height = _pick(rng, ("800x500", "1000x600", "640x480", "900x900")).split("x")
    size = (int(width), int(height))
    image = Image.new("RGB", size, (255, 255, 255) if rng.random() < 0.7 else (245, 245, 240))
    draw = ImageDraw.Draw(image)
    font = _font(font_name, max(14, size[1] // 30))
    draw.text(
        (size[0] * 0.08, size[1] * 0.03), title, fill=(30, 30, 30), font=_font(font_name, size[1] // 20)
    )
    left, top, right, bottom = (
        int(size[0] * 0.1),
        int(size[1] * 0.15),
        int(size[0] * 0.95),
        int(size[1] * 0.88),
    )
    draw.line((left, top, left, bottom), fill=(60, 60, 60), width=2)
    draw.line((left, bottom, right, bottom), fill=(60, 60, 60), width=2)
    n = int(rng.integers(5, 13))
    values = rng.uniform(0.1, 1.0, n)
    labels = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    colour = _colour(rng, 30, 200)
    step = (right - left) / n
    points = []
    for i, value in enumerate(values):
        x0 = left + i * step + step * 0.15
        y = bottom - value * (bottom - top)
        points.append((x0 + step * 0.35, y))
        draw.text((x0, bottom + 6), labels[i % 12], fill=(80, 80, 80), font=font)
    if rng.random() < 0.6:
        for x, y in points:
            draw.rectangle((x - step * 0.35, y, x + step * 0.35, bottom - 1), fill=colour)
    else:
        draw.line(points, fill=colour, width=3)
    for k in range(5):  # y ticks
        y = bottom - k * (bottom - top) / 4
        draw.text((left - size[0] * 0.07, y - 8), str(int(k * 25)), fill=(80, 80, 80), font=font)
        draw.line((left, y, right, y), fill=(225, 225, 225), width=1)
    return image


def _meme(rng: np.random.Generator, caption: tuple[str, str], font_name: str | None) -> Image.Image:
    size = (int(rng.integers(500, 900)), int(rng.integers(500, 900)))
    image = photo_texture(rng, size)
    draw = ImageDraw.Draw(image)
    font = _font(font_name, max(24, size[0] // 14))
    for line, at_top in ((caption[0], True), (caption[1], False)):
        for row, piece in enumerate(_wrap(draw, line.upper(), font, size[0] - 30)):
            w = draw.textlength(piece, font=font)
            y = 12 + row * font.size * 1.15 if at_top else size[1] - (row + 1.3) * font.size * 1.15  # type: ignore[union-attr]
            draw.text(
                ((size[0] - w) / 2, y), piece, fill="white", font=font, stroke_width=3, stroke_fill="black"
            )
    return image


def _screenshot(rng: np.random.Generator, text: str, font_name: str | None) -> Image.Image:
    dark = rng.random() < 0.3
    width = int(rng.integers(600, 1000))
    bg, fg, muted = (
        ((22, 30, 40), (235, 235, 235), (140, 150, 160))
        if dark
        else ((255, 255, 255), (20, 20, 20), (110, 115, 120))
    )
    body = _font(font_name, max(16, width // 34))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(probe, text, body, width - 130)[:10]
    height = 140 + len(lines) * int(body.size * 1.4) + 70  # type: ignore[union-attr]
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    draw.ellipse((24, 24, 84, 84), fill=_colour(rng, 60, 220))
    name = _pick(rng, _NAMES)
    handle = "@" + name.lower().replace(" ", "").replace(".", "") + ".bsky.social"
    draw.text((100, 28), name, fill=fg, font=_font(font_name, max(16, width // 32)))
    draw.text(
        (100, 58),
        f"{handle} · {int(rng.integers(1, 23))}h",
        fill=muted,
        font=_font(font_name, max(14, width // 40)),
    )
    y = 110
    for line in lines:
        draw.text((100, y), line, fill=fg, font=body)
        y += int(body.size * 1.4)  # type: ignore[union-attr]
    small = _font(font_name, max(13, width // 45))
    for i, count in enumerate(rng.integers(0, 400, 3)):
        draw.text((100 + i * 120, y + 20), f"o {count}", fill=muted, font=small)
    return image


def _poster(rng: np.random.Generator, text: str, qr_url: str, font_name: str | None) -> Image.Image:
    return _paint_text_card(
        rng,
        text,
        qr_url=qr_url,
        style=_pick(rng, ("flat", "gradient")),
        font_name=font_name,
        max_rotation=3.0,
    )


def draw_benign_image(
    rng: np.random.Generator,
    kind: str,
    *,
    text: str | None = None,
    split: Split = "tune",
    fonts: Sequence[str] | None = None,
) -> bytes:
    """An ordinary image of `kind` (photo, chart, meme, screenshot, poster), JPEG or PNG.

    `text` is the screenshot's post or the poster's text (default: from the split's sources)."""
    return _benign(rng, kind, text=text, split=split, fonts=fonts)[0]


def _benign(
    rng: np.random.Generator,
    kind: str,
    *,
    text: str | None,
    split: Split,
    fonts: Sequence[str] | None,
) -> tuple[bytes, str, str | None, str | None]:
    """(bytes, painted text, font, QR url) of a benign image."""
    font_name = _choose_font(rng, fonts if fonts is not None else available_fonts(split))
    if kind == "photo":
        size = (int(rng.integers(800, 1600)), int(rng.integers(600, 1200)))
        image = _urban_photo(rng, size) if rng.random() < 0.3 else photo_texture(rng, size)
        return _encode(rng, image), "", None, None
    if kind == "chart":
        title = _pick(rng, CHART_TITLES[split])
        return _encode(rng, _chart(rng, title, font_name)), title, font_name, None
    if kind == "meme":
        captions = CAPTIONS[split]
        caption = captions[int(rng.integers(len(captions)))]
        return _encode(rng, _meme(rng, caption, font_name)), "\n".join(caption), font_name, None
    if kind == "screenshot":
        post = text if text is not None else _pick(rng, source_texts(0, split))
        return _encode(rng, _screenshot(rng, drawable(post), font_name)), post, font_name, None
    if kind == "poster":
        words = text if text is not None else _pick(rng, POSTERS[split])
        url = benign_url(rng)
        return _encode(rng, _poster(rng, words, url, font_name)), words, font_name, url
    raise ValueError(f"unknown benign kind {kind!r}; one of {BENIGN_KINDS}")


# --- records with ground truth -----------------------------------------------------------


def scam_image(
    seed: int, *, split: Split = "tune", kind: str | None = None, with_qr: bool | None = None
) -> SynthImage:
    """A scam image drawn from `seed` with the split's texts, templates and fonts."""
    rng = np.random.default_rng([seed, 1, SPLITS.index(split)])
    kind = kind or _pick(rng, SCAM_KINDS)
    if kind == "data_text":
        text = _pick(rng, source_texts(1, split))
    elif kind in TEMPLATES[split]:
        text = fill_template(rng, _pick(rng, template_texts(kind, split)))
    else:
        raise ValueError(f"unknown scam kind {kind!r}; one of {SCAM_KINDS}")
    qr_url = scam_url(rng) if (with_qr if with_qr is not None else rng.random() < 0.35) else None
    fonts = available_fonts(split)
    font_name = _choose_font(rng, fonts)
    image = _paint_text_card(
        rng, drawable(text, 400), qr_url=qr_url, style=None, font_name=font_name, max_rotation=6.0
    )
    return SynthImage(_encode(rng, image), 1, kind, text, qr_url, font_name, split, seed)


def benign_image(seed: int, *, split: Split = "tune", kind: str | None = None) -> SynthImage:
    """A benign image drawn from `seed` with the split's texts, captions and fonts."""
    rng = np.random.default_rng([seed, 0, SPLITS.index(split)])
    kind = kind or _pick(rng, BENIGN_KINDS)
    data, text, font_name, qr_url = _benign(rng, kind, text=None, split=split, fonts=None)
    return SynthImage(data, 0, kind, text, qr_url, font_name, split, seed)


def image_mix(
    seed: int,
    count: int,
    *,
    split: Split = "tune",
    scam_share: float = 0.15,
    photo_share: float = 0.7,
) -> Iterator[SynthImage]:
    """`count` images in a realistic proportion: `photo_share` photos, `scam_share` scam cards,
    the rest charts, memes, screenshots and posters. Image i uses seed `seed * 1_000_003 + i`."""
    rng = np.random.default_rng([seed, 2, SPLITS.index(split)])
    others = tuple(k for k in BENIGN_KINDS if k != "photo")
    for i in range(count):
        image_seed = seed * 1_000_003 + i
        draw = float(rng.random())
        if draw < scam_share:
            yield scam_image(image_seed, split=split)
        elif draw < scam_share + photo_share:
            yield benign_image(image_seed, split=split, kind="photo")
        else:
            yield benign_image(image_seed, split=split, kind=_pick(rng, others))
