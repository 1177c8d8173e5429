"""The text fraud model at run time: load an artifact, score batches of texts.

A linear model over hashed word and byte n-grams (`featurize.py`). Each feature family is
idf-weighted and L2-normalised per text, so the model is a TF-IDF logistic regression whose
vocabulary is a hash table: scoring is one vectorised featurisation, one gather from a
(buckets x 2) table holding `weight * idf` and `idf**2`, and a per-text segment sum. A Platt
sigmoid fitted on validation data turns the margin into a calibrated probability.

Run-time needs numpy only (no scipy, sklearn or torch): this module also goes into the
SageMaker model archive. The artifact is one JSON file (metadata readable with any tool,
arrays as base64 of zlib-compressed little-endian buffers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fraud_pipeline.scoring.featurize import FeatureConfig, featurize

ARTIFACT_FORMAT = "fraud-pipeline-text-model/1"
BUNDLED_ARTIFACT = "text_model.json"
SCORE_CHUNK = 8192  # texts per featurisation pass: bounds memory for huge batches


class ArtifactError(ValueError):
    """The artifact file is missing, of another format, or damaged."""


def _pack(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array)
    return {
        "dtype": data.dtype.newbyteorder("<").str,
        "shape": list(data.shape),
        "zlib_b64": base64.b64encode(
            zlib.compress(data.astype(data.dtype.newbyteorder("<")).tobytes(), 9)
        ).decode("ascii"),
    }


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(packed["zlib_b64"]))
    return np.frombuffer(raw, dtype=np.dtype(packed["dtype"])).reshape(packed["shape"])


@dataclass
class LinearTextModel:
    """Weights of the hashed linear model, plus calibration and the operating threshold."""

    config: FeatureConfig
    buckets: np.ndarray  # uint32: buckets seen in training (sorted)
    weights: np.ndarray  # float32 per seen bucket
    idf: np.ndarray  # float32 per seen bucket
    idf_unseen: float
    bias: float
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt: p = sigmoid(a * margin + b)
    threshold: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    _table: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.version:
            self.version = self.content_version()

    # -- identity -------------------------------------------------------------------
    def content_version(self) -> str:
        """A version derived from the model's content: same training, same version."""
        digest = hashlib.sha256()
        digest.update(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        for array in (self.buckets, self.weights, self.idf):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(np.array([self.idf_unseen, self.bias, *self.calibration, self.threshold]).tobytes())
        return f"text-hashlr-{digest.hexdigest()[:12]}"

    # -- scoring --------------------------------------------------------------------
    @property
    def table(self) -> np.ndarray:
        """(2**bits, 2) float32: column 0 = weight * idf, column 1 = idf**2; bucket 0 is all zero."""
        if self._table is None:
            table = np.empty((1 << self.config.bits, 2), dtype=np.float32)
            table[:, 0] = 0.0
            table[:, 1] = self.idf_unseen**2
            table[self.buckets, 0] = self.weights * self.idf
            table[self.buckets, 1] = self.idf**2
            table[0] = 0.0
            self._table = table
        return self._table

    def margins(self, texts: Sequence[object]) -> np.ndarray:
        """Raw linear scores (log-odds before calibration) for each text."""
        out = np.empty(len(texts), dtype=np.float64)
        for begin in range(0, len(texts), SCORE_CHUNK):
            chunk = texts[begin : begin + SCORE_CHUNK]
            out[begin : begin + len(chunk)] = self._margins(chunk)
        return out

    def _margins(self, texts: Sequence[object]) -> np.ndarray:
        features = featurize(texts, self.config)
        margin = np.full(features.n_docs, self.bias, dtype=np.float64)
        # The table's two float32 columns viewed as one complex64: a single 1-D gather and
        # segment sum yield both sums at once (real: weight*idf, imaginary: idf**2).
        packed = self.table.view(np.complex64).ravel()
        for group, weight in zip(features.groups, group_weights(self.config), strict=True):
            sums = group.segment_sum(packed.take(group.index))
            margin += weight * sums.real / np.sqrt(np.maximum(sums.imag, 1e-12))
        return margin

    def probabilities(self, texts: Sequence[object]) -> np.ndarray:
        """Calibrated fraud probabilities (0..1) for each text."""
        a, b = self.calibration
        z = np.clip(a * self.margins(texts) + b, -500.0, 500.0)
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, texts: Sequence[str]) -> list[float]:
        """The `TextScorer` call: calibrated probabilities as plain floats."""
        return [float(p) for p in self.probabilities(texts)]

    # -- persistence ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "model": "hashed word+byte n-gram tf-idf logistic regression",
            "feature_config": self.config.to_dict(),
            "bias": self.bias,
            "idf_unseen": self.idf_unseen,
            "calibration": {"method": "platt", "a": self.calibration[0], "b": self.calibration[1]},
            "threshold": self.threshold,
            "metadata": self.metadata,
            "arrays": {
                "buckets": _pack(self.buckets.astype(np.uint32)),
                "weights": _pack(self.weights.astype(np.float32)),
                "idf": _pack(self.idf.astype(np.float32)),
            },
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))
        tmp.replace(path)
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearTextModel:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(f"not a text model artifact (format {data.get('format')!r})")
        try:
            arrays = data["arrays"]
            calibration = data["calibration"]
            return cls(
                config=FeatureConfig.from_dict(data["feature_config"]),
                buckets=_unpack(arrays["buckets"]).astype(np.int64),
                weights=_unpack(arrays["weights"]),
                idf=_unpack(arrays["idf"]),
                idf_unseen=float(data["idf_unseen"]),
                bias=float(data["bias"]),
                calibration=(float(calibration["a"]), float(calibration["b"])),
                threshold=float(data["threshold"]),
                metadata=dict(data.get("metadata", {})),
                version=str(data["version"]),
            )
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ArtifactError(f"damaged text model artifact: {exc!r}") from exc

    @classmethod
    def load(cls, path: str | Path) -> LinearTextModel:
        try:
            data = json.loads(Path(path).read_bytes())
        except FileNotFoundError as exc:
            raise ArtifactError(f"no text model artifact at {path}") from exc
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read text model artifact {path}: {exc}") from exc
        return cls.from_json(data)


def group_weights(config: FeatureConfig) -> list[float]:
    """Weight of each feature family, in the order `featurize` returns them."""
    weights = [config.char_weight, config.word_weight]
    if config.meta:
        weights.append(config.meta_weight)
    return weights


def bundled_artifact_path() -> Path:
    """The artifact shipped with the package (so a clean checkout scores without training)."""
    return Path(str(resources.files("fraud_pipeline.model_artifacts").joinpath(BUNDLED_ARTIFACT)))


def default_artifact_path(text_model_path: str = "") -> Path:
    """The artifact the pipeline uses: the configured path, else the bundled one."""
    return Path(text_model_path) if text_model_path else bundled_artifact_path()


def load_text_model(path: str | Path | None = None) -> LinearTextModel:
    """Load an artifact (default: the bundled one)."""
    return LinearTextModel.load(path if path else bundled_artifact_path())
