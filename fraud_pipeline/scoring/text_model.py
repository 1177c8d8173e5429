"""The text fraud model at run time: load an artifact, score batches of texts.

A linear model over hashed word and byte n-grams (`featurize.py`). Each feature family is
idf-weighted and L2-normalised per text, so the model is a TF-IDF logistic regression whose
vocabulary is a hash table: scoring is one vectorised featurisation, one gather from a
(buckets x 2) table holding `weight * idf` and `idf**2`, and a per-text segment sum. A Platt
sigmoid fitted on validation data turns the margin into a calibrated probability.

Optionally (`NeighbourIndex`, off in the bundled model) texts the linear model is unsure of
are re-scored by a small logistic stacker that also sees their cosine similarity to the
labeled training texts (a sparse index in the artifact, searched with numpy).

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

from fraud_pipeline.scoring.featurize import FeatureConfig, Features, featurize

ARTIFACT_FORMAT = "fraud-pipeline-text-model/2"
READABLE_FORMATS = ("fraud-pipeline-text-model/1", ARTIFACT_FORMAT)  # /1: no neighbour index
BUNDLED_ARTIFACT = "text_model.json"
SCORE_CHUNK = 8192  # texts per featurisation pass: bounds memory for huge batches
NEIGHBOUR_CHUNK = 128  # texts per similarity pass: a (chunk x training rows) float64 scratch array
CHAR_FAMILIES = 4  # byte n-grams n = 2..5 are interleaved in the char group (see featurize)


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
class NeighbourIndex:
    """Training texts as sparse unit vectors, for "is this almost exactly a known scam?".

    A linear model gives one n-gram little weight however often a campaign repeats it; the
    cosine similarity to the nearest labeled training texts does not. The view is byte
    5-grams plus words (idf-weighted, each family L2-normalised), restricted to buckets that
    at most `df_cap` training texts contain: rare n-grams are what near-duplicates share, and
    the cap bounds every posting list, hence the cost per scored text. Stored bucket-major
    (CSC): the postings of bucket b are `rows/values[indptr[b]:indptr[b + 1]]`.
    """

    buckets: np.ndarray  # uint32: buckets with postings (sorted)
    counts: np.ndarray  # postings per bucket
    rows: np.ndarray  # int32 training row of each posting
    values: np.ndarray  # float32 that row's unit-vector component
    labels: np.ndarray  # int8 label of each training row
    k: int = 10
    df_cap: int = 20
    _indptr: np.ndarray | None = field(default=None, repr=False)

    def indptr(self, bits: int) -> np.ndarray:
        """Full-width (2**bits + 1) posting offsets: one gather per query entry, no search."""
        if self._indptr is None:
            per_bucket = np.zeros(1 << bits, dtype=np.int64)
            per_bucket[self.buckets.astype(np.int64)] = self.counts
            indptr = np.zeros((1 << bits) + 1, dtype=np.int64)
            np.cumsum(per_bucket, out=indptr[1:])
            self._indptr = indptr
        return self._indptr

    def features(
        self, doc: np.ndarray, bucket: np.ndarray, value: np.ndarray, n_docs: int, bits: int
    ) -> np.ndarray:
        """(n_docs, 3): max similarity to a fraud text, to a benign text, and the
        similarity-weighted (s**4) fraud share of the k most similar training texts.

        `(doc, bucket, value)` are the query texts' view entries (duplicates need not be merged).
        A text sharing no indexed bucket with any training text gets zeros.
        """
        out = np.zeros((n_docs, 3), dtype=np.float64)
        indptr = self.indptr(bits)
        lo = indptr[bucket]
        length = indptr[bucket + 1] - lo
        hit = length > 0
        doc, lo, length, value = doc[hit], lo[hit], length[hit], value[hit]
        n_rows = len(self.labels)
        for begin in range(0, n_docs, NEIGHBOUR_CHUNK):
            stop = min(begin + NEIGHBOUR_CHUNK, n_docs)
            sel = np.flatnonzero((doc >= begin) & (doc < stop))
            if len(sel) == 0:
                continue
            lengths = length[sel]
            entry = np.repeat(sel, lengths)
            offsets = np.arange(len(entry)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            posting = lo[entry] + offsets
            sims = np.bincount(
                (doc[entry] - begin) * n_rows + self.rows[posting],
                weights=value[entry] * self.values[posting],
                minlength=(stop - begin) * n_rows,
            )
            cand = np.flatnonzero(sims > 0)
            sim = sims[cand]
            cdoc = cand // n_rows
            label = self.labels[cand - cdoc * n_rows]
            if len(cand) == 0:
                continue
            # One float sort by (document, similarity descending): `span` exceeds any similarity.
            span = float(sim.max()) + 1.0
            order = np.argsort(cdoc * span - sim)
            sim, cdoc, label = sim[order], cdoc[order], label[order]
            fraud = label == 1
            # The first entry of each document within a class is that class's maximum.
            for column, mask in ((0, fraud), (1, ~fraud)):
                where = np.flatnonzero(mask)
                docs_of = cdoc[where]
                first = np.ones(len(where), dtype=bool)
                first[1:] = docs_of[1:] != docs_of[:-1]
                out[begin + docs_of[first], column] = sim[where[first]]
            first_of_doc = np.searchsorted(cdoc, np.arange(stop - begin))
            top = (np.arange(len(cdoc)) - first_of_doc[cdoc]) < self.k
            weight = sim[top] ** 4
            num = np.bincount(cdoc[top], weights=weight * fraud[top], minlength=stop - begin)
            den = np.bincount(cdoc[top], weights=weight, minlength=stop - begin)
            out[begin:stop, 2] = num / np.maximum(den, 1e-300)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "df_cap": self.df_cap,
            "buckets": _pack(self.buckets.astype(np.uint32)),
            "counts": _pack(self.counts.astype(np.uint16)),
            "rows": _pack(self.rows.astype(np.int32)),
            "values": _pack(self.values.astype(np.float32)),
            "labels": _pack(self.labels.astype(np.int8)),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NeighbourIndex:
        return cls(
            buckets=_unpack(data["buckets"]).astype(np.int64),
            counts=_unpack(data["counts"]).astype(np.int64),
            rows=_unpack(data["rows"]),
            values=_unpack(data["values"]),
            labels=_unpack(data["labels"]),
            k=int(data["k"]),
            df_cap=int(data["df_cap"]),
        )


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
    # Optional nearest-neighbour component: p = sigmoid(stacker . [margin, max_sim_fraud,
    # max_sim_benign, knn_vote] + stacker_bias); without it p = Platt(margin).
    neighbours: NeighbourIndex | None = None
    stacker: tuple[float, ...] = ()
    # Only texts whose linear probability lies inside this band are looked up (a cascade: the
    # lookup costs ~5x the linear model, and confident texts rarely change side).
    neighbour_band: tuple[float, float] = (0.0, 1.0)
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
        if self.neighbours is not None:
            index = self.neighbours
            for array in (index.buckets, index.counts, index.rows, index.values, index.labels):
                digest.update(np.ascontiguousarray(array).tobytes())
            extra = [index.k, index.df_cap, *self.stacker, *self.neighbour_band]
            digest.update(np.array(extra, dtype=np.float64).tobytes())
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
        return self.stack_inputs(texts, neighbours=False)[:, 0]

    def stack_inputs(self, texts: Sequence[object], neighbours: bool = True) -> np.ndarray:
        """(n, 1) linear margins, or (n, 4) [margin, max_sim_fraud, max_sim_benign, knn_vote]
        when the model has a neighbour index and `neighbours` is true."""
        with_knn = neighbours and self.neighbours is not None
        out = np.empty((len(texts), 4 if with_knn else 1), dtype=np.float64)
        for begin in range(0, len(texts), SCORE_CHUNK):
            chunk = texts[begin : begin + SCORE_CHUNK]
            out[begin : begin + len(chunk)] = self._stack_inputs(chunk, with_knn)
        return out

    def _stack_inputs(self, texts: Sequence[object], with_knn: bool) -> np.ndarray:
        features = featurize(texts, self.config)
        margin = np.full(features.n_docs, self.bias, dtype=np.float64)
        # The table's two float32 columns viewed as one complex64: a single 1-D gather and
        # segment sum yield both sums at once (real: weight*idf, imaginary: idf**2).
        packed = self.table.view(np.complex64).ravel()
        gathered = []
        for group, weight in zip(features.groups, group_weights(self.config), strict=True):
            entries = packed.take(group.index)
            gathered.append(entries)
            sums = group.segment_sum(entries)
            margin += weight * sums.real / np.sqrt(np.maximum(sums.imag, 1e-12))
        if not with_knn:
            return margin[:, None]
        assert self.neighbours is not None
        doc, bucket, value = self.view_entries(features, gathered)
        knn = self.neighbours.features(doc, bucket, value, features.n_docs, self.config.bits)
        return np.column_stack([margin, knn])

    def view_entries(
        self, features: Features, gathered: list[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc, bucket, value) of each text's neighbour view: byte char_max-grams and words,
        idf-weighted, each family L2-normalised, then the whole vector (entries not merged)."""
        if gathered is None:
            packed = self.table.view(np.complex64).ravel()
            gathered = [packed.take(group.index) for group in features.groups]
        docs, buckets, values = [], [], []
        config = self.config
        char_families = config.char_max - max(config.char_min, 2) + 1 + int(config.char_min <= 1)
        for position, (group, entries) in enumerate(zip(features.groups[:2], gathered[:2], strict=True)):
            keep = group.index != 0
            if position == 0:  # char group: keep only the longest n-grams
                keep &= np.arange(len(group.index)) % char_families == char_families - 1
            doc = group.doc_ids()[keep]
            idf2 = entries.imag[keep].astype(np.float64)
            norm = np.sqrt(np.maximum(np.bincount(doc, weights=idf2, minlength=features.n_docs), 1e-12))
            docs.append(doc)
            buckets.append(group.index[keep])
            values.append(np.sqrt(idf2) / norm[doc])
        doc = np.concatenate(docs)
        value = np.concatenate(values)
        total = np.sqrt(np.maximum(np.bincount(doc, weights=value**2, minlength=features.n_docs), 1e-12))
        return doc, np.concatenate(buckets), value / total[doc]

    def probabilities(self, texts: Sequence[object]) -> np.ndarray:
        """Calibrated fraud probabilities (0..1) for each text."""
        a, b = self.calibration
        z = a * self.margins(texts) + b
        if self.neighbours is not None and self.stacker:
            inside = np.flatnonzero(self.in_band(z))
            if len(inside):
                inputs = self.stack_inputs([texts[i] for i in inside.tolist()])
                z[inside] = self.stack_logits(inputs)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))

    def in_band(self, platt_logits: np.ndarray) -> np.ndarray:
        """Which texts (by their Platt log-odds) the neighbour component re-scores."""
        return band_mask(platt_logits, self.neighbour_band)

    def stack_logits(self, inputs: np.ndarray) -> np.ndarray:
        """Stacker log-odds from (n, 4) `stack_inputs`."""
        return inputs @ np.asarray(self.stacker[:4]) + self.stacker[4]

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
            "neighbours": None if self.neighbours is None else self.neighbours.to_json(),
            "stacker": list(self.stacker),
            "neighbour_band": list(self.neighbour_band),
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
        if data.get("format") not in READABLE_FORMATS:
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
                neighbours=NeighbourIndex.from_json(data["neighbours"]) if data.get("neighbours") else None,
                stacker=tuple(float(x) for x in data.get("stacker", ())),
                neighbour_band=_band(data.get("neighbour_band", (0.0, 1.0))),
            ).check()
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ArtifactError(f"damaged text model artifact: {exc!r}") from exc

    def check(self) -> LinearTextModel:
        """Raise ArtifactError when the parts do not fit together (a damaged or hand-edited file)."""
        if not len(self.buckets) == len(self.weights) == len(self.idf):
            raise ArtifactError("damaged text model artifact: buckets, weights and idf differ in length")
        index = self.neighbours
        if index is not None:
            if len(self.stacker) != 5:
                raise ArtifactError("damaged text model artifact: a neighbour index needs 5 stacker weights")
            n_rows = len(index.labels)
            if (
                len(index.buckets) != len(index.counts)
                or not int(index.counts.sum()) == len(index.rows) == len(index.values)
                or (len(index.rows) and (index.rows.min() < 0 or index.rows.max() >= n_rows))
                or (len(index.buckets) and int(index.buckets.max()) >= 1 << self.config.bits)
                or index.labels.dtype != np.int8
                or not np.isin(index.labels, (0, 1)).all()
            ):
                raise ArtifactError("damaged text model artifact: inconsistent neighbour index")
        return self

    @classmethod
    def load(cls, path: str | Path) -> LinearTextModel:
        try:
            data = json.loads(Path(path).read_bytes())
        except FileNotFoundError as exc:
            raise ArtifactError(f"no text model artifact at {path}") from exc
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read text model artifact {path}: {exc}") from exc
        return cls.from_json(data)


def band_mask(platt_logits: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """True where the probability sigmoid(logit) lies strictly inside `band` (low, high)."""
    low, high = band
    with np.errstate(divide="ignore"):
        bounds = np.log([low, high]) - np.log1p(-np.array([low, high]))
    return (platt_logits > bounds[0]) & (platt_logits < bounds[1])


def _band(value: Any) -> tuple[float, float]:
    low, high = (float(x) for x in value)
    return low, high


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
