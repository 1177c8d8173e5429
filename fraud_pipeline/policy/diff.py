"""What a policy change does to real traffic: score one capture under two policies, compare.

`policy diff OLD NEW --capture FILE` replays the capture's posts through the scorer twice,
once per policy (same text model, fresh behaviour window each time, event order kept) and
reports every post whose verdict (`is_fraud`) or `action` changes, with both sides' labels
and rule hits, plus counts. It is how a rule, list entry or threshold is tried before it
ships (docs/detection.md), beside shipping the rule in `shadow` first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_pipeline.policy.loader import Policy
from fraud_pipeline.records import Post, TaggedRecord
from fraud_pipeline.scoring.base import TextScorer

BATCH = 500


@dataclass
class PolicyDiff:
    old_version: str
    new_version: str
    posts: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    actions_old: Counter[str] = field(default_factory=Counter)
    actions_new: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "posts": self.posts,
            "changed": len(self.changed),
            "actions_old": dict(sorted(self.actions_old.items())),
            "actions_new": dict(sorted(self.actions_new.items())),
        }


def capture_posts(path: Path) -> Iterator[Post]:
    """The posts (creates and updates) of a Jetstream capture, in capture order."""
    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.replay import read_lines

    for line in read_lines(path):
        result = normalize(line)
        if result.kind == "post" and result.post is not None and result.post.operation != "delete":
            yield result.post


def _side(record: TaggedRecord) -> dict[str, Any]:
    return {
        "is_fraud": record.is_fraud,
        "action": record.action,
        "fraud_score": record.fraud_score,
        "labels": [label for label in record.labels if not label.startswith("campaign:")],
        "rule_hits": record.rule_hits,
    }


def diff_policies(
    old: Policy, new: Policy, posts: Iterable[Post], text_scorer: TextScorer, media_scorer: TextScorer | None
) -> PolicyDiff:
    """Score `posts` under both policies; the posts whose verdict or action differ."""
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer

    old_scorer = PostScorer(text_scorer, media_scorer, policy=old)
    new_scorer = PostScorer(text_scorer, media_scorer, policy=new)
    result = PolicyDiff(old.version, new.version)
    batch: list[Post] = []

    def run(batch: list[Post]) -> None:
        before, _ = old_scorer.score(batch)
        after, _ = new_scorer.score(batch)
        for a, b in zip(before, after, strict=True):
            result.posts += 1
            result.actions_old[a.action] += 1
            result.actions_new[b.action] += 1
            if a.is_fraud != b.is_fraud or a.action != b.action:
                result.changed.append({"uri": a.uri, "text": a.text[:280], "old": _side(a), "new": _side(b)})

    for post in posts:
        batch.append(post)
        if len(batch) >= BATCH:
            run(batch)
            batch = []
    if batch:
        run(batch)
    return result
