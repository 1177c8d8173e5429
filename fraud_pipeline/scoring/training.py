"""Training the text fraud model: seeded, from the project's labeled JSONL, with metadata.

Procedure (`train`): the hashed TF-IDF logistic regression is fitted with per-row weights
(`source_weights`: the X posts, where promotions and scams look alike, count double). Its
calibration and threshold come from out-of-fold margins inside the training data: k-fold
(stratified by label and source) models score the rows they did not see, a Platt sigmoid
is fitted on all those margins, and the operating threshold is the F1-maximising one on
the calibrated out-of-fold scores. Using every training row for this (instead of one 20%
split) gave steadier thresholds and calibration in cross-validation (docs/model.md). The
final weights are fitted on all rows, keeping calibration and threshold. Everything random
is seeded, so the same data and seed give the same artifact, bit for bit.

With `neighbours_k` > 0 the inner models also get a neighbour index of their own rows, and
a logistic stacker on [margin, neighbour features] is fitted on the out-of-fold rows inside
the linear model's uncertainty band (see `text_model.NeighbourIndex`; off by default).

Needs scipy and scikit-learn (training only; scoring needs numpy alone).
"""

from __future__ import annotations

import hashlib
import json
import platform
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

from fraud_pipeline.scoring.featurize import FeatureConfig, featurize
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite
from fraud_pipeline.scoring.text_model import LinearTextModel, NeighbourIndex, band_mask, group_weights


class LabeledDataError(ValueError):
    """A labeled file has a row the trainer cannot use (says which line and why)."""


@dataclass
class LabeledData:
    texts: list[str]
    labels: np.ndarray  # int8 0/1
    sources: list[str]
    sha256: str = ""
    path: str = ""


def load_labeled(path: str | Path, require_labels: bool = True) -> LabeledData:
    """Rows `{"text": str, "label": 0|1, "source"?: str}`; a bad row is an error naming its line."""
    path = Path(path)
    raw = path.read_bytes()
    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabeledDataError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise LabeledDataError(f"{path}:{number}: JSON nested too deeply") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise LabeledDataError(f"{path}:{number}: needs a string 'text' field")
        label = row.get("label")
        if require_labels and (isinstance(label, bool) or label not in (0, 1)):
            raise LabeledDataError(f"{path}:{number}: 'label' must be 0 or 1, got {label!r}")
        texts.append(row["text"])
        labels.append(int(label) if label in (0, 1) else 0)
        sources.append(str(row.get("source", "")))
    if not texts:
        raise LabeledDataError(f"{path}: no rows")
    return LabeledData(
        texts, np.asarray(labels, dtype=np.int8), sources, hashlib.sha256(raw).hexdigest(), str(path)
    )


