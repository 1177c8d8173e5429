"""Choose the policy's operating points on held-out labelled posts, and record why.

Two tiers of action need two operating points per score: `label` (automatic: at most
`label_fpr` of benign posts, 0.2% by default) and `review` (the wider band: at most
`review_fpr`, 1% by default). They are chosen on posts the text model never saw: k-fold
cross-validation of the shipped training procedure (`scoring.training.train`) gives every
labelled post an out-of-fold probability. Each post then goes through the policy's own
verdict (its rules with no behaviour, the noisy-OR combined score, the tiers), so the rate
measured is the rate of the verdict the scorer will give, not of the model alone.

The held-out posts are split in two, stratified: the points are chosen on the first half
and the rates are reported on the second (an honest estimate, since choosing on a set
flatters it). Re-run it whenever the text model's training changes:
`fraud-pipeline policy calibrate --write` rewrites the thresholds and the `calibration`
section of policy/verdict.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from fraud_pipeline.policy.loader import Policy
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.rules import RuleSet
from fraud_pipeline.scoring.signals import PostSignals
from fraud_pipeline.scoring.training import LabeledData, TrainParams, train

CHOICE_MARGIN = 0.5
NO_BEHAVIOUR = PostSignals(
    account_posts_window=1,
    account_is_new=False,
    campaign_id=None,
    campaign_accounts=1,
    media_reuse_accounts=0,
)


@dataclass(frozen=True)
class Evidence:
    """Per held-out post: the text model's probability, the rules' noisy-OR factor and the
    strongest action a rule asks for (0 none, 1 review, 2 label)."""

    text: np.ndarray
    rules_remaining: np.ndarray
    rule_action: np.ndarray
    labels: np.ndarray


def out_of_fold_probabilities(data: LabeledData, folds: int, seed: int, params: TrainParams) -> np.ndarray:
    strata = [f"{label}:{source}" for label, source in zip(data.labels.tolist(), data.sources, strict=True)]
    scores = np.zeros(len(data.texts))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(strata)), strata):
        fold = LabeledData(
            [data.texts[i] for i in train_idx], data.labels[train_idx], [data.sources[i] for i in train_idx]
        )
        model = train(fold, params)
        scores[test_idx] = model.probabilities([data.texts[i] for i in test_idx])
    return scores


def evidence(data: LabeledData, text_scores: np.ndarray, policy: Policy) -> Evidence:
    rules = RuleSet(policy.spec)
    remaining = np.ones(len(data.texts))
    action = np.zeros(len(data.texts), dtype=np.int8)
    for index, text in enumerate(data.texts):
        post = Post(
            uri=f"at://calibration/{index}",
            did="did:plc:calibration",
            rkey=str(index),
            operation="create",
            time_us=0,
            text=text,
        )
        for hit in rules.evaluate(rules.context(post, NO_BEHAVIOUR, float(text_scores[index]))):
            if hit.shadow:
                continue
            remaining[index] *= 1 - hit.weight
            action[index] = max(action[index], {"review": 1, "label": 2}.get(hit.action or "", 0))
    return Evidence(text_scores, remaining, action, data.labels.astype(int))


def actions(ev: Evidence, text_review: float, combined_review: float, label_point: float) -> np.ndarray:
    """The scorer's verdict tiers (2 label, 1 review, 0 none) for the given points."""
    combined = 1 - (1 - ev.text) * ev.rules_remaining
    label = (ev.text >= label_point) | (combined >= label_point) | (ev.rule_action >= 2)
    review = (ev.text >= text_review) | (combined >= combined_review) | (ev.rule_action >= 1)
    return np.where(label, 2, np.where(review, 1, 0))


