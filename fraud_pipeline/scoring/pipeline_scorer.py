"""Turn a batch of posts into tagged records: models, signals, rules, one verdict each.

Every number that judges comes from the detection policy (policy/*.yaml), read through a
`PolicyHolder` once per batch, so a whole batch is judged by one version and its
`policy_version` goes on every record. The combined score is a noisy-OR of independent
evidence: `score = 1 - (1 - text) * (1 - media) * prod(1 - rule weight)` over the active
(non-shadow) rules that fired. Two tiers of action: `label` when a model alone, the combined
score or a rule reaches the policy's `label` point (chosen for a very low benign rate),
`review` at the wider `review` points, else `none`; `is_fraud` is `action != "none"`. A daily
quota per label turns further `label` actions into `review` (`quotas.py`; new labels on
accounts have their own quota there). A model that is
unavailable contributes nothing but a reason, so the post is still tagged (and counted).

Behaviour is observed for the whole batch at once (`BehaviorTracker.observe_batch`: three
state-store calls per batch, in the store every shard shares). When a post takes a campaign
over the bar and is flagged, the campaign's earlier posts get verdict updates (`relabel.py`),
appended after the batch's tagged records. Account verdicts that changed in the batch follow
them as account records (`operation = "account"`, accounts/lake_table.py); profile texts in
the batch are read by the text model first (one call), as evidence for their accounts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fraud_pipeline.accounts.events import AccountEvent
from fraud_pipeline.accounts.lake_table import account_record
from fraud_pipeline.accounts.tracker import AccountTracker
from fraud_pipeline.batch_gc import collector_paused
from fraud_pipeline.policy import Policy
from fraud_pipeline.policy.runtime import ActivePolicy, PolicyHolder
from fraud_pipeline.records import Post, TaggedRecord
from fraud_pipeline.scoring.base import ModelUnavailable, TextScorer
from fraud_pipeline.scoring.canonical import TextForms, batch_forms
from fraud_pipeline.scoring.quotas import QuotaBreaker, apply_account_quota, utc_day
from fraud_pipeline.scoring.relabel import verdict_updates
from fraud_pipeline.scoring.rules import SHADOW_PREFIX, RuleHit, RuleScreen
from fraud_pipeline.scoring.signal_registry import CompiledLists, read_batch
from fraud_pipeline.scoring.signals import BehaviorTracker, BehaviourParams, PostSignals
from fraud_pipeline.state.base import StateStore

if TYPE_CHECKING:
    from fraud_pipeline.media.stream import PostImages, StreamImages

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


def with_image_evidence(
    description_p: float | None, images: PostImages, post: Post, reasons: list[str]
) -> float | None:
    """The media score once the pixels are read: a noisy-OR of the alt-text/link-card score and
    the most suspicious image; with no image read, the descriptive text alone when there is
    any, else unknown (None: an unread image is not evidence of innocence)."""
    reasons.extend(images.reasons)
    reasons.extend(f"media score unavailable: {why}" for _code, why in images.unavailable)
    if images.likelihood is None:
        return description_p if media_description(post).strip() else None
    if description_p is None:
        return images.likelihood
    return 1 - (1 - description_p) * (1 - images.likelihood)


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
    relabelled: int = 0  # verdict updates for earlier posts of a campaign
    account_records: int = 0  # account verdicts that changed (account records on the tagged stream)
    text_unavailable: int = 0
    media_unavailable: int = 0
    action_label: int = 0
    action_review: int = 0
    unavailable_reasons: list[str] = field(default_factory=list)
    images_read: int = 0  # blobs fetched and scored within the batch's budget
    image_cache_hits: int = 0  # blobs whose verdict came from the CID cache
    image_unavailable: Counter[str] = field(default_factory=Counter)  # per reason code, per post image
    rule_hits: Counter[str] = field(default_factory=Counter)  # per rule; shadow ones as shadow:<name>
    quota_exceeded: Counter[str] = field(default_factory=Counter)  # per label
    account_quota_exceeded: Counter[str] = field(default_factory=Counter)  # per label, on accounts

    def add(self, other: ScoreCounts) -> None:
        for name in (
            "processed",
            "text_only",
            "is_fraud",
            "fraud_both",
            "fraud_media",
            "fraud_text",
            "deleted",
            "relabelled",
            "account_records",
            "text_unavailable",
            "media_unavailable",
            "action_label",
            "action_review",
            "images_read",
            "image_cache_hits",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unavailable_reasons.extend(other.unavailable_reasons)
        self.rule_hits.update(other.rule_hits)
        self.quota_exceeded.update(other.quota_exceeded)
        self.account_quota_exceeded.update(other.account_quota_exceeded)
        self.image_unavailable.update(other.image_unavailable)


def round_score(score: float) -> float:
    """`round(score, 6)`, the same float, without its decimal conversion (about 2.7 k
    instructions per post, most of the verdict's arithmetic).

    For a score in [0, 1], `score * 1e6` is within 1.2e-10 of the exact product, so unless its
    fraction is within 1e-9 of a half, the product rounds to the same whole number `k` as
    `round` (exact, halves to even) does, and `k / 1e6` is the float nearest `k`e-6, the float
    `round` returns. Near a half, and for anything outside [0, 1] (NaN, negatives and their
    signed zeros included), it is `round` itself. tests/test_scorer_round.py holds it to `round`.
    """
    if 0.0 <= score <= 1.0:
        scaled = score * 1_000_000.0
        fraction = scaled % 1.0
        if fraction < 0.499_999_999:
            return (scaled - fraction) / 1_000_000.0
        if fraction > 0.500_000_001:
            return (scaled - fraction + 1.0) / 1_000_000.0
    return round(score, 6)


_Points = tuple[
    ActivePolicy,
    float,
    float,
    float,
    float,
    float,
    float,
    str,
    Callable[..., list[RuleHit]],
    CompiledLists,
    RuleScreen,
]


def _operating_points(active: ActivePolicy) -> _Points:
    """(the policy, text review, text label, media review, media label, combined review,
    combined label, its version, its rules' evaluation function (`RuleSet.evaluate_post`), its
    lists, its rules' screen): what `_tag` reads of the policy, read once per policy version."""
    thresholds = active.policy.spec.thresholds
    text, media, combined = thresholds.text_model, thresholds.media_model, thresholds.combined
    rules = active.rules
    return (
        active,
        text.review,
        text.label,
        media.review,
        media.label,
        combined.review,
        combined.label,
        active.version,
        rules.evaluate_post,
        rules.lists,
        rules.screen,
    )


class PostScorer:
    """Scores posts with a text model, a media model, behavioural signals and the policy's rules."""

    def __init__(
        self,
        text_scorer: TextScorer,
        media_scorer: TextScorer | None = None,
        tracker: BehaviorTracker | None = None,
        policy: PolicyHolder | Policy | None = None,
        quota_state: StateStore | None = None,
        behaviour_state: StateStore | None = None,
        images: StreamImages | None = None,
    ) -> None:
        from fraud_pipeline.policy import load_default_policy
        from fraud_pipeline.state.memory import MemoryStateStore

        self.text_scorer = text_scorer
        self.media_scorer = media_scorer
        self.images = images  # reads the pixels of posts' images (None: descriptive text only)
        if policy is None:
            policy = load_default_policy()
        self.policy = policy if isinstance(policy, PolicyHolder) else PolicyHolder.fixed(policy)
        active = self.policy.current()
        # A tracker the scorer builds follows the policy (hot reload: `_follow_policy`); one
        # passed in keeps the parameters its caller gave it.
        self._tracker_follows_policy = tracker is None
        self._tracker_version = active.version
        self.tracker = tracker or BehaviorTracker(
            behaviour_state, BehaviourParams.from_policy(active.policy.spec)
        )
        self.quotas = QuotaBreaker(quota_state or MemoryStateStore())
        self._accounts: tuple[str, AccountTracker | None] | None = None
        self._points = _operating_points(active)

    def _follow_policy(self, active: ActivePolicy) -> None:
        """A new policy version retunes the behaviour tracker before the batch is observed, so
        the whole batch is judged by one version's windows and bars, as by its rules."""
        if self._tracker_follows_policy and active.version != self._tracker_version:
            self.tracker.retune(BehaviourParams.from_policy(active.policy.spec))
            self._tracker_version = active.version

    def account_tracker(self, active: ActivePolicy) -> AccountTracker | None:
        """Account verdicts in the behaviour store, under the policy's accounts section (if any)."""
        if self._accounts is None or self._accounts[0] != active.version:
            spec = active.policy.spec
            tracker = AccountTracker(spec, self.tracker.store, active.version) if spec.accounts else None
            self._accounts = (active.version, tracker)
        return self._accounts[1]

    def _with_account_evidence(
        self,
        active: ActivePolicy,
        live: Sequence[Post],
        signals: list[PostSignals],
        account_events: Sequence[AccountEvent],
        counts: ScoreCounts,
        texts: dict[str, TextForms] | None = None,
    ) -> list[TaggedRecord]:
        """A flagged account's bland reply is not bland: each post carries its author's verdict
        (`signals[i]`, of `live[i]`, replaced). Returns the account records of the verdicts that
        changed."""
        accounts = self.account_tracker(active)
        if accounts is None or not (live or account_events):
            return []
        weights = accounts.spec.post_weight
        profile_p = self._profile_text_scores(account_events, counts)
        judged = accounts.observe(live, account_events, profile_p, texts)
        # Most batches judge few accounts and flag fewer: the posts are walked only for those.
        verdicts = {v.did: v for v in judged if v.action != "none"}
        for i, post in enumerate(live) if verdicts else ():
            verdict = verdicts.get(post.did)
            if verdict is not None:
                signals[i] = replace(
                    signals[i],
                    account_action=verdict.action,
                    account_evidence=weights.get(verdict.action, 0.0),  # type: ignore[call-overload]
                )
        now_us = time.time_ns() // 1000
        label = [accounts.spec.label]
        records = [account_record(v, now_us, label, self.text_scorer.version) for v in judged if v.changed]
        counts.account_records += len(records)
        return records

    def _profile_text_scores(
        self, account_events: Sequence[AccountEvent], counts: ScoreCounts
    ) -> dict[int, float]:
        """The text model's score of each profile text in the batch (by id of the event), one
        call; nothing when the model is unavailable (the profile rules still judge it)."""
        profiles = [e for e in account_events if e.kind == "profile" and e.operation != "delete"]
        profiles = [e for e in profiles if e.profile_text]
        scores, error = self._model_scores(
            self.text_scorer, [e.profile_text[:MAX_SCORED_TEXT_CHARS] for e in profiles]
        )
        if error:
            counts.unavailable_reasons.append(f"text model (profiles): {error}")
        if scores is None:
            return {}
        return {id(e): p for e, p in zip(profiles, scores, strict=True)}

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

    def score(
        self, posts: Sequence[Post], account_events: Sequence[AccountEvent] = ()
    ) -> tuple[list[TaggedRecord], ScoreCounts]:
        """Tag every post (deletes pass through unscored), in input order, with one policy;
        verdict updates for campaigns that crossed the bar follow. Account events (profiles,
        follows, identity, status) of the batch count toward their accounts' verdicts first.
        The whole batch runs with the garbage collector paused (`batch_gc`): it builds
        thousands of short-lived objects and no reference cycles."""
        with collector_paused():
            return self._score(posts, account_events)

    def _score(
        self, posts: Sequence[Post], account_events: Sequence[AccountEvent]
    ) -> tuple[list[TaggedRecord], ScoreCounts]:
        active = self.policy.current()
        self._follow_policy(active)
        counts = ScoreCounts()
        live = [p for p in posts if p.operation != "delete"]
        text_scores, text_error = self._model_scores(
            self.text_scorer, [p.text[:MAX_SCORED_TEXT_CHARS] for p in live]
        )
        media_posts = [p for p in live if has_media(p)]
        media_scores, media_error = self._model_scores(
            self.media_scorer, [media_description(p)[:MAX_SCORED_TEXT_CHARS] for p in media_posts]
        )
        media_by_post: dict[int, float] = {}
        if media_scores is not None:
            media_by_post = {id(p): s for p, s in zip(media_posts, media_scores, strict=True)}
        if text_error:
            counts.unavailable_reasons.append(f"text model: {text_error}")
        if media_error:
            counts.unavailable_reasons.append(f"media model: {media_error}")
        images_by_post: dict[int, PostImages] = {}
        if self.images is not None and media_posts:
            images_by_post, image_stats = self.images.read(media_posts, active.policy, active.version)
            counts.images_read += image_stats.fetched
            counts.image_cache_hits += image_stats.cache_hits
            counts.image_unavailable.update(image_stats.unavailable)

        # One set of text forms per distinct text, shared by both trackers and the rules.
        texts = batch_forms([p.text for p in live])
        read_batch(texts.values())
        # The live posts' signals and text scores by position (`live[i]`): the posts are walked
        # in order below, so no dict by post is built or looked up per post.
        signals_of_live = self.tracker.observe_batch(live, texts)
        if len(signals_of_live) != len(live):
            raise ValueError(f"tracker returned {len(signals_of_live)} signals for {len(live)} posts")
        account_records = self._with_account_evidence(
            active, live, signals_of_live, account_events, counts, texts
        )
        tagged: list[TaggedRecord] = []
        crossings: list[tuple[TaggedRecord, PostSignals]] = []
        scored_at_us = time.time_ns() // 1000  # one scoring time for the batch
        index = 0  # of the post in `live`
        for post in posts:
            if post.operation == "delete":
                counts.deleted += 1
                tagged.append(self._tag_delete(post))
                continue
            signals = signals_of_live[index]
            text_p = None if text_scores is None else text_scores[index]
            index += 1
            media_p = images = None
            if post.media_paths:  # the media's scores are by post: few posts carry media
                key = id(post)
                media_p = media_by_post.get(key)
                images = images_by_post.get(key)
            # `self._tag`, not a local bound method: compiled, a direct native call (through a
            # bound method it is Python's generic call, boxing every argument: 0.6 k per post).
            record = self._tag(
                active,
                post,
                signals,
                text_p,
                media_p,
                text_error,
                media_error,
                counts,
                images,
                texts[post.text],
                scored_at_us,
            )
            tagged.append(record)
            if signals.relabel:
                crossings.append((record, signals))
        self._apply_quotas(active, tagged, counts)
        updates = [u for record, signals in crossings for u in verdict_updates(record, signals)]
        # Re-labelling a campaign's earlier posts is automatic action too: the same quota.
        self._apply_quotas(active, updates, counts, scored=False)
        counts.relabelled += len(updates)
        if account_records and active.policy.spec.accounts is not None:  # labels on DIDs: their own quota
            trips = apply_account_quota(self.quotas, account_records, active.policy.spec.accounts)
            counts.account_quota_exceeded.update(trips)
        return tagged + updates + account_records, counts

    def _apply_quotas(
        self, active: ActivePolicy, tagged: list[TaggedRecord], counts: ScoreCounts, scored: bool = True
    ) -> None:
        """Past a label's daily quota (by the post's UTC day), its automatic `label` action
        becomes `review`. `scored=False` for verdict updates, which the action counts leave out."""
        labelled = [t for t in tagged if t.action == "label"]
        if not labelled:
            return
        requests = [
            (label, utc_day(t.time_us))
            for t in labelled
            for label in t.labels
            if not label.startswith("campaign:")
        ]
        granted = iter(self.quotas.grant(requests, active.policy.spec.quotas))
        for record in labelled:
            over = [
                label for label in record.labels if not label.startswith("campaign:") and not next(granted)
            ]
            if over:
                record.action = "review"
                if scored:
                    counts.action_label -= 1
                    counts.action_review += 1
                for label in over:
                    counts.quota_exceeded[label] += 1
                record.reasons.append(
                    f"daily quota reached for {', '.join(over)}: sent to review, not labelled"
                )

    def _tag(
        self,
        active: ActivePolicy,
        post: Post,
        signals: PostSignals,
        text_p: float | None,
        media_p: float | None,
        text_error: str | None,
        media_error: str | None,
        counts: ScoreCounts,
        images: PostImages | None = None,
        forms: TextForms | None = None,
        scored_at_us: int | None = None,
    ) -> TaggedRecord:
        """One post's verdict and record. It runs once per post, so it reads the operating
        points, the rules and the versions once per policy version (`_operating_points`), and
        builds the record in one call. `forms`: the text's shared forms (`canonical.batch_forms`),
        when the caller has them; `scored_at_us`: the batch's scoring time (now when not given)."""
        points = self._points
        if points[0] is not active:
            points = self._points = _operating_points(active)
        (
            _,
            text_review,
            text_label,
            media_review,
            media_label,
            combined_review,
            combined_label,
            policy_version,
            evaluate,
            lists,
            screen,
        ) = points
        reasons: list[str] = []
        media = bool(post.media_paths)
        if media:
            if images is not None:
                media_p = with_image_evidence(media_p, images, post, reasons)
            if media_p is not None and signals.media_reuse_accounts >= 3:
                # An image reused by several accounts is evidence the model cannot see (memes are
                # reused too, so it only ever adds up to half).
                media_p = 1 - (1 - media_p) * (1 - min(0.5, (signals.media_reuse_accounts - 2) / 10))
        else:
            media_p = None  # no media: no media score, whatever the caller passed
        if text_p is None:
            counts.text_unavailable += 1
            reasons.append(f"text score unavailable: {text_error or 'no score'}")
        if media and media_p is None and (self.media_scorer is not None or images is not None):
            counts.media_unavailable += 1
            if images is None or not images.unavailable:
                reasons.append(f"media score unavailable: {media_error or 'no score'}")

        # The generated rules function (interpreted) only for a post a rule may fire on: most
        # posts have no trigger word, rewriting or link, and none of the rules' behaviour. (The
        # screen is open in the pure build: `open` first spares it the call there.)
        hits = (
            evaluate(post, signals, lists, text_p, media_p, forms)
            if screen.open or screen.may_fire(post, signals, forms)
            else []
        )
        labels: list[str] = []
        if text_p is None:
            remaining = 1.0
            text_fraud = text_labelled = False
        else:
            remaining = 1 - text_p
            text_fraud = text_p >= text_review
            text_labelled = text_p >= text_label
            if text_fraud:
                labels.append("fraud-text")
                reasons.append(f"text model {text_p:.2f} >= {text_review:.2f}")
        media_fraud = media_labelled = False
        if media:
            remaining *= 1 - (media_p or 0.0)
            if media_p is not None:
                media_labelled = media_p >= media_label
                media_fraud = media_p >= media_review
                if media_fraud:
                    labels.append("fraud-media")
                    reasons.append(f"media model {media_p:.2f} >= {media_review:.2f}")
        rule_hits: list[str] = []
        # Whether an active rule that fired asks for `label` / `review` (two flags, not a set of
        # the actions: compiled, a set typed with its empty frozenset is tested generically).
        rule_label = rule_review = False
        if hits:  # most posts fire no rule
            hit_counts = counts.rule_hits
            for hit in hits:
                name = SHADOW_PREFIX + hit.rule if hit.shadow else hit.rule
                rule_hits.append(name)
                hit_counts[name] += 1
                if not hit.shadow:
                    remaining *= 1 - hit.weight
                    if hit.action == "label":
                        rule_label = True
                    elif hit.action == "review":
                        rule_review = True
                    if hit.label not in labels:
                        labels.append(hit.label)
                    reasons.append(hit.reason)
            for hit in hits:
                if hit.shadow:
                    reasons.append(f"shadow rule {hit.rule} would add {hit.label}: {hit.reason}")
        fraud_score = 1 - remaining
        if text_labelled or media_labelled or fraud_score >= combined_label or rule_label:
            action = "label"
            counts.action_label += 1
        elif text_fraud or media_fraud or fraud_score >= combined_review or rule_review:
            action = "review"
            counts.action_review += 1
        else:
            action = "none"
        campaign_id = signals.campaign_id
        if campaign_id is not None:
            labels.append(f"campaign:{campaign_id}")

        counts.processed += 1
        if not media:
            counts.text_only += 1
        if action != "none":
            counts.is_fraud += 1
        if text_fraud:
            counts.fraud_text += 1
        if media_fraud:
            counts.fraud_media += 1
            if text_fraud:
                counts.fraud_both += 1
        media_version = self.media_scorer.version if (media and self.media_scorer) else None
        media_paths = post.media_paths
        if images is not None:
            if media_version:
                media_version += "+images"
            if images.object_uris:
                # The copies in the bucket's media/ prefix, where the CDN URL was.
                media_paths = [
                    images.object_uris.get(cid, path)
                    for cid, path in zip(post.media_cids, post.media_paths, strict=False)
                ] + post.media_paths[len(post.media_cids) :]
        # Positional (keywords cost twice as much here).
        return TaggedRecord.from_post(
            post,
            text_p,
            media_p,
            round_score(fraud_score),
            action != "none",
            labels,
            reasons,
            rule_hits,
            self.text_scorer.version,
            media_version,
            time.time_ns() // 1000 if scored_at_us is None else scored_at_us,
            action,
            policy_version,
            campaign_id,
            media_paths,
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
