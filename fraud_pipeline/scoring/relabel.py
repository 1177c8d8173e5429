"""Verdict updates: re-labelling the posts a campaign had already put out before it was seen.

A campaign's first posts are scored before the campaign exists (two accounts posting one
text are not yet a campaign), so they go out unflagged. When a campaign crosses the bar, the
post that crossed it carries the campaign's earlier posts (`PostSignals.relabel`); if that
post is flagged, each earlier post gets a verdict-update record with the same verdict. It
travels the tagged stream like any tagged record (`operation == "verdict"`), delivery lands
it in the raw lake, and compaction applies it to the post it names (`lake/verdicts.py`): the
latest verdict wins, so the lake, the marts and the dashboard show the final verdict.
"""

from __future__ import annotations

import time

from fraud_pipeline.records import VERDICT_OPERATION, TaggedRecord, contentless_fields, iso_from_us
from fraud_pipeline.scoring.signals import PostSignals

RELABEL_RULE = "campaign_relabel"
CAMPAIGN_LABEL = "spam-campaign"


def verdict_updates(crossing: TaggedRecord, signals: PostSignals) -> list[TaggedRecord]:
    """Verdict updates for the earlier posts of the campaign `crossing` just flagged (or none)."""
    if not crossing.is_fraud or not signals.relabel:
        return []
    campaign = signals.campaign_id or "unknown"
    labels = [CAMPAIGN_LABEL, f"campaign:{campaign}"]
    reason = (
        f"re-labelled: campaign {campaign} crossed the bar at {crossing.uri} "
        f"(evidence {signals.campaign_evidence:.2f})"
    )
    scored_at_us = max(time.time_ns() // 1000, crossing.scored_at_us + 1)
    updates = []
    for target in signals.relabel:
        record = TaggedRecord(
            **contentless_fields(),
            uri=target.uri,
            time_utc=iso_from_us(target.time_us),
            fraud_text_likelihood=None,
            did=target.did,
            rkey=target.rkey,
            operation=VERDICT_OPERATION,
            time_us=target.time_us,
            fraud_score=crossing.fraud_score,
            is_fraud=True,
            labels=labels,
            reasons=[reason],
            rule_hits=[RELABEL_RULE],
            text_model_version=None,
            ingested_at_us=crossing.ingested_at_us,
            scored_at_us=scored_at_us,
            action=crossing.action,
            policy_version=crossing.policy_version,
            campaign_id=crossing.campaign_id or signals.campaign_id,
        )
        updates.append(record)
    return updates