def rates(ev: Evidence, tiers: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    benign = mask & (ev.labels == 0)
    fraud = mask & (ev.labels == 1)
    return {
        "posts": int(mask.sum()),
        "benign": int(benign.sum()),
        "fraud": int(fraud.sum()),
        "benign_labelled": round(float((tiers[benign] == 2).mean()), 5),
        "benign_flagged": round(float((tiers[benign] >= 1).mean()), 5),
        "fraud_labelled": round(float((tiers[fraud] == 2).mean()), 4),
        "fraud_flagged": round(float((tiers[fraud] >= 1).mean()), 4),
    }


def _smallest_point(candidates: np.ndarray, rate_at: Any, target: float) -> float:
    """The smallest candidate whose benign rate is at most `target` (rates fall as it rises)."""
    best = 1.0
    lo, hi = 0, len(candidates) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if rate_at(float(candidates[mid])) <= target:
            best = float(candidates[mid])
            hi = mid - 1
        else:
            lo = mid + 1
    return best


def choose_points(
    ev: Evidence,
    choose: np.ndarray,
    combined_review_floor: float,
    label_fpr: float,
    review_fpr: float,
    margin: float = CHOICE_MARGIN,
) -> tuple[float, float, float]:
    """(text review, combined review, label) points chosen on the `choose` rows, each for a
    benign rate of at most `margin` x its target: a point chosen right at the target on a
    few thousand posts lands above it on the next few thousand about half the time."""
    label_fpr *= margin
    review_fpr *= margin
    benign = choose & (ev.labels == 0)
    grid = np.unique(np.round(np.concatenate([np.linspace(0.3, 0.999, 700), ev.text[benign]]), 4))
    grid = grid[(grid >= 0.3) & (grid < 1.0)]

    def label_rate(point: float) -> float:
        return float((actions(ev, 1.0, 1.0, point)[benign] == 2).mean())

    label_point = _smallest_point(grid, label_rate, label_fpr)

    def review_rate(point: float) -> float:
        tiers = actions(ev, point, max(point, combined_review_floor), label_point)
        return float((tiers[benign] >= 1).mean())

    text_review = min(_smallest_point(grid, review_rate, review_fpr), label_point)
    return text_review, max(text_review, combined_review_floor), label_point


def calibrate(
    data: LabeledData,
    policy: Policy,
    folds: int = 5,
    seed: int = 13,
    label_fpr: float = 0.002,
    review_fpr: float = 0.01,
    model_version: str | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Out-of-fold scores -> chosen points (on half the held-out posts) -> figures (on the other).

    The out-of-fold scores (k trainings) are cached in `cache_dir` under the data's hash, the
    model version, folds and seed, so trying other targets does not retrain."""
    text_scores = _cached_scores(cache_dir, data, model_version, folds, seed)
    ev = evidence(data, text_scores, policy)
    rng = np.random.default_rng(seed)
    choose = np.zeros(len(data.texts), dtype=bool)
    for label in (0, 1):
        rows = np.flatnonzero(ev.labels == label)
        choose[rng.permutation(rows)[: len(rows) // 2]] = True
    verify = ~choose
    floor = policy.spec.thresholds.combined.review
    text_review, combined_review, label_point = choose_points(ev, choose, floor, label_fpr, review_fpr)
    tiers = actions(ev, text_review, combined_review, label_point)
    return {
        "thresholds": {
            "text_model": {"review": round(text_review, 4), "label": round(label_point, 4)},
            "media_model": {"review": round(text_review, 4), "label": round(label_point, 4)},
            "combined": {"review": round(combined_review, 4), "label": round(label_point, 4)},
        },
        "calibration": {
            "method": (
                f"{folds}-fold out-of-fold text probabilities of the shipped training procedure; "
                "policy rules without behaviour; points chosen on one stratified half, figures on the other"
            ),
            "targets": {
                "benign_labelled_max": label_fpr,
                "benign_flagged_max": review_fpr,
                "chosen_at_fraction_of_target": CHOICE_MARGIN,
            },
            "data": {"path": data.path, "sha256": data.sha256[:16], "rows": len(data.texts)},
            "text_model_version": model_version,
            "rules_policy_version": policy.version,
            "chosen_on": rates(ev, tiers, choose),
            "verified_on": rates(ev, tiers, verify),
            "calibrated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def _cached_scores(
    cache_dir: Path | None, data: LabeledData, model_version: str | None, folds: int, seed: int
) -> np.ndarray:
    import orjson

    key = f"oof-{data.sha256[:16]}-{model_version or 'unknown'}-{folds}-{seed}.json"
    if cache_dir is not None and (cache_dir / key).is_file():
        cached = np.asarray(orjson.loads((cache_dir / key).read_bytes()), dtype=np.float64)
        if len(cached) == len(data.texts):
            return cached
    scores = out_of_fold_probabilities(data, folds, seed, TrainParams(seed=seed))
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / key).write_bytes(orjson.dumps(scores.tolist()))
    return scores


def write_into_verdict_file(path: Path, result: dict[str, Any]) -> None:
    """Rewrite the tier values and the `calibration` section of verdict.yaml in place,
    keeping its comments (the section must be the file's last, as shipped)."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    text = path.read_text(encoding="utf-8")
    for tier, points in result["thresholds"].items():
        pattern = re.compile(rf"(\n  {tier}:\n(?:    #[^\n]*\n)*    review: )[0-9.]+(\n    label: )[0-9.]+")
        text, count = pattern.subn(rf"\g<1>{points['review']}\g<2>{points['label']}", text)
        if count != 1:
            raise ValueError(f"{path}: cannot find the {tier} review/label lines to rewrite")
    head, marker, _ = text.partition("\ncalibration:")
    if not marker:
        raise ValueError(f"{path}: no top-level `calibration:` section to rewrite")
    body = yaml.safe_dump({"calibration": result["calibration"]}, sort_keys=False, width=100)
    path.write_text(head + "\n" + body, encoding="utf-8")
