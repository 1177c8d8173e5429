"""The text model: featurisation, scoring of bad input, training determinism, artifacts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fraud_pipeline.scoring.base import TextScorer
from fraud_pipeline.scoring.featurize import FeatureConfig, featurize
from fraud_pipeline.scoring.text_model import ArtifactError, LinearTextModel, load_text_model
from fraud_pipeline.scoring.training import (
    LabeledDataError,
    design_matrix,
    fit_linear,
    load_labeled,
    train,
)
from tests.text_model_fixtures import BAD_TEXTS, REAL_TEXTS, SMALL_PARAMS, TRAIN_FILE


@pytest.fixture(scope="module")
def labeled_small(tmp_path_factory: pytest.TempPathFactory):
    from tests.text_model_fixtures import write_subset

    path = write_subset(tmp_path_factory.mktemp("data") / "small.jsonl", 900)
    return load_labeled(path)


@pytest.fixture(scope="module")
def small_model(labeled_small) -> LinearTextModel:
    return train(labeled_small, SMALL_PARAMS)


@pytest.fixture(scope="module")
def bundled() -> LinearTextModel:
    return load_text_model()


def test_bundled_model_is_a_text_scorer_with_metadata(bundled: LinearTextModel) -> None:
    assert isinstance(bundled, TextScorer)
    meta = bundled.metadata
    assert meta["training_data"]["sha256"] and meta["training_data"]["rows"] > 1000
    assert set(meta["libraries"]) >= {"numpy", "scikit-learn", "python"}
    assert {"pr_auc", "f1", "threshold"} <= set(meta["validation_metrics"])
    assert meta["created_at"]
    assert 0.0 < bundled.threshold < 1.0
    assert bundled.version.startswith("text-hashlr-")


def test_bundled_model_separates_scams_from_chatter(bundled: LinearTextModel) -> None:
    scores = bundled.score(REAL_TEXTS)
    scams = [scores[0], scores[1], scores[4]]
    benign = [scores[2], scores[3], scores[5]]
    assert min(scams) > 5 * max(benign)  # ranking: every scam above every benign post
    assert scores[0] > bundled.threshold and scores[4] > bundled.threshold


@pytest.mark.parametrize("text", BAD_TEXTS, ids=["empty", "whitespace", "emoji", "100k", "binary", "mixed"])
def test_bad_input_gets_a_valid_score(bundled: LinearTextModel, text: str) -> None:
    (score,) = bundled.score([text])
    assert isinstance(score, float) and np.isfinite(score) and 0.0 <= score <= 1.0


def test_non_string_and_empty_batches(bundled: LinearTextModel) -> None:
    assert bundled.score([]) == []
    scores = bundled.probabilities([None, 42, ""])  # type: ignore[list-item]
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert scores[0] == pytest.approx(scores[2])  # None is scored as the empty text


def test_a_text_scores_the_same_alone_and_in_any_batch(bundled: LinearTextModel) -> None:
    texts = REAL_TEXTS + BAD_TEXTS
    together = bundled.probabilities(texts)
    alone = np.array([bundled.probabilities([t])[0] for t in texts])
    reversed_batch = bundled.probabilities(texts[::-1])[::-1]
    np.testing.assert_allclose(together, alone, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(together, reversed_batch, rtol=1e-9, atol=1e-12)


def test_ngrams_do_not_leak_between_texts() -> None:
    config = FeatureConfig(bits=18)
    one = featurize(["ab"], config)
    two = featurize(["ab", "cd"], config)
    for single, batch in zip(one.groups, two.groups, strict=True):
        first = batch.index[batch.starts[0] : batch.starts[1]]
        assert sorted(single.index.tolist()) == sorted(first.tolist())


def test_training_view_equals_scoring_view(labeled_small, small_model: LinearTextModel) -> None:
    """The sparse matrix the trainer fits on gives exactly the margins the scorer computes."""
    texts = labeled_small.texts[:200] + BAD_TEXTS
    idf = np.full(1 << small_model.config.bits, small_model.idf_unseen)
    idf[small_model.buckets] = small_model.idf
    idf[0] = 0.0
    matrix, _ = design_matrix(texts, small_model.config, idf=idf)
    weights = np.zeros(1 << small_model.config.bits)
    weights[small_model.buckets] = small_model.weights
    np.testing.assert_allclose(
        matrix @ weights + small_model.bias, small_model.margins(texts), rtol=1e-4, atol=1e-4
    )


def test_training_is_deterministic_for_a_seed(labeled_small, small_model: LinearTextModel) -> None:
    again = train(labeled_small, SMALL_PARAMS)
    assert again.version == small_model.version
    np.testing.assert_array_equal(again.buckets, small_model.buckets)
    np.testing.assert_array_equal(again.weights, small_model.weights)
    assert again.threshold == small_model.threshold
    assert again.calibration == small_model.calibration
    other_seed = train(
        labeled_small, type(SMALL_PARAMS)(seed=8, C=SMALL_PARAMS.C, features=SMALL_PARAMS.features)
    )
    assert other_seed.metadata["params"]["seed"] == 8
    assert (other_seed.calibration, other_seed.threshold) != (small_model.calibration, small_model.threshold)


def test_metadata_records_the_data_hash(labeled_small, small_model: LinearTextModel) -> None:
    import hashlib

    assert (
        small_model.metadata["training_data"]["sha256"]
        == hashlib.sha256(Path(labeled_small.path).read_bytes()).hexdigest()
    )
    assert small_model.metadata["training_data"]["rows"] == 900


def test_artifact_round_trip(tmp_path: Path, small_model: LinearTextModel) -> None:
    path = small_model.save(tmp_path / "m.json")
    loaded = LinearTextModel.load(path)
    assert loaded.version == small_model.version and loaded.threshold == small_model.threshold
    np.testing.assert_array_equal(loaded.probabilities(REAL_TEXTS), small_model.probabilities(REAL_TEXTS))


def test_damaged_or_foreign_artifacts_are_refused(tmp_path: Path, small_model: LinearTextModel) -> None:
    with pytest.raises(ArtifactError, match="no text model artifact"):
        LinearTextModel.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ArtifactError, match="not a text model artifact"):
        LinearTextModel.load(tmp_path / "other.json")
    document = small_model.to_json()
    document["arrays"]["weights"]["zlib_b64"] = "AAAA"
    (tmp_path / "broken.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match="damaged"):
        LinearTextModel.load(tmp_path / "broken.json")


def test_labeled_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "label": 0}\n{"text": "x", "label": 2}\n')
    with pytest.raises(LabeledDataError, match=r"bad.jsonl:2: 'label' must be 0 or 1"):
        load_labeled(path)
    path.write_text('{"text": "ok", "label": 0}\nnot json\n')
    with pytest.raises(LabeledDataError, match=r":2: not JSON"):
        load_labeled(path)


def test_fit_linear_keeps_bucket_zero_out(labeled_small) -> None:
    model = fit_linear(labeled_small.texts[:300], labeled_small.labels[:300], SMALL_PARAMS)
    assert 0 not in set(model.buckets.tolist())
    assert model.table[0].tolist() == [0.0, 0.0]


def test_real_training_file_is_present() -> None:
    assert TRAIN_FILE.exists()


def test_calibration_uses_out_of_fold_margins_of_every_row(
    labeled_small, small_model: LinearTextModel
) -> None:
    """k-fold calibration scores all rows; the single-split mode only its validation share."""
    meta = small_model.metadata
    assert (
        meta["validation_metrics"]["n"]
        == len(labeled_small.texts)
        == meta["training_data"]["calibration_rows"]
    )
    split = train(labeled_small, replace(SMALL_PARAMS, calibration_folds=0, validation_fraction=0.2))
    assert split.metadata["validation_metrics"]["n"] == pytest.approx(0.2 * len(labeled_small.texts), abs=1)
    assert split.calibration != small_model.calibration


def test_source_weights_count_rows_and_change_the_fit(labeled_small) -> None:
    params = replace(SMALL_PARAMS, source_weights=(("janitr_x", 3.0),))
    weights = params.row_weights(["janitr_x", "uci_sms_spam", ""])
    np.testing.assert_array_equal(weights, [3.0, 1.0, 1.0])
    texts, labels = labeled_small.texts[:400], labeled_small.labels[:400]
    row_weights = params.row_weights(labeled_small.sources[:400])
    assert 0 < (row_weights == 3.0).sum() < 400
    weighted = fit_linear(texts, labels, params, row_weights)
    plain = fit_linear(texts, labels, params)
    assert not np.allclose(weighted.weights, plain.weights)
    assert params.to_dict()["source_weights"] == {"janitr_x": 3.0}


def test_fitting_on_seen_buckets_only_gives_the_full_width_solution(labeled_small) -> None:
    """Dropping never-hit columns must not change the L2 logistic regression's solution."""
    from sklearn.linear_model import LogisticRegression

    texts, labels = labeled_small.texts[:300], labeled_small.labels[:300]
    model = fit_linear(texts, labels, replace(SMALL_PARAMS, augment=()))
    matrix, _ = design_matrix(texts, SMALL_PARAMS.features)
    full = LogisticRegression(
        C=SMALL_PARAMS.C, solver="liblinear", max_iter=5000, random_state=SMALL_PARAMS.seed
    )
    full.fit(matrix, labels)
    np.testing.assert_allclose(full.decision_function(matrix), model.margins(texts), rtol=1e-3, atol=1e-3)
