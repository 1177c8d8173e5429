"""Evasion: recall on rewritten scam texts, benign texts in other scripts, and scoring speed,
for the text model trained the previous way (raw text, no augmentation) and the current way
(canonical view, augmented scams), side by side in one run.

Prints one JSON object. Both models are trained here on the same stratified 80% of
`data/labeled/train.jsonl` and measured on the other 20%, whose scam texts neither saw
(plain or rewritten):
- `recall`: recall on the held-out scams as written ("plain") and after each rewrite of
  `scoring/rewrites.py` (seeded), at each model's own threshold, and the gap to plain;
- `benign_flag_rate`: the share of held-out benign texts flagged, plain and rewritten;
- `benign_scripts`: flags on `data/evaluation/benign_scripts.jsonl` (ordinary posts in
  other scripts and with scripts mixed between words), by the text model and by the
  policy's evasion rules;
- `speed`: posts/s of each model on one core (pinned), batches of 1,000, median of the
  repeats, on 20,000 held-out-like posts as written, and with every post obfuscated (the
  slow path of the canonical view for every post).
With --quality also 5-fold CV of the current procedure with the rewrites (several minutes).
With --before-model/--after-model two artifacts are compared instead of training (speed and
`benign_scripts` only: artifacts trained on every row have no held-out scams).
Run: `.venv/bin/python benchmarks/bench_evasion.py [--quality] [--before-model A --after-model B]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_text_model import pin_one_core, throughput

from fraud_pipeline.records import Post
from fraud_pipeline.scoring.canonical import model_views
from fraud_pipeline.scoring.evaluation import cross_validate, hashed_procedure, metrics_at
from fraud_pipeline.scoring.featurize import FeatureConfig
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite, rewrite_all
from fraud_pipeline.scoring.rules import evaluate_rules
from fraud_pipeline.scoring.signals import PostSignals
from fraud_pipeline.scoring.text_model import LinearTextModel
from fraud_pipeline.scoring.training import LabeledData, TrainParams, load_labeled, stratified_split, train

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "labeled" / "train.jsonl"
BENIGN_SCRIPTS = REPO / "data" / "evaluation" / "benign_scripts.jsonl"
EVASION_RULES = ("mixed_script_words", "invisible_in_words", "fullwidth_latin", "brand_lookalike_text")
QUIET = PostSignals(
    account_posts_window=1,
    account_is_new=False,
    campaign_id=None,
    campaign_accounts=1,
    media_reuse_accounts=0,
)


def flagged(model: LinearTextModel, texts: list[str]) -> float:
    return float(np.mean(model.probabilities(texts) >= model.threshold)) if texts else 0.0


def measure(model: LinearTextModel, scams: list[str], benign: list[str], seed: int) -> dict[str, Any]:
    recall = {"plain": flagged(model, scams)}
    benign_rate = {"plain": flagged(model, benign)}
    for kind in REWRITES:
        recall[kind] = flagged(model, rewrite_all(scams, kind, seed))
        benign_rate[kind] = flagged(model, rewrite_all(benign, kind, seed))
    return {
        "version": model.version,
        "threshold": model.threshold,
        "recall": {k: round(v, 4) for k, v in recall.items()},
        "recall_drop": {k: round(recall["plain"] - recall[k], 4) for k in REWRITES},
        "worst_drop": round(max(recall["plain"] - recall[k] for k in REWRITES), 4),
        "benign_flag_rate": {k: round(v, 4) for k, v in benign_rate.items()},
    }


def benign_scripts(models: dict[str, LinearTextModel]) -> dict[str, Any]:
    rows = [json.loads(line) for line in BENIGN_SCRIPTS.read_text(encoding="utf-8").splitlines() if line]
    texts = [row["text"] for row in rows]
    out: dict[str, Any] = {"n": len(rows)}
    for name, model in models.items():
        scores = model.probabilities(texts)
        out[f"text_model_flagged_{name}"] = int((scores >= model.threshold).sum())
        out[f"max_score_{name}"] = round(float(scores.max()), 4)
    hits = 0
    for i, text in enumerate(texts):
        did, rkey = f"did:plc:bench{i:016d}", f"3k{i:011d}"
        post = Post(
            uri=f"at://{did}/app.bsky.feed.post/{rkey}",
            did=did,
            rkey=rkey,
            operation="create",
            time_us=1_764_000_000_000_000,
            text=text,
            ingested_at_us=1_764_000_000_000_000,
        )
        hits += any(hit.rule in EVASION_RULES for hit in evaluate_rules(post, QUIET))
    out["evasion_rule_hits"] = hits
    return out


def speed(model: LinearTextModel, texts: list[str], repeats: int) -> float:
    return round(throughput(model.probabilities, texts, 1000, repeats)["posts_per_s_median"])


def speed_report(
    models: dict[str, LinearTextModel], texts: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    core = pin_one_core()
    rng = np.random.default_rng(args.seed)
    posts = [texts[i] for i in rng.integers(0, len(texts), args.posts)]
    obfuscated = [rewrite(t, REWRITES[i % len(REWRITES)], args.seed, i) for i, t in enumerate(posts)]
    return {
        "core": core,
        "batch": 1000,
        "posts": args.posts,
        "non_ascii_share": round(float(np.mean([not t.isascii() for t in posts])), 3),
        "before_posts_per_s": speed(models["before"], posts, args.repeats),
        "after_posts_per_s": speed(models["after"], posts, args.repeats),
        "after_all_obfuscated_posts_per_s": speed(models["after"], obfuscated, args.repeats),
        "canonical_views_per_s": round(
            throughput(model_views, posts, 1000, args.repeats)["posts_per_s_median"]
        ),
        "target_posts_per_s": 20_000,
    }


def compare_artifacts(args: argparse.Namespace, data: LabeledData, test_idx: np.ndarray) -> int:
    models = {
        "before": LinearTextModel.load(args.before_model),
        "after": LinearTextModel.load(args.after_model),
    }
    report: dict[str, Any] = {name: {"version": model.version} for name, model in models.items()}
    report["benign_scripts"] = benign_scripts(models)
    report["speed"] = speed_report(models, [data.texts[i] for i in test_idx], args)
    print(json.dumps(report, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quality", action="store_true", help="also 5-fold CV with the rewrites")
    parser.add_argument("--before-model", type=Path, help="compare this artifact (no training)...")
    parser.add_argument("--after-model", type=Path, help="...with this one")
    args = parser.parse_args()
    data = load_labeled(DATA)
    train_idx, test_idx = stratified_split(data.labels, data.sources, 0.2, args.seed)
    if args.before_model and args.after_model:
        return compare_artifacts(args, data, test_idx)

    def subset(idx: np.ndarray) -> LabeledData:
        return LabeledData([data.texts[i] for i in idx], data.labels[idx], [data.sources[i] for i in idx])

    current = TrainParams(seed=args.seed)
    previous = dataclasses.replace(current, features=FeatureConfig(), augment=())
    started = time.perf_counter()
    models = {"before": train(subset(train_idx), previous), "after": train(subset(train_idx), current)}
    train_s = time.perf_counter() - started
    held_out = subset(test_idx)
    scams = [t for t, y in zip(held_out.texts, held_out.labels.tolist(), strict=True) if y == 1]
    benign = [t for t, y in zip(held_out.texts, held_out.labels.tolist(), strict=True) if y == 0]
    report: dict[str, Any] = {
        "data": str(DATA.relative_to(REPO)),
        "held_out": {"rows": len(test_idx), "scams": len(scams), "benign": len(benign)},
        "train_seconds_both": round(train_s, 1),
    }
    for name, model in models.items():
        report[name] = measure(model, scams, benign, args.seed)
        scores = model.probabilities(held_out.texts)
        plain = metrics_at(held_out.labels, scores, model.threshold)
        report[name]["held_out_plain"] = {k: round(plain[k], 4) for k in ("pr_auc", "roc_auc", "f1")}
    report["benign_scripts"] = benign_scripts(models)

    report["speed"] = speed_report(models, held_out.texts, args)
    if args.quality:
        cv = cross_validate(data, hashed_procedure(current), 5, args.seed, REWRITES)
        report["cv_after"] = {
            "pooled": {k: round(v, 4) for k, v in cv["pooled"].items() if k != "n"},
            "ece": round(cv["reliability"]["ece"], 4),
            "brier": round(cv["reliability"]["brier"], 4),
            "rewrites": cv["rewrites"],
        }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
