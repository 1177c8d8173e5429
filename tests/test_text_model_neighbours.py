"""The opt-in nearest-neighbour component: numpy similarities equal a direct sparse product,
the cascade scores a text the same in any batch, and artifacts round-trip or are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fraud_pipeline.scoring.featurize import featurize
from fraud_pipeline.scoring.text_model import (
    NEIGHBOUR_CHUNK,
    ArtifactError,
    LinearTextModel,
    load_text_model,
)
from fraud_pipeline.scoring.training import LabeledData, load_labeled, train
from tests.text_model_fixtures import (
    BAD_TEXTS,
    REAL_TEXTS,
    SMALL_PARAMS,
    TRAIN_FILE,
    read_jsonl,
    write_subset,
)

KNN_PARAMS = replace(SMALL_PARAMS, neighbours_k=5, neighbour_df_cap=10, neighbour_band=(0.0, 1.0))


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> LabeledData:
    return load_labeled(write_subset(tmp_path_factory.mktemp("data") / "small.jsonl", 700, start=2500))


@pytest.fixture(scope="module")
def knn_model(labeled: LabeledData) -> LinearTextModel:
    return train(labeled, KNN_PARAMS)


def _direct_features(model: LinearTextModel, texts: list[str]) -> np.ndarray:
    """The three neighbour features from a scipy product and dense numpy, the slow obvious way."""
    index = model.neighbours
    assert index is not None
    n_buckets = 1 << model.config.bits
    features = featurize(texts, model.config)
    doc, bucket, value = model.view_entries(features)
    query = sp.csr_matrix((value, (doc, bucket)), shape=(len(texts), n_buckets))
    columns = np.repeat(index.buckets, index.counts)
    stored = sp.csr_matrix(
        (index.values.astype(np.float64), (index.rows, columns)), shape=(len(index.labels), n_buckets)
    )
    sims = (query @ stored.T).toarray()
    out = np.zeros((len(texts), 3))
    for row, sim in enumerate(sims):
        positive = sim > 0
        fraud = positive & (index.labels == 1)
        benign = positive & (index.labels == 0)
        out[row, 0] = sim[fraud].max() if fraud.any() else 0.0
        out[row, 1] = sim[benign].max() if benign.any() else 0.0
        top = np.argsort(-sim, kind="stable")[: index.k]
        top = top[sim[top] > 0]
        weight = sim[top] ** 4
        out[row, 2] = (weight * index.labels[top]).sum() / weight.sum() if len(top) else 0.0
    return out


def test_similarities_equal_a_direct_sparse_product(knn_model: LinearTextModel, labeled: LabeledData) -> None:
    texts = labeled.texts[:40] + REAL_TEXTS + BAD_TEXTS
    inputs = knn_model.stack_inputs(texts)
    assert inputs.shape == (len(texts), 4)
    np.testing.assert_allclose(inputs[:, 1:], _direct_features(knn_model, texts), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inputs[:, 0], knn_model.margins(texts))


def test_a_training_text_finds_itself(knn_model: LinearTextModel, labeled: LabeledData) -> None:
    """A known scam pasted again is (almost) at similarity 1 to its own class."""
    fraud_rows = [i for i, label in enumerate(labeled.labels.tolist()) if label == 1][:10]
    inputs = knn_model.stack_inputs([labeled.texts[i] for i in fraud_rows])
    assert np.median(inputs[:, 1]) > 0.5  # max similarity to a fraud text
    assert np.median(inputs[:, 3]) > 0.5  # the vote of the nearest texts


def test_a_text_sharing_nothing_gets_zeros(knn_model: LinearTextModel) -> None:
    inputs = knn_model.stack_inputs(["", "\x00\x01", "\x02"])
    np.testing.assert_array_equal(inputs[:, 1:], 0.0)


def test_cascade_scores_a_text_the_same_alone_and_in_any_batch(
    knn_model: LinearTextModel, labeled: LabeledData
) -> None:
    banded = replace(knn_model, neighbour_band=(0.05, 0.95), _table=None)
    unseen = [row["text"] for row in read_jsonl(TRAIN_FILE)[: NEIGHBOUR_CHUNK * 2]]  # not in `labeled`
    texts = labeled.texts[:10] + REAL_TEXTS + BAD_TEXTS + unseen
    together = banded.probabilities(texts)
    alone = np.array([banded.probabilities([text])[0] for text in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-9, atol=1e-12)
    assert np.all((together >= 0) & (together <= 1))
    # Outside the band the score is the linear model's own Platt probability.
    a, b = banded.calibration
    platt = 1 / (1 + np.exp(-(a * banded.margins(texts) + b)))
    outside = ~banded.in_band(a * banded.margins(texts) + b)
    assert outside.any() and (~outside).any()
    np.testing.assert_allclose(together[outside], platt[outside])


def test_stacker_is_fitted_and_recorded(knn_model: LinearTextModel) -> None:
    assert len(knn_model.stacker) == 5
    assert knn_model.stacker[3] > 0  # a fraud-heavy neighbourhood raises the score
    params = knn_model.metadata["params"]
    assert params["neighbours_k"] == 5 and params["neighbour_df_cap"] == 10
    index = knn_model.neighbours
    assert index is not None and len(index.labels) == 700
    # No indexed bucket occurs in more training texts than the cap.
    assert int(index.counts.max()) <= 10


def test_round_trip_and_damaged_index(tmp_path: Path, knn_model: LinearTextModel) -> None:
    path = knn_model.save(tmp_path / "knn.json")
    loaded = LinearTextModel.load(path)
    assert loaded.version == knn_model.version
    np.testing.assert_array_equal(loaded.probabilities(REAL_TEXTS), knn_model.probabilities(REAL_TEXTS))
    document = json.loads(path.read_text())
    document["stacker"] = [1.0]
    (tmp_path / "short.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="stacker"):
        LinearTextModel.load(tmp_path / "short.json")
    document = json.loads(path.read_text())
    document["neighbours"]["labels"] = document["arrays"]["idf"]  # wrong length and type
    (tmp_path / "labels.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="damaged"):
        LinearTextModel.load(tmp_path / "labels.json")


def test_linear_only_artifacts_still_load() -> None:
    """The bundled artifact (format /1, no index) scores with the linear model alone."""
    bundled = load_text_model()
    assert bundled.neighbours is None and bundled.stacker == ()
    assert bundled.stack_inputs(REAL_TEXTS).shape == (len(REAL_TEXTS), 1)
