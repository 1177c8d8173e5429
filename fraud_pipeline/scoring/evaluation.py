"""Quality of a text model: metrics at a threshold, per-source breakdown, calibration, CV.

`evaluate` is what `fraud-pipeline model evaluate` prints; `cross_validate` runs the whole
training procedure k times and scores each held-out fold, for the trained model and for the
TF-IDF (word + char n-grams) logistic-regression baseline side by side, with the same folds,
the same validation split inside each fold and the same threshold rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from fraud_pipeline.scoring.rewrites import REWRITES, rewrite_all
from fraud_pipeline.scoring.training import LabeledData, TrainParams, best_f1_threshold, fit_platt, train


def metrics_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """n, pr_auc, roc_auc, f1, precision, recall at `threshold` (fraud when score >= threshold).

    The AUCs are null when only one class is present (they are undefined then).
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(labels)) == 2
    return {
        "n": len(labels),
        "positives": int(labels.sum()),
        "pr_auc": float(average_precision_score(labels, scores)) if both else None,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else None,
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "threshold": float(threshold),
    }


def reliability_table(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Equal-width bins of predicted probability: count, mean predicted, observed fraud rate,
    plus the expected calibration error (count-weighted |mean predicted - observed|)."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    rows = []
    ece = 0.0
    for k in range(bins):
        mask = which == k
        count = int(mask.sum())
        if count == 0:
            continue
        predicted = float(scores[mask].mean())
        observed = float(labels[mask].mean())
        ece += count * abs(predicted - observed)
        rows.append(
            {
                "bin": f"[{k / bins:.1f}, {(k + 1) / bins:.1f})",
                "n": count,
                "mean_predicted": round(predicted, 4),
                "observed": round(observed, 4),
            }
        )
    brier = float(np.mean((scores - labels) ** 2)) if len(labels) else 0.0
    return {"bins": rows, "ece": ece / max(len(labels), 1), "brier": brier}


def evaluate(
    labels: np.ndarray, scores: np.ndarray, threshold: float, sources: Sequence[str] | None = None
) -> dict[str, Any]:
    """Overall metrics, plus `by_source` when rows carry a source."""
    report = metrics_at(labels, scores, threshold)
    if sources is not None and any(sources):
        source_array = np.asarray(sources)
        report["by_source"] = {
            name: metrics_at(
                np.asarray(labels)[source_array == name], scores[source_array == name], threshold
            )
            for name in sorted(set(sources))
            if name
        }
    return report


# -- cross-validation --------------------------------------------------------------------

# A procedure trains on (texts, labels, sources) and returns (score function, threshold).
Procedure = Callable[[list[str], np.ndarray, list[str]], tuple[Callable[[list[str]], np.ndarray], float]]


def hashed_procedure(params: TrainParams) -> Procedure:
    """The shipped model's full training procedure."""

    def run(texts: list[str], labels: np.ndarray, sources: list[str]) -> tuple[Any, float]:
        model = train(LabeledData(texts, labels, sources), params)
        return model.probabilities, model.threshold

    return run


# A margin model for `calibrated_procedure`: fit(texts, labels, sample_weight) -> margins(texts).
MarginFit = Callable[[list[str], np.ndarray, np.ndarray | None], Callable[[list[str]], np.ndarray]]


def calibrated_procedure(
    fit: MarginFit,
    seed: int,
    calibration_folds: int = 5,
    source_weights: dict[str, float] | None = None,
) -> Procedure:
    """Any margin model under the shipped model's rule: Platt calibration and the F1 threshold
    from k-fold out-of-fold margins of the training rows (stratified by label and source), or
    from one 20% split when `calibration_folds` is 0; then a refit on all rows. Rows are
    weighted by `source_weights` (1.0 for other sources) when given."""
    from fraud_pipeline.scoring.training import stratified_split

    def run(texts: list[str], labels: np.ndarray, sources: list[str]) -> tuple[Any, float]:
        weights = None
        if source_weights:
            weights = np.array([source_weights.get(source, 1.0) for source in sources], dtype=np.float64)
        if calibration_folds >= 2:
            strata = [f"{label}:{source}" for label, source in zip(labels.tolist(), sources, strict=True)]
            splitter = StratifiedKFold(n_splits=calibration_folds, shuffle=True, random_state=seed)
            parts = list(splitter.split(np.zeros(len(strata)), strata))
        else:
            parts = [stratified_split(labels, sources, 0.2, seed)]
        rows, margins = [], []
        for train_idx, val_idx in parts:
            inner = fit(
                [texts[i] for i in train_idx],
                labels[train_idx],
                None if weights is None else weights[train_idx],
            )
            rows.append(val_idx)
            margins.append(inner([texts[i] for i in val_idx]))
        val_labels = labels[np.concatenate(rows)]
        val_margins = np.concatenate(margins)
        a, b = fit_platt(val_margins, val_labels)
        threshold = best_f1_threshold(val_labels, 1 / (1 + np.exp(-(a * val_margins + b))))
        full = fit(texts, labels, weights)

        def score(batch: list[str]) -> np.ndarray:
            return 1 / (1 + np.exp(-(a * full(batch) + b)))

        return score, threshold

    return run


def tfidf_baseline_procedure(seed: int, C: float = 10.0, calibration_folds: int = 5) -> Procedure:
    """TF-IDF word (1-2) + char_wb (2-5) n-grams, logistic regression, under the shipped
    model's calibration and threshold rule (`calibrated_procedure`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def fit(texts: list[str], labels: np.ndarray, _weights: np.ndarray | None) -> Callable[..., np.ndarray]:
        model = make_pipeline(
            make_union(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ),
            LogisticRegression(C=C, solver="liblinear", max_iter=5000, random_state=seed),
        )
        return model.fit(texts, labels).decision_function

    return calibrated_procedure(fit, seed, calibration_folds)


def rewrite_recall(
    score: Callable[[list[str]], np.ndarray],
    threshold: float,
    scam_texts: Sequence[str],
    rewrites: Sequence[str] = REWRITES,
    seed: int = 0,
) -> dict[str, Any]:
    """Recall on `scam_texts` as written ("plain") and after each rewrite (seeded), at
    `threshold`, with each rewrite's gap to plain (`recall_drop`). Ratios are null without texts."""
    texts = list(scam_texts)
    hits = {"plain": _flagged(score, threshold, texts)}
    for kind in rewrites:
        hits[kind] = _flagged(score, threshold, rewrite_all(texts, kind, seed))
    return _recall_report(hits, len(texts))


def _flagged(score: Callable[[list[str]], np.ndarray], threshold: float, texts: list[str]) -> int:
    return int((np.asarray(score(texts)) >= threshold).sum()) if texts else 0


def _recall_report(hits: dict[str, int], n: int) -> dict[str, Any]:
    plain = hits["plain"] / n if n else None
    report: dict[str, Any] = {"n": n}
    for kind, count in hits.items():
        recall = count / n if n else None
        drop = None if recall is None or plain is None else plain - recall
        report[kind] = {"recall": recall, "recall_drop": drop}
    return report


def cross_validate(
    data: LabeledData,
    procedure: Procedure,
    folds: int = 5,
    seed: int = 13,
    rewrites: Sequence[str] = (),
) -> dict[str, Any]:
    """k-fold CV of a whole training procedure: pooled out-of-fold metrics (each fold
    thresholded by its own validation split), per-fold metrics, and the reliability table.

    With `rewrites`, also the recall on each held-out fold's scam texts, plain and after each
    rewrite, at that fold's threshold, pooled over folds (`rewrite_recall`): the scams of a
    test fold were never trained on, rewritten or not."""
    rewrite_hits = dict.fromkeys(("plain", *rewrites), 0)
    benign_hits = dict.fromkeys(("plain", *rewrites), 0)
    rewrite_n = benign_n = 0
    strata = [f"{label}:{source}" for label, source in zip(data.labels.tolist(), data.sources, strict=True)]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = np.zeros(len(data.texts))
    predicted = np.zeros(len(data.texts), dtype=int)
    per_fold = []
    for train_idx, test_idx in splitter.split(np.zeros(len(strata)), strata):
        score_fn, threshold = procedure(
            [data.texts[i] for i in train_idx], data.labels[train_idx], [data.sources[i] for i in train_idx]
        )
        fold_scores = score_fn([data.texts[i] for i in test_idx])
        if rewrites:
            scam_texts = [data.texts[i] for i in test_idx if data.labels[i] == 1]
            rewrite_n += len(scam_texts)
            rewrite_hits["plain"] += _flagged(score_fn, threshold, scam_texts)
            benign_texts = [data.texts[i] for i in test_idx if data.labels[i] == 0]
            benign_n += len(benign_texts)
            benign_hits["plain"] += _flagged(score_fn, threshold, benign_texts)
            for kind in rewrites:
                rewrite_hits[kind] += _flagged(score_fn, threshold, rewrite_all(scam_texts, kind, seed))
                benign_hits[kind] += _flagged(score_fn, threshold, rewrite_all(benign_texts, kind, seed))
        scores[test_idx] = fold_scores
        predicted[test_idx] = fold_scores >= threshold
        per_fold.append(metrics_at(data.labels[test_idx], fold_scores, threshold))
    labels = data.labels.astype(int)
    pooled = {
        "n": len(labels),
        "pr_auc": float(average_precision_score(labels, scores)),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "f1": float(f1_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted)),
        "recall": float(recall_score(labels, predicted)),
    }
    mean = {
        key: float(np.mean([fold[key] for fold in per_fold]))
        for key in ("pr_auc", "roc_auc", "f1", "precision", "recall")
    }
    by_source = {}
    source_array = np.asarray(data.sources)
    for name in sorted(set(data.sources)):
        mask = source_array == name
        by_source[name] = {
            "n": int(mask.sum()),
            "pr_auc": float(average_precision_score(labels[mask], scores[mask])),
            "f1": float(f1_score(labels[mask], predicted[mask])),
        }
    by_source_full = {
        name: metrics_at(labels[source_array == name], scores[source_array == name], 0.5)
        for name in sorted(set(data.sources))
    }
    for name, row in by_source.items():
        row["roc_auc"] = by_source_full[name]["roc_auc"]
        row["precision"] = float(
            precision_score(labels[source_array == name], predicted[source_array == name])
        )
        row["recall"] = float(recall_score(labels[source_array == name], predicted[source_array == name]))
    report: dict[str, Any] = {
        "folds": folds,
        "pooled": pooled,
        "fold_mean": mean,
        "per_fold": per_fold,
        "by_source": by_source,
        "reliability": reliability_table(labels, scores),
    }
    if rewrites:
        report["rewrites"] = _recall_report(rewrite_hits, rewrite_n)
        # The other side: how often held-out benign texts are flagged, plain and rewritten.
        report["rewrites"]["benign_flag_rate"] = {
            kind: count / benign_n if benign_n else None for kind, count in benign_hits.items()
        }
    return report
