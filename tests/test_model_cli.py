"""`fraud-pipeline model ...` and `serve`: the output contracts people and later checks rely on."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

from fraud_pipeline.cli import main
from fraud_pipeline.scoring.rewrites import REWRITES, rewrite_all
from fraud_pipeline.scoring.text_model import LinearTextModel, load_text_model
from tests.text_model_fixtures import read_jsonl, write_subset


def _run(args: list[str], home: Path) -> str:
    result = CliRunner().invoke(main, [*args[:2], "--home", str(home), *args[2:]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_evaluate_equals_a_direct_computation(tmp_path: Path) -> None:
    data = write_subset(tmp_path / "eval.jsonl", 400, start=3000)
    report = json.loads(_run(["model", "evaluate", "--data", str(data), "--json"], tmp_path))
    rows = read_jsonl(data)
    model = load_text_model()
    labels = np.array([r["label"] for r in rows])
    scores = model.probabilities([r["text"] for r in rows])
    predicted = scores >= model.threshold
    assert report["n"] == len(rows)
    assert report["threshold"] == model.threshold
    assert report["pr_auc"] == pytest.approx(average_precision_score(labels, scores))
    assert report["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert report["f1"] == pytest.approx(f1_score(labels, predicted))
    assert report["precision"] == pytest.approx(precision_score(labels, predicted))
    assert report["recall"] == pytest.approx(recall_score(labels, predicted))
    sources = {r["source"] for r in rows}
    assert set(report["by_source"]) == sources
    for name in sources:
        mask = np.array([r["source"] == name for r in rows])
        assert report["by_source"][name]["n"] == int(mask.sum())
        assert report["by_source"][name]["f1"] == pytest.approx(f1_score(labels[mask], predicted[mask]))
    assert sum(b["n"] for b in report["reliability"]["bins"]) == len(rows)


def test_evaluate_rewrites_reports_recall_per_rewrite_next_to_plain(tmp_path: Path) -> None:
    data = write_subset(tmp_path / "eval.jsonl", 300, start=3000)
    args = ["model", "evaluate", "--data", str(data), "--json", "--rewrites", "--seed", "5"]
    report = json.loads(_run(args, tmp_path))
    rows = read_jsonl(data)
    scams = [r["text"] for r in rows if r["label"] == 1]
    model = load_text_model()
    table = report["rewrites"]
    assert table["n"] == len(scams) > 0
    assert set(table) == {"n", "plain", *REWRITES}
    plain = float(np.mean(model.probabilities(scams) >= model.threshold))
    assert table["plain"]["recall"] == pytest.approx(plain) == pytest.approx(report["recall"])
    for kind in REWRITES:
        rewritten = rewrite_all(scams, kind, seed=5)
        expected = float(np.mean(model.probabilities(rewritten) >= model.threshold))
        assert table[kind]["recall"] == pytest.approx(expected)
        assert table[kind]["recall_drop"] == pytest.approx(plain - expected)
    assert json.loads(_run(args, tmp_path))["rewrites"] == table  # seeded: the same again


def test_evaluate_without_sources_has_no_breakdown(tmp_path: Path) -> None:
    data = tmp_path / "plain.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"text": t, "label": y}) for t, y in [("win a free prize txt now", 1), ("hi mum", 0)]
        )
    )
    report = json.loads(_run(["model", "evaluate", "--data", str(data), "--json"], tmp_path))
    assert report["n"] == 2 and "by_source" not in report


def test_predict_keeps_order_and_count(tmp_path: Path) -> None:
    rows = [
        {"id": i, "text": t}
        for i, t in enumerate(["", "FREE BTC!!! claim now", "good morning", "🚀" * 50] * 5)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.jsonl"
    _run(["model", "predict", "--in", str(src), "--out", str(out)], tmp_path)
    got = read_jsonl(out)
    model = load_text_model()
    assert [r["id"] for r in got] == list(range(len(rows)))
    assert [r["text"] for r in got] == [r["text"] for r in rows]
    assert [r["score"] for r in got] == pytest.approx(model.score([r["text"] for r in rows]), rel=1e-12)
    assert all(r["is_fraud"] == (r["score"] >= model.threshold) for r in got)


def test_predict_names_the_bad_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    result = CliRunner().invoke(
        main, ["model", "predict", "--in", str(src), "--out", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code != 0
    assert "in.jsonl:2: needs a string 'text' field" in result.output


def test_train_then_use_with_model_option(tmp_path: Path) -> None:
    data = write_subset(tmp_path / "train.jsonl", 700)
    out = tmp_path / "trained.json"
    summary = json.loads(
        _run(["model", "train", "--data", str(data), "--out", str(out), "--seed", "3", "--json"], tmp_path)
    )
    assert summary["training_data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    trained = LinearTextModel.load(out)
    assert trained.version == summary["version"]
    info = json.loads(_run(["model", "info", "--model", str(out)], tmp_path))
    assert info["metadata"]["params"]["seed"] == 3
    assert info["metadata"]["training_data"]["rows"] == 700
    report = json.loads(
        _run(["model", "evaluate", "--data", str(data), "--json", "--model", str(out)], tmp_path)
    )
    assert report["model_version"] == trained.version


def test_package_command_uploads_to_local_lake(tmp_path: Path) -> None:
    summary = json.loads(_run(["model", "package", "--out", str(tmp_path / "model.tar.gz")], tmp_path))
    assert summary["key"] == f"models/text/{summary['version']}/model.tar.gz"
    assert summary["uri"].startswith("file://") and Path(summary["path"]).exists()


def test_serve_command_answers_ping_and_invocations(tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "fraud-pipeline"),
            "serve",
            "--port",
            str(port),
            "--home",
            str(tmp_path),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not come up")
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps(["hello there"]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            reply = json.loads(response.read())
        assert reply[0]["score"] == pytest.approx(load_text_model().score(["hello there"])[0], rel=1e-12)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_train_with_neighbours_then_predict_with_it(tmp_path: Path) -> None:
    """`--neighbours K` writes an artifact with a neighbour index; predict scores through it."""
    data = write_subset(tmp_path / "train.jsonl", 700, start=1200)
    out = tmp_path / "knn.json"
    _run(["model", "train", "--data", str(data), "--out", str(out), "--neighbours", "5"], tmp_path)
    trained = LinearTextModel.load(out)
    assert trained.neighbours is not None and trained.neighbours.k == 5
    assert len(trained.stacker) == 5 and trained.metadata["params"]["neighbours_k"] == 5
    queries = write_subset(tmp_path / "queries.jsonl", 300, start=0)  # rows it never saw
    scored = tmp_path / "scored.jsonl"
    _run(["model", "predict", "--in", str(queries), "--out", str(scored), "--model", str(out)], tmp_path)
    texts = [row["text"] for row in read_jsonl(queries)]
    scores = np.array([row["score"] for row in read_jsonl(scored)])
    np.testing.assert_allclose(scores, trained.probabilities(texts))
    a, b = trained.calibration
    linear = 1 / (1 + np.exp(-(a * trained.margins(texts) + b)))
    assert not np.allclose(scores, linear)  # the neighbour stacker re-scored some of them