@dataclass(frozen=True)
class TrainParams:
    """Settings of one training run (stored in the artifact's metadata)."""

    seed: int = 13
    C: float = 300.0
    # 0: calibrate on one held-out split of `validation_fraction`; k >= 2: on k-fold
    # out-of-fold margins of the training rows (the default, see the module docstring).
    calibration_folds: int = 5
    validation_fraction: float = 0.2
    refit_full: bool = True
    # Training-time weight of each row by its `source` (inference never sees the source).
    source_weights: tuple[tuple[str, float], ...] = (("janitr_x", 2.0),)
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(canonical=True))
    # Seeded augmentation (`rewrites.py`): every row also enters the fit once more,
    # rewritten by one rewrite of `augment` drawn per row (`augment_per_row`; 0: all of
    # them), at `augment_weight` of its weight. Benign rows too (`augment_benign`): with
    # scams alone the model learned "obfuscated means scam" from what canonicalisation leaves
    # of leetspeak (85% of held-out benign texts flagged once rewritten, docs/model.md). Only
    # the rows a fit trains on are rewritten; calibration rows never are.
    augment: tuple[str, ...] = REWRITES
    augment_weight: float = 0.5
    augment_per_row: int = 1
    augment_benign: bool = True
    # Nearest-neighbour component (see `NeighbourIndex`): k neighbours in the vote, and the
    # largest number of training texts an indexed bucket may occur in. k = 0: linear model only.
    # Off by default: +0.003 PR-AUC in CV, but ~16k posts/s on unseen texts (docs/model.md).
    neighbours_k: int = 0
    neighbour_df_cap: int = 50
    stacker_C: float = 1.0
    stacker_source_weights: bool = False  # unweighted, like the Platt fit: keeps it calibrated
    # Linear probabilities inside which the neighbour component re-scores a text (the cascade).
    neighbour_band: tuple[float, float] = (0.01, 0.99)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "C": self.C,
            "calibration_folds": self.calibration_folds,
            "validation_fraction": self.validation_fraction,
            "refit_full": self.refit_full,
            "source_weights": dict(self.source_weights),
            "features": self.features.to_dict(),
            "augment": list(self.augment),
            "augment_weight": self.augment_weight,
            "augment_per_row": self.augment_per_row,
            "augment_benign": self.augment_benign,
            "neighbours_k": self.neighbours_k,
            "neighbour_df_cap": self.neighbour_df_cap,
            "stacker_C": self.stacker_C,
            "stacker_source_weights": self.stacker_source_weights,
            "neighbour_band": list(self.neighbour_band),
        }

    def row_weights(self, sources: Sequence[str]) -> np.ndarray:
        """Per-row sample weights from `source_weights` (1.0 for any other source)."""
        table = dict(self.source_weights)
        return np.array([table.get(source, 1.0) for source in sources], dtype=np.float64)


