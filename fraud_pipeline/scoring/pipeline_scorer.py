"""Turn a batch of posts into tagged records: models, signals, rules, one verdict each.

The verdict combines independent evidence: the text model's calibrated probability, the
media model's, and each rule that fired (weights in `rules.py`), as a noisy-OR:
`score = 1 - (1 - text) * (1 - media) * prod(1 - rule_weight)`. A post is fraud when a model
alone reaches its operating threshold, or when the combined score reaches the (higher)
`combined_threshold`: several weak signals together must be stronger evidence than one model
verdict, or repetition (campaign, image reuse, bursts) counted twice would flag memes. A
model that is unavailable contributes nothing but a reason, so the post is still tagged (and
a metric counts it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from fraud_pipeline.records import Post, TaggedRecord
from fraud_pipeline.scoring.base import ModelUnavailable, TextScorer
from fraud_pipeline.scoring.rules import RULES, Rule, evaluate_rules
from fraud_pipeline.scoring.signals import BehaviorTracker, PostSignals

MAX_SCORED_TEXT_CHARS = 10_000  # the model sees at most this much of a post


def media_description(post: Post) -> str:
    """What the media model reads of a post's media: alt texts and link-card text."""
    parts = [alt for alt in post.media_alts if alt]
    if post.external_title:
        parts.append(post.external_title)
    if post.external_description:
        parts.append(post.external_description)
    return "\n".join(parts)


def has_media(post: Post) -> bool:
    return bool(post.media_paths)


