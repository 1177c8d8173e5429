"""One lineage graph: a post's path from the source to every mart, models to their endpoints,
no islands, and the health sensor observing each hop of the streaming path."""

from __future__ import annotations

import json
import random
import time
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context
from lake_fixtures import make_record, write_raw_file

from fraud_pipeline.metrics import open_metrics
from fraud_pipeline.metrics.base import MetricDatum
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import ensure_manifest
from fraud_pipeline.orchestration.definitions import build_definitions
from fraud_pipeline.orchestration.lineage import (
    JETSTREAM,
    MEDIA_ENDPOINT,
    MEDIA_MODEL_PACKAGE,
    RAW_POSTS,
    SCORING_FUNCTION,
    TEXT_ENDPOINT,
    TEXT_MODEL_PACKAGE,
    UNTAGGED_STREAM,
)
from fraud_pipeline.orchestration.monitoring import stream_health_sensor
from fraud_pipeline.orchestration.resources import build_resources
from fraud_pipeline.provision import provision
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fraud_pipeline.settings import load_settings

    settings = load_settings(environ={}, backend="local", home=tmp_path_factory.mktemp("home"))
    return build_definitions(settings).get_repository_def().asset_graph


def _downstream(graph, start: AssetKey) -> set[AssetKey]:  # type: ignore[no-untyped-def]
    seen, todo = {start}, deque([start])
    while todo:
        for child in graph.get(todo.popleft()).child_keys:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _marts() -> set[AssetKey]:
    """Every dbt model under models/marts, from the project's manifest (not a list written here)."""
    manifest = json.loads(ensure_manifest().read_text())
    return {
        AssetKey(node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "marts" in node["fqn"]
    }


def test_a_post_flows_from_the_source_to_every_mart(graph) -> None:  # type: ignore[no-untyped-def]
    marts = _marts()
    assert len(marts) >= 8, marts
    from_untagged = _downstream(graph, UNTAGGED_STREAM)
    assert marts <= from_untagged, f"marts not reached from the untagged stream: {marts - from_untagged}"
    from_source = _downstream(graph, JETSTREAM)
    hops = ["untagged_stream", "scoring_function", "tagged_stream", "raw_posts", "compacted_posts"]
    hops.append("published_labels")  # what Bluesky's clients see of the verdicts
    assert {AssetKey(h) for h in hops} | {AssetKey("glue_catalog")} <= from_source


def test_each_endpoint_is_downstream_of_the_package_it_serves(graph) -> None:  # type: ignore[no-untyped-def]
    assert TEXT_ENDPOINT in _downstream(graph, TEXT_MODEL_PACKAGE)
    assert MEDIA_ENDPOINT in _downstream(graph, MEDIA_MODEL_PACKAGE)
    assert TEXT_ENDPOINT not in _downstream(graph, MEDIA_MODEL_PACKAGE)
    # ... and the scoring function calls both, so the model's training reaches the lake.
    assert {TEXT_ENDPOINT, MEDIA_ENDPOINT} <= graph.get(SCORING_FUNCTION).parent_keys
    assert RAW_POSTS in _downstream(graph, AssetKey("text_model_training"))


def test_the_graph_has_no_islands(graph) -> None:  # type: ignore[no-untyped-def]
    """Every asset is connected to the source: one picture of the system."""
    keys = set(graph.get_all_asset_keys())
    neighbours = {k: set(graph.get(k).child_keys) | set(graph.get(k).parent_keys) for k in keys}
    seen, todo = {JETSTREAM}, deque([JETSTREAM])
    while todo:
        for other in neighbours[todo.popleft()] & keys:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    assert seen == keys, f"islands: {sorted(k.to_user_string() for k in keys - seen)}"


def test_health_sensor_observes_source_scoring_and_raw_lake(local_settings: Settings) -> None:
    settings = local_settings
    provision(settings)
    now = datetime.now(UTC)
    now_us = int(now.timestamp() * 1_000_000)
    rng = random.Random(4)
    rows = [
        replace(
            make_record(rng, now_us - i, fraud=i < 2, text=f"post {i}", did=f"did:plc:{i}"),
            policy_version="policy-test-7",
        )
        for i in range(5)
    ]
    write_raw_file(ObjectStore.from_settings(settings), settings, now, rows)
    state = open_state(settings)
    state.put_checkpoint("ingest/jetstream/cursor", str(now_us - 12_000_000))  # 12 s behind live
    state.close()
    metrics = open_metrics(settings)
    now_ms = int(time.time() * 1000)
    metrics.put(
        settings.metric_namespace,
        [
            MetricDatum("Post-Processed", 600, "Count", now_ms - 30_000),
            MetricDatum("Post-Error", 3, "Count", now_ms - 30_000),
            MetricDatum("Scoring-Latency-Ms", 42.0, "Milliseconds", now_ms - 30_000),
        ],
    )
    metrics.close()
    resources = build_resources(settings)
    names = ("pipeline", "streams", "state", "metrics", "endpoints", "lake")
    with build_sensor_context(
        instance=DagsterInstance.ephemeral(), resources={n: resources[n] for n in names}
    ) as context:
        result = stream_health_sensor(context)
    seen = {
        e.asset_key: {k: v.value for k, v in e.metadata.items()}
        for e in result.asset_events
        if type(e).__name__ == "AssetObservation"
    }
    assert seen[JETSTREAM]["source"] == "jetstream"
    assert 11 <= seen[JETSTREAM]["cursor_lag_s"] < 60
    assert seen[SCORING_FUNCTION]["posts_per_second"] == pytest.approx(2.0)
    assert seen[SCORING_FUNCTION]["errors_5m"] == 3
    assert seen[SCORING_FUNCTION]["max_batch_latency_ms"] == pytest.approx(42.0)
    assert seen[RAW_POSTS]["newest_file_rows"] == 5
    assert seen[RAW_POSTS]["text_model_version"] == "text-test-1"
    assert seen[RAW_POSTS]["policy_version"] == "policy-test-7"
    assert 0 <= seen[RAW_POSTS]["newest_file_age_s"] < 60
    assert {UNTAGGED_STREAM, TEXT_ENDPOINT, MEDIA_ENDPOINT} <= set(seen)
    assert seen[AssetKey("published_labels")]["newest_file_age_s"] == -1.0  # none copied yet
