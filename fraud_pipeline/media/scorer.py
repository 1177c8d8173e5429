"""Score one image: what it says (OCR), where its codes point (QR), whether it is a known scam.

The image's evidence is judged the way a post is: the text it carries (OCR lines and the
alt text) goes through the text model and the policy's rules, the URLs of its QR codes and
the domains painted on it go through the same link signals as post links (lookalike, scam,
shortener, high-abuse TLD), and a perceptual hash is matched against the policy's
blocklist. All of it combines as a noisy-OR into `fraud_media_likelihood`, with a reason
for every piece that fired. Every number comes from the policy's `media` section.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from fraud_pipeline.ingest.links import link_host, registrable_domain
from fraud_pipeline.media.blocklist import closest_match, perceptual_hash
from fraud_pipeline.media.decode import MediaRejected, decode_image
from fraud_pipeline.media.reading import OcrUnavailable, ocr_lines, prescreen, qr_texts
from fraud_pipeline.policy import Policy
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.base import ModelUnavailable, TextScorer
from fraud_pipeline.scoring.rules import RuleSet
from fraud_pipeline.scoring.signals import PostSignals

# A domain painted on an image: labels joined by dots, optional scheme and path.
_PAINTED_DOMAIN = re.compile(
    r"(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?:/\S*)?"
)
_NO_BEHAVIOUR = PostSignals(
    account_posts_window=0,
    account_is_new=False,
    campaign_id=None,
    campaign_accounts=0,
    media_reuse_accounts=0,
)


@dataclass
class MediaVerdict:
    """The verdict on one image; `fraud_media_likelihood` is None when it could not be read."""

    fraud_media_likelihood: float | None
    is_fraud: bool
    reasons: list[str] = field(default_factory=list)
    unavailable: str | None = None
    ocr_text: str = ""
    qr_urls: list[str] = field(default_factory=list)
    ocr_skipped: bool = False  # the prescreen found too little text
    blocklist_distance: int | None = None

    def to_json(self, path: str) -> dict[str, object]:
        return {
            "path": path,
            "fraud_media_likelihood": self.fraud_media_likelihood,
            "is_fraud": self.is_fraud,
            "reasons": self.reasons,
            "unavailable": self.unavailable,
            "ocr_text": self.ocr_text,
            "qr_urls": self.qr_urls,
            "ocr_skipped": self.ocr_skipped,
        }


def painted_links(text: str) -> list[str]:
    """URLs and bare domains written in OCR text whose host has a registrable domain."""
    links = []
    for match in _PAINTED_DOMAIN.finditer(text.lower()):
        if registrable_domain(match.group(1)):
            links.append(match.group(0))
    return links


class ImageScorer:
    """Reads and judges image bytes with one policy and one text model."""

    def __init__(self, policy: Policy, text_model: TextScorer) -> None:
        spec = policy.spec.media
        if spec is None:
            raise ValueError("the policy has no `media` section (policy/media.yaml)")
        self.spec = spec
        self.blocklist = list(policy.spec.media_blocklist)
        self.rules = RuleSet(policy.spec)
        self.text_model = text_model

    def score_bytes(self, data: bytes, alt_text: str = "") -> MediaVerdict:
        try:
            image = decode_image(data, self.spec)
        except MediaRejected as exc:
            return MediaVerdict(None, False, [f"media unavailable: {exc.reason}"], unavailable=exc.reason)
        spec = self.spec
        lines: list[str] = []
        qr_urls: list[str] = []
        ocr_skipped = True
        ocr_problem: str | None = None
        first_grey: Image.Image | None = None
        for frame in image.frames:
            grey = frame.convert("L")  # once, for the prescreen, the QR search and the pHash
            if first_grey is None:
                first_grey = grey
            seen = prescreen(grey, spec)
            for text in qr_texts(grey, thorough=seen.reads or spec.qr_thorough_without_text):
                if text not in qr_urls:
                    qr_urls.append(text)
            if seen.reads:
                ocr_skipped = False
                try:
                    read = ocr_lines(frame, spec, seen.busy_share)
                except OcrUnavailable as exc:
                    ocr_problem = str(exc)
                    break
                lines.extend(line.text for line in read if line.text not in lines)
        ocr_text = "\n".join(lines)
        verdict = MediaVerdict(0.0, False, ocr_text=ocr_text, qr_urls=qr_urls, ocr_skipped=ocr_skipped)
        if ocr_problem:
            verdict.reasons.append(f"OCR unavailable: {ocr_problem}")
        keep = 1.0

        first = first_grey if first_grey is not None else image.frames[0]
        match = closest_match(perceptual_hash(first), self.blocklist, spec.blocklist_max_distance)
        if match is not None:
            entry, distance = match
            verdict.blocklist_distance = distance
            keep *= 1.0 - spec.blocklist_weight
            note = f": {entry.note}" if entry.note else ""
            verdict.reasons.append(f"known scam image {entry.phash} ({distance} bits apart){note}")

        read_text = "\n".join(t for t in (ocr_text, alt_text.strip()) if t)
        if read_text:
            try:
                model_score = float(self.text_model.score([read_text])[0])
            except ModelUnavailable as exc:
                verdict.reasons.append(f"text model unavailable: {exc.reason}")
            else:
                keep *= 1.0 - spec.text_weight * model_score
                if model_score >= spec.flag_at:
                    verdict.reasons.append(f"text model {model_score:.2f} on: {self._excerpt(read_text)!r}")

        links = qr_urls + painted_links(ocr_text)
        if read_text or links:
            keep *= self._rules(read_text, links, verdict)

        verdict.fraud_media_likelihood = round(1.0 - keep, 4)
        verdict.is_fraud = verdict.fraud_media_likelihood >= spec.flag_at
        return verdict

    def _rules(self, text: str, links: Sequence[str], verdict: MediaVerdict) -> float:
        """The policy's rules on the image's text and links; returns the share of doubt left."""
        hosts = [h for h in (link_host(u if "://" in u else f"https://{u}") for u in links) if h]
        post = Post(
            uri="",
            did="",
            rkey="",
            operation="create",
            time_us=0,
            text=text,
            links=list(links),
            domains=hosts,
        )
        keep = 1.0
        for hit in self.rules.evaluate(self.rules.context(post, _NO_BEHAVIOUR)):
            if hit.shadow:
                continue
            keep *= 1.0 - hit.weight
            qr_hosts = {link_host(u) for u in verdict.qr_urls} - {None}
            source = "QR code" if any(h in hit.reason for h in qr_hosts if h) else "image"
            verdict.reasons.append(f"rule {hit.rule} ({source}): {hit.reason}")
        return keep

    def _excerpt(self, text: str) -> str:
        flat = " ".join(text.split())
        limit = self.spec.excerpt_chars
        return flat if len(flat) <= limit else flat[: limit - 1] + "…"
