"""The detection policy's shape: sections, fields, types and ranges (pydantic models).

The YAML files under `policy/` are parsed into `PolicySpec`; anything the models reject
(an unknown key, a wrong type, a threshold outside 0..1) becomes a `PolicyProblem` naming
the file and line (see `loader.py`). Cross-field checks that need the signal registry
(unknown signal, a comparison of the wrong type, duplicate rule names, undeclared labels)
live in `loader.py` too, where each problem still knows its place in the file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
LabelValue = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """Two operating points on one score: `label` (automatic) must be at least `review`."""

    review: Probability
    label: Probability

    @model_validator(mode="after")
    def _label_not_below_review(self) -> Tier:
        if self.label < self.review:
            raise ValueError(f"label point {self.label} is below the review point {self.review}")
        return self


class Thresholds(_Strict):
    text_model: Tier
    media_model: Tier
    combined: Tier


class Quotas(_Strict):
    """Automatic `label` actions per label value per UTC day before the circuit breaker trips."""

    default_per_day: Annotated[int, Field(ge=0)]
    per_label: dict[LabelValue, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    def limit(self, label: str) -> int:
        return self.per_label.get(label, self.default_per_day)


class When(_Strict):
    all: list[str] = Field(default_factory=list)
    any: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if not self.all and not self.any:
            raise ValueError("a rule needs at least one condition under `all` or `any`")
        return self


class RuleSpec(_Strict):
    name: RuleName
    label: LabelValue
    # A constant 0..1, or the name of a numeric signal read per post (clamped to 0..1).
    weight: Probability | str = 0.0
    action: Literal["label", "review"] | None = None
    mode: Literal["active", "shadow"] = "active"
    when: When
    reason: Annotated[str, Field(min_length=1, max_length=300)]
    description: str = ""


class PolicyLists(_Strict):
    url_shorteners: list[str] = Field(default_factory=list)
    high_abuse_tlds: list[str] = Field(default_factory=list)
    scam_domains: list[str] = Field(default_factory=list)
    impersonated_brands: dict[str, list[str]] = Field(default_factory=dict)


class Windows(_Strict):
    behaviour_s: Annotated[float, Field(gt=0, le=7 * 86400)]


class Fingerprint(_Strict):
    min_chars: Annotated[int, Field(ge=1, le=10_000)]


class EvidenceWeights(_Strict):
    """Campaign evidence = size term x (base + new_accounts x share of new accounts +
    concentration x (1 - span / window) + shared_domain x [most accounts link one domain])."""

    base: Annotated[float, Field(ge=0, le=1)]
    new_accounts: Annotated[float, Field(ge=0, le=1)]
    concentration: Annotated[float, Field(ge=0, le=1)]
    shared_domain: Annotated[float, Field(ge=0, le=1)]

    @model_validator(mode="after")
    def _sum_to_one(self) -> EvidenceWeights:
        total = self.base + self.new_accounts + self.concentration + self.shared_domain
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"campaign evidence weights must sum to 1, got {total:g}")
        return self


class Campaign(_Strict):
    min_accounts: Annotated[int, Field(ge=2)]
    fingerprint: Fingerprint
    # Evidence that a group of posts (one text, near-duplicate wording, one image) is a campaign.
    bar: Annotated[float, Field(gt=0, le=1)]
    new_account_s: Annotated[float, Field(gt=0, le=365 * 86400)]
    account_memory_days: Annotated[int, Field(ge=1, le=365)]
    near_duplicate_jaccard: Annotated[float, Field(gt=0, lt=1)]
    # Only posts with a link join near-duplicate groups (every post pushing somewhere joins
    # exact-text and image groups): the MinHash bands are most of the tracker's work.
    near_duplicate_links_only: bool = False
    minhash_permutations: Annotated[int, Field(ge=4, le=256)]
    shingle_chars: Annotated[int, Field(ge=2, le=16)]
    size_scale: Annotated[float, Field(gt=0)]
    shared_domain_share: Annotated[float, Field(gt=0, le=1)]
    weights: EvidenceWeights


class FraudRateJump(_Strict):
    """The one fraud-rate-jump rule: rate > max(factor * trailing, trailing + absolute).

    The compaction check and the marts compare an hour with the `baseline_hours` before it;
    the stream-health sensor compares the last `stream_recent_s` with the `stream_baseline_s`
    before them. The rule itself is the same everywhere."""

    factor: Annotated[float, Field(ge=1.0)]
    absolute: Probability
    min_posts: Annotated[int, Field(ge=1)]
    baseline_hours: Annotated[int, Field(ge=1, le=24 * 30)]
    stream_recent_s: Annotated[int, Field(ge=60, le=86400)] = 300
    stream_baseline_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600

    def excess(
        self, recent_rate: float | None, trailing_rate: float | None, recent_posts: int
    ) -> float | None:
        """How far the recent rate is above the jump bar (> 0: jumped); None when not judged
        (too few recent posts, or no rate). The stream-health sensor publishes this as the
        `Fraud-Rate-Jump` metric the infra alarm watches (fraud_pipeline/policy/alarm.py)."""
        if recent_rate is None or trailing_rate is None or recent_posts < self.min_posts:
            return None
        return recent_rate - max(trailing_rate * self.factor, trailing_rate + self.absolute)

    def jumped(self, recent_rate: float | None, trailing_rate: float | None, recent_posts: int) -> bool:
        excess = self.excess(recent_rate, trailing_rate, recent_posts)
        return excess is not None and excess > 0


class LabelLocale(_Strict):
    """What Bluesky clients show for a published label, in one language."""

    name: Annotated[str, Field(min_length=1, max_length=640)]
    description: Annotated[str, Field(min_length=1, max_length=10_000)]


# atproto: a labeler's own values are lower-case ascii letters and '-'.
PublishedValue = Annotated[str, Field(pattern=r"^[a-z][a-z-]*$", max_length=100)]


class PublishedLabel(_Strict):
    """One value the labeler publishes and its `labelValueDefinition`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sources: list[LabelValue] = Field(default_factory=list, alias="from")  # verdict labels
    severity: Literal["inform", "alert", "none"]
    blurs: Literal["content", "media", "none"]
    default_setting: Literal["ignore", "warn", "hide"] = "warn"
    locales: Annotated[dict[str, LabelLocale], Field(min_length=1)]


