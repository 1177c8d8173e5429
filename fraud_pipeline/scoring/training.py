"""Training the text fraud model: seeded, from the project's labeled JSONL, with metadata.

Procedure (`train`): a stratified validation split (by label and source) is held out; the
hashed TF-IDF logistic regression is fitted on the rest; a Platt sigmoid is fitted on the
validation margins (calibration) and the operating threshold is the one that maximises F1
on the calibrated validation scores. The final weights are then refitted on all rows with
the same settings (more data, same scale), keeping calibration and threshold. Everything
random is seeded, so the same data and seed give the same artifact, bit for bit.

Needs scipy and scikit-learn (training only; scoring needs numpy alone).
"""

from __future__ import annotations

import hashlib
import json
import platform
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
from sklearn.model_selection import train_test_split

from fraud_pipeline.scoring.featurize import FeatureConfig, featurize
from fraud_pipeline.scoring.text_model import LinearTextModel, group_weights


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
    C: float = 100.0
    validation_fraction: float = 0.2
    refit_full: bool = True
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "C": self.C,
            "validation_fraction": self.validation_fraction,
            "refit_full": self.refit_full,
            "features": self.features.to_dict(),
        }


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


def fit_linear(texts: Sequence[str], labels: np.ndarray, params: TrainParams) -> LinearTextModel:
    """Fit the uncalibrated linear model on these texts."""
    matrix, idf = design_matrix(texts, params.features)
    classifier = LogisticRegression(C=params.C, solver="liblinear", max_iter=5000, random_state=params.seed)
    classifier.fit(matrix, labels)
    seen = np.flatnonzero(np.diff(matrix.tocsc().indptr))
    seen = seen[seen != 0]
    return LinearTextModel(
        config=params.features,
        buckets=seen.astype(np.int64),
        weights=classifier.coef_[0, seen].astype(np.float32),
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


def train(data: LabeledData, params: TrainParams | None = None) -> LinearTextModel:
    """Run the whole procedure (see the module docstring) and return a calibrated model."""
    from fraud_pipeline.scoring.evaluation import metrics_at

    params = params or TrainParams()
    train_idx, val_idx = stratified_split(data.labels, data.sources, params.validation_fraction, params.seed)
    texts = data.texts
    model = fit_linear([texts[i] for i in train_idx], data.labels[train_idx], params)
    val_texts = [texts[i] for i in val_idx]
    val_labels = data.labels[val_idx]
    a, b = fit_platt(model.margins(val_texts), val_labels)
    model.calibration = (a, b)
    val_scores = model.probabilities(val_texts)
    threshold = best_f1_threshold(val_labels, val_scores)
    validation = metrics_at(val_labels, val_scores, threshold)
    if params.refit_full:
        model = fit_linear(texts, data.labels, params)
        model.calibration = (a, b)
    model.threshold = threshold
    model.metadata = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_data": {
            "path": data.path,
            "sha256": data.sha256,
            "rows": len(texts),
            "positives": int(data.labels.sum()),
            "train_rows": len(train_idx),
            "validation_rows": len(val_idx),
        },
        "params": params.to_dict(),
        "validation_metrics": validation,
        "libraries": library_versions(),
    }
    model.version = model.content_version()
    return model