def design_matrix(
    texts: Sequence[object], config: FeatureConfig, idf: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The training view of `featurize`: a CSR matrix with exactly the values scoring uses.

    `idf` is indexed by bucket; when None it is computed from these texts (document
    frequency, smoothed like scikit-learn's). Returns (matrix, idf).
    """
    n_buckets = 1 << config.bits
    features = featurize(texts, config)
    docs = [group.doc_ids() for group in features.groups]
    if idf is None:
        rows = np.concatenate(docs)
        cols = np.concatenate([group.index for group in features.groups])
        presence = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), n_buckets)
        )
        presence.sum_duplicates()
        df = np.bincount(presence.indices, minlength=n_buckets)
        idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        idf[0] = 0.0
    rows_out, cols_out, vals_out = [], [], []
    for group, doc, weight in zip(features.groups, docs, group_weights(config), strict=True):
        entry_idf = idf[group.index]
        norm = np.sqrt(np.maximum(group.segment_sum(entry_idf**2), 1e-12))
        keep = group.index != 0
        rows_out.append(doc[keep])
        cols_out.append(group.index[keep])
        vals_out.append(weight * entry_idf[keep] / norm[doc[keep]])
    matrix = sp.csr_matrix(
        (np.concatenate(vals_out), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(len(texts), n_buckets),
    )
    matrix.sum_duplicates()
    return matrix, idf


def augmented_rows(
    texts: Sequence[str], labels: np.ndarray, weights: np.ndarray, params: TrainParams
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rewritten copies of the scam rows (and of the benign rows with `augment_benign`):
    every rewrite of `params.augment`, or `augment_per_row` of them drawn per row, each
    seeded by (`params.seed`, rewrite, row). Returns (texts, labels, weights), each copy at
    `augment_weight` times its row's weight."""
    rows = np.flatnonzero(labels == 1) if not params.augment_benign else np.arange(len(texts))
    copies: list[str] = []
    sources: list[int] = []
    for row in rows.tolist():
        kinds = params.augment
        if params.augment_per_row:
            kinds = tuple(random.Random(f"{params.seed}/augment/{row}").sample(kinds, params.augment_per_row))
        for kind in kinds:
            copies.append(rewrite(texts[row], kind, params.seed, row))
            sources.append(row)
    index = np.asarray(sources, dtype=np.int64)
    return copies, labels[index], weights[index] * params.augment_weight


def fit_linear(
    texts: Sequence[str],
    labels: np.ndarray,
    params: TrainParams,
    sample_weight: np.ndarray | None = None,
) -> LinearTextModel:
    """Fit the uncalibrated linear model on these texts and their augmented scam copies.

    Only the buckets some training text hits are given to the solver: an unseen bucket's
    L2-regularised weight is 0 anyway, and the narrower matrix makes liblinear ~7x faster.
    idf comes from the original texts alone (augmentation must not change it).
    """
    weights = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    matrix, idf = design_matrix(texts, params.features)
    if params.augment:
        copies, copy_labels, copy_weights = augmented_rows(texts, labels, weights, params)
        copy_matrix, _ = design_matrix(copies, params.features, idf)
        matrix = sp.vstack([matrix, copy_matrix], format="csr")
        labels = np.concatenate([labels, copy_labels])
        weights = np.concatenate([weights, copy_weights])
    sample_weight = weights
    seen = np.flatnonzero(np.diff(matrix.tocsc().indptr))
    seen = seen[seen != 0]
    classifier = LogisticRegression(C=params.C, solver="liblinear", max_iter=5000, random_state=params.seed)
    classifier.fit(matrix[:, seen], labels, sample_weight=sample_weight)
    return LinearTextModel(
        config=params.features,
        buckets=seen.astype(np.int64),
        weights=classifier.coef_[0].astype(np.float32),
        idf=idf[seen].astype(np.float32),
        idf_unseen=float(np.log(1.0 + len(texts)) + 1.0),
        bias=float(classifier.intercept_[0]),
    )


def fit_platt(margins: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling: a 1-D logistic regression of the label on the margin."""
    calibrator = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
    calibrator.fit(margins.reshape(-1, 1), labels)
    return float(calibrator.coef_[0, 0]), float(calibrator.intercept_[0])


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict fraud when score >= it) with the highest F1."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def stratified_split(
    labels: np.ndarray, sources: Sequence[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), stratified by label and source, seeded."""
    strata = [f"{label}:{source}" for label, source in zip(labels.tolist(), sources, strict=True)]
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=strata
    )
    return np.sort(train_idx), np.sort(val_idx)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "scikit-learn", "fraud-pipeline"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def build_neighbour_index(
    model: LinearTextModel, texts: Sequence[str], labels: np.ndarray, k: int, df_cap: int
) -> NeighbourIndex:
    """The training texts' neighbour view (`LinearTextModel.view_entries`, with this model's
    idf) as unit rows, duplicates merged, restricted to buckets in at most `df_cap` texts."""
    features = featurize(texts, model.config)
    doc, bucket, value = model.view_entries(features)
    matrix = sp.csr_matrix((value, (doc, bucket)), shape=(len(texts), 1 << model.config.bits))
    matrix.sum_duplicates()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sp.csc_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix)
    df = np.diff(matrix.indptr)
    matrix = matrix @ sp.diags((df <= df_cap).astype(np.float64))
    matrix.eliminate_zeros()
    counts = np.diff(matrix.indptr)
    buckets = np.flatnonzero(counts)
    return NeighbourIndex(
        buckets=buckets.astype(np.int64),
        counts=counts[buckets].astype(np.int64),
        rows=matrix.indices.astype(np.int32),
        values=matrix.data.astype(np.float32),
        labels=np.asarray(labels, dtype=np.int8),
        k=k,
        df_cap=df_cap,
    )


def fit_with_neighbours(
    texts: Sequence[str], labels: np.ndarray, params: TrainParams, sample_weight: np.ndarray
) -> LinearTextModel:
    """`fit_linear`, plus the neighbour index over the same texts when `neighbours_k` > 0."""
    model = fit_linear(texts, labels, params, sample_weight)
    if params.neighbours_k > 0:
        model.neighbours = build_neighbour_index(
            model, texts, labels, params.neighbours_k, params.neighbour_df_cap
        )
    return model


def fit_stacker(inputs: np.ndarray, labels: np.ndarray, weights: np.ndarray, C: float) -> LogisticRegression:
    """Logistic regression on [margin, max_sim_fraud, max_sim_benign, knn_vote]."""
    stacker = LogisticRegression(C=C, solver="lbfgs", max_iter=2000)
    stacker.fit(inputs, labels, sample_weight=weights)
    return stacker


def out_of_fold_margins(
    data: LabeledData, params: TrainParams, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, stack inputs) that models which did not see those rows give them:
    (n, 1) margins, or (n, 4) with the neighbour features when `neighbours_k` > 0.

    k-fold (`calibration_folds`) or one held-out split (`validation_fraction`) when it is 0.
    """
    if params.calibration_folds < 2:
        train_idx, val_idx = stratified_split(
            data.labels, data.sources, params.validation_fraction, params.seed
        )
        parts = [(train_idx, val_idx)]
    else:
        strata = [
            f"{label}:{source}" for label, source in zip(data.labels.tolist(), data.sources, strict=True)
        ]
        splitter = StratifiedKFold(n_splits=params.calibration_folds, shuffle=True, random_state=params.seed)
        parts = list(splitter.split(np.zeros(len(strata)), strata))
    rows, margins = [], []
    for train_idx, val_idx in parts:
        inner = fit_with_neighbours(
            [data.texts[i] for i in train_idx], data.labels[train_idx], params, weights[train_idx]
        )
        rows.append(val_idx)
        margins.append(inner.stack_inputs([data.texts[i] for i in val_idx]))
    order = np.concatenate(rows)
    return order, np.concatenate(margins)


def train(data: LabeledData, params: TrainParams | None = None) -> LinearTextModel:
    """Run the whole procedure (see the module docstring) and return a calibrated model."""
    from fraud_pipeline.scoring.evaluation import metrics_at

    params = params or TrainParams()
    weights = params.row_weights(data.sources)
    val_idx, val_inputs = out_of_fold_margins(data, params, weights)
    val_labels = data.labels[val_idx]
    val_margins = val_inputs[:, 0]
    a, b = fit_platt(val_margins, val_labels)
    stacker: tuple[float, ...] = ()
    val_logits = a * val_margins + b
    if params.neighbours_k > 0:
        # The stacker sees only the band's rows; the threshold comes from stacker scores of
        # rows the stacker did not see either (5-fold inside the out-of-fold rows).
        band = band_mask(val_logits, params.neighbour_band)
        inputs, labels = val_inputs[band], val_labels[band]
        stack_weights = weights[val_idx][band] if params.stacker_source_weights else np.ones(len(labels))
        stacked = fit_stacker(inputs, labels, stack_weights, params.stacker_C)
        stacker = (*(float(w) for w in stacked.coef_[0]), float(stacked.intercept_[0]))
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=params.seed)
        band_logits = np.zeros(len(labels))
        for fit_rows, score_rows in folds.split(inputs, labels):
            part = fit_stacker(inputs[fit_rows], labels[fit_rows], stack_weights[fit_rows], params.stacker_C)
            band_logits[score_rows] = part.decision_function(inputs[score_rows])
        val_logits = val_logits.copy()
        val_logits[band] = band_logits
    val_scores = 1.0 / (1.0 + np.exp(-np.clip(val_logits, -500.0, 500.0)))
    threshold = best_f1_threshold(val_labels, val_scores)
    validation = metrics_at(val_labels, val_scores, threshold)
    if params.refit_full or params.calibration_folds >= 2:
        model = fit_with_neighbours(data.texts, data.labels, params, weights)
    else:
        train_idx = np.setdiff1d(np.arange(len(data.texts)), val_idx)
        model = fit_with_neighbours(
            [data.texts[i] for i in train_idx], data.labels[train_idx], params, weights[train_idx]
        )
    model.calibration = (a, b)
    model.stacker = stacker
    model.neighbour_band = params.neighbour_band
    model.threshold = threshold
    model.metadata = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_data": {
            "path": data.path,
            "sha256": data.sha256,
            "rows": len(data.texts),
            "positives": int(data.labels.sum()),
            "calibration_rows": len(val_idx),
            "calibration": (
                f"{params.calibration_folds}-fold out-of-fold margins"
                if params.calibration_folds >= 2
                else f"held-out split ({params.validation_fraction:.0%})"
            ),
        },
        "params": params.to_dict(),
        "validation_metrics": validation,
        "libraries": library_versions(),
    }
    model.version = model.content_version()
    return model