class LabelerSpec(_Strict):
    """What the labeler publishes on Bluesky for an `action: label` verdict (policy/labeler.yaml)."""

    default_value: PublishedValue
    expires_after_days: Annotated[float, Field(gt=0)] | None = None
    values: Annotated[dict[PublishedValue, PublishedLabel], Field(min_length=1)]

    @model_validator(mode="after")
    def _default_is_a_value(self) -> LabelerSpec:
        if self.default_value not in self.values:
            raise ValueError(f"default_value {self.default_value!r} is not one of the values")
        return self


class AccountWeights(_Strict):
    """Weight of each account signal in the account score (a noisy-OR, like the post score)."""

    profile_contact: Probability
    profile_phone: Probability
    profile_services: Probability
    impersonation: Probability
    reply_flood: Probability
    repeated_text: Probability
    follow_burst: Probability
    new_account: Probability
    handle_changes: Probability
    profile_text: Probability = 0.0  # the text model reads the profile as a scam


class AccountsSpec(_Strict):
    """Account-level evidence (policy/accounts.yaml): windows, bars, weights, lists, tiers."""

    window_s: Annotated[float, Field(gt=0, le=7 * 86400)]
    follow_window_s: Annotated[float, Field(gt=0, le=86400)]
    memory_days: Annotated[int, Field(ge=1, le=365)]
    new_account_s: Annotated[float, Field(gt=0, le=365 * 86400)]
    reply_targets: Annotated[int, Field(ge=2)]
    repeated_text: Annotated[int, Field(ge=2)]
    follows_per_window: Annotated[int, Field(ge=2)]
    handle_changes: Annotated[int, Field(ge=1)]
    min_text_chars: Annotated[int, Field(ge=1, le=10_000)]
    # The verdict label an account's `label` action carries (declared under `labels`; the
    # labeler's values map it to what is published on the DID).
    label: LabelValue = "scam-account"
    # New `label` actions on accounts per UTC day, for all shards (the account circuit breaker:
    # past it an account's label is recorded but the action is `review`; scoring/quotas.py).
    quota_per_day: Annotated[int, Field(ge=0)]
    weights: AccountWeights
    tiers: Tier
    # Evidence a post inherits from its account's verdict (added to the post's rule weights).
    post_weight: dict[Literal["label", "review"], Probability]
    contact_routes: list[Annotated[str, Field(min_length=2)]]
    phone_pattern: Annotated[str, Field(min_length=1)]
    service_terms: list[Annotated[str, Field(min_length=2)]]
    # Well-known accounts by display name -> their own handles (a brand's handles come from
    # lists.impersonated_brands: its domains and their subdomains).
    known_accounts: dict[Annotated[str, Field(min_length=3)], list[str]] = Field(default_factory=dict)
    # Words a fake account adds to the name it borrows ("MetaMask Support", "Elon Musk Official").
    name_role_words: list[str] = Field(default_factory=list)