@dataclass
class ScoreCounts:
    """What one scoring call did, for the seed metrics and for the caller's stats."""

    processed: int = 0
    text_only: int = 0
    is_fraud: int = 0
    fraud_both: int = 0
    fraud_media: int = 0
    fraud_text: int = 0
    deleted: int = 0
    text_unavailable: int = 0
    media_unavailable: int = 0
    unavailable_reasons: list[str] = field(default_factory=list)

    def add(self, other: ScoreCounts) -> None:
        for name in (
            "processed",
            "text_only",
            "is_fraud",
            "fraud_both",
            "fraud_media",
            "fraud_text",
            "deleted",
            "text_unavailable",
            "media_unavailable",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unavailable_reasons.extend(other.unavailable_reasons)


class PostScorer:
    """Scores posts with a text model, a media model, behavioural signals and rules."""

    def __init__(
        self,
        text_scorer: TextScorer,
        media_scorer: TextScorer | None = None,
        tracker: BehaviorTracker | None = None,
        rules: tuple[Rule, ...] = RULES,
        threshold: float | None = None,
        combined_threshold: float = 0.6,
    ) -> None:
        self.text_scorer = text_scorer
        self.media_scorer = media_scorer
        self.tracker = tracker or BehaviorTracker()
        self.rules = rules
        self.threshold = text_scorer.threshold if threshold is None else threshold
        self.combined_threshold = max(combined_threshold, self.threshold)

    def _model_scores(
        self, scorer: TextScorer | None, texts: Sequence[str]
    ) -> tuple[list[float] | None, str | None]:
        if scorer is None or not texts:
            return None, None
        try:
            scores = scorer.score(texts)
        except ModelUnavailable as exc:
            return None, exc.reason
        if len(scores) != len(texts):
            return None, f"model returned {len(scores)} scores for {len(texts)} texts"
        return scores, None

    def score(self, posts: Sequence[Post]) -> tuple[list[TaggedRecord], ScoreCounts]:
        """Tag every post (deletes pass through unscored), in input order."""
        counts = ScoreCounts()
        live = [p for p in posts if p.operation != "delete"]
        text_scores, text_error = self._model_scores(
            self.text_scorer, [p.text[:MAX_SCORED_TEXT_CHARS] for p in live]
        )
        media_posts = [p for p in live if has_media(p)]
        media_scores, media_error = self._model_scores(
            self.media_scorer, [media_description(p)[:MAX_SCORED_TEXT_CHARS] for p in media_posts]
        )
        text_by_post: dict[int, float] = {}
        if text_scores is not None:
            text_by_post = {id(p): s for p, s in zip(live, text_scores, strict=True)}
        media_by_post: dict[int, float] = {}
        if media_scores is not None:
            media_by_post = {id(p): s for p, s in zip(media_posts, media_scores, strict=True)}
        if text_error:
            counts.unavailable_reasons.append(f"text model: {text_error}")
        if media_error:
            counts.unavailable_reasons.append(f"media model: {media_error}")

        tagged: list[TaggedRecord] = []
        for post in posts:
            if post.operation == "delete":
                counts.deleted += 1
                tagged.append(self._tag_delete(post))
                continue
            signals = self.tracker.observe(post)
            tagged.append(
                self._tag(
                    post,
                    signals,
                    text_by_post.get(id(post)),
                    media_by_post.get(id(post)),
                    text_error,
                    media_error,
                    counts,
                )
            )
        return tagged, counts

    def _tag(
        self,
        post: Post,
        signals: PostSignals,
        text_p: float | None,
        media_p: float | None,
        text_error: str | None,
        media_error: str | None,
        counts: ScoreCounts,
    ) -> TaggedRecord:
        media = has_media(post)
        reasons: list[str] = []
        if media and media_p is not None and signals.media_reuse_accounts >= 3:
            # An image reused by several accounts is evidence the model cannot see (memes are
            # reused too, so it only ever adds up to half).
            media_p = 1 - (1 - media_p) * (1 - min(0.5, (signals.media_reuse_accounts - 2) / 10))
        if text_p is None:
            counts.text_unavailable += 1
            reasons.append(f"text score unavailable: {text_error or 'no score'}")
        if media and media_p is None and self.media_scorer is not None:
            counts.media_unavailable += 1
            reasons.append(f"media score unavailable: {media_error or 'no score'}")

        hits = evaluate_rules(post, signals, self.rules)
        remaining = (1 - (text_p or 0.0)) * (1 - (media_p or 0.0) if media else 1.0)
        for hit in hits:
            remaining *= 1 - hit.weight
        fraud_score = 1 - remaining
        text_fraud = text_p is not None and text_p >= self.threshold
        media_fraud = media and media_p is not None and media_p >= self.threshold
        is_fraud = text_fraud or media_fraud or fraud_score >= self.combined_threshold

        labels: list[str] = []
        if text_fraud:
            labels.append("fraud-text")
            reasons.append(f"text model {text_p:.2f} >= {self.threshold:.2f}")
        if media_fraud:
            labels.append("fraud-media")
            reasons.append(f"media model {media_p:.2f} >= {self.threshold:.2f}")
        for hit in hits:
            if hit.label not in labels:
                labels.append(hit.label)
            reasons.append(hit.reason)
        if signals.campaign_id is not None:
            labels.append(f"campaign:{signals.campaign_id}")

        counts.processed += 1
        counts.text_only += 0 if media else 1
        counts.is_fraud += int(is_fraud)
        counts.fraud_text += int(text_fraud)
        counts.fraud_media += int(media_fraud)
        counts.fraud_both += int(text_fraud and media_fraud)
        return TaggedRecord.from_post(
            post,
            fraud_text_likelihood=text_p,
            fraud_media_likelihood=media_p if media else None,
            fraud_score=round(fraud_score, 6),
            is_fraud=is_fraud,
            labels=labels,
            reasons=reasons,
            rule_hits=[hit.rule for hit in hits],
            text_model_version=self.text_scorer.version,
            media_model_version=self.media_scorer.version if (media and self.media_scorer) else None,
            scored_at_us=time.time_ns() // 1000,
            action="review" if is_fraud else "none",
            campaign_id=signals.campaign_id,
        )

    def _tag_delete(self, post: Post) -> TaggedRecord:
        return TaggedRecord.from_post(
            post,
            fraud_text_likelihood=None,
            fraud_media_likelihood=None,
            fraud_score=None,
            is_fraud=False,
            labels=[],
            reasons=["deleted by its author"],
            rule_hits=[],
            text_model_version=None,
            media_model_version=None,
            scored_at_us=time.time_ns() // 1000,
        )