class MediaSpec(_Strict):
    """How images are read and judged (policy/media.yaml; fraud_pipeline/media/)."""

    max_bytes: Annotated[int, Field(gt=0, le=100_000_000)]  # larger blobs are rejected unread
    max_pixels: Annotated[int, Field(gt=0, le=500_000_000)]  # width x height (per frame)
    max_frames: Annotated[int, Field(ge=1, le=100)]  # frames read of an animation
    decode_max_side: Annotated[int, Field(ge=256, le=8192)]  # frames are shrunk to this once decoded
    # OCR engines by preference; the first installed one reads (media/reading.py)
    ocr_engines: Annotated[list[Literal["tesseract", "rapidocr"]], Field(min_length=1)]
    ocr_fallback_below_chars: Annotated[int, Field(ge=0, le=10_000)]  # fewer letters read: next engine too
    ocr_max_side: Annotated[int, Field(ge=64, le=4096)]  # images are shrunk to this for OCR
    ocr_detect_side: Annotated[int, Field(ge=64, le=4096)]  # RapidOCR finds text lines at this size
    ocr_max_lines: Annotated[int, Field(ge=1, le=1000)]  # RapidOCR reads at most this many (largest first)
    ocr_rec_min_width: Annotated[int, Field(ge=8, le=4096)]  # RapidOCR's recogniser pads shorter lines to it
    prescreen_side: Annotated[int, Field(ge=32, le=1024)]  # thumbnail the prescreen looks at
    prescreen_step_of_range: Probability  # a text edge: a step this share of the image's grey range
    prescreen_min_text_edges: Probability  # share of text-edge pixels below which OCR is skipped
    prescreen_glyph_min_height: Annotated[int, Field(ge=1, le=256)]  # thumbnail px: a letter-tall outline
    prescreen_min_glyph_edges: Probability  # thumbnail share on such outlines below which OCR is skipped
    prescreen_busy_step_of_range: Probability  # a texture step: this share of the grey range, under an edge
    ocr_rapidocr_first_busy: Probability  # thumbnail share on busy steps from which RapidOCR reads first
    # when RapidOCR read first: fewer letters read than this, Tesseract reads too
    ocr_fallback_after_rapidocr_below_chars: Annotated[int, Field(ge=0, le=10_000)]
    # the QR search of a frame the prescreen skips also tries it inverted and downscaled
    qr_thorough_without_text: bool
    ocr_min_confidence: Probability  # OCR lines below it are dropped
    text_weight: Probability  # how much the text model's score of what is read counts
    blocklist_weight: Probability  # evidence of a known scam image
    blocklist_max_distance: Annotated[int, Field(ge=0, le=32)]  # perceptual-hash bits that may differ
    flag_at: Probability  # fraud_media_likelihood at or above it: is_fraud
    excerpt_chars: Annotated[int, Field(ge=10, le=1000)]  # OCR text quoted in a reason
    # The infra alarm on images the stream could not read (fraud_pipeline/media/alarm.py): it
    # fires when more than this share of the images posts show were not read.
    unavailable_alarm_share: Probability


class BlockedImage(_Strict):
    """A known scam image: its perceptual hash (imagehash pHash, hex) and why it is listed."""

    phash: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    note: str = ""


class PolicySpec(_Strict):
    thresholds: Thresholds
    quotas: Quotas
    labels: dict[LabelValue, str]
    # Held-out figures the operating points were chosen on (written by `policy calibrate`).
    calibration: dict[str, Any] = Field(default_factory=dict)
    lists: PolicyLists
    rules: list[RuleSpec]
    windows: Windows
    campaign: Campaign
    fraud_rate_jump: FraudRateJump
    labeler: LabelerSpec | None = None
    accounts: AccountsSpec | None = None
    media: MediaSpec | None = None
    media_blocklist: list[BlockedImage] = Field(default_factory=list)

    def rule(self, name: str) -> RuleSpec | None:
        return next((r for r in self.rules if r.name == name), None)


# The policy's top-level sections; each lives in exactly one file of the policy folder.
SECTIONS: tuple[str, ...] = tuple(PolicySpec.model_fields)
