"""Loading the Dagster definitions emits no Dagster deprecation, beta, preview or supersession
warning (issue #15: every command that loaded the code location used to print them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# A fresh interpreter: decorators warn once, at import, so an already-imported module hides them.
PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from fraud_pipeline.orchestration.definitions import build_definitions
    build_definitions().get_repository_def().get_all_jobs()
print(json.dumps([
    {"category": w.category.__name__, "module": w.category.__module__, "file": w.filename,
     "message": str(w.message)[:300]}
    for w in caught
]))
"""


def _is_dagster_warning(warning: dict[str, str]) -> bool:
    """Raised by Dagster or about our use of it: deprecation, beta, preview, supersession, and
    its definition warnings (e.g. a job mixing backfill policies). Third-party import-time
    deprecations (sqlglotrs) are not ours to fix."""
    return warning["module"].startswith("dagster") or any(
        part in warning["file"] for part in ("/dagster", "/fraud_pipeline/")
    )


def test_loading_the_definitions_emits_no_dagster_warning(tmp_path) -> None:
    env = {**os.environ, "FRAUD_PIPELINE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    caught = json.loads(out.stdout.strip().splitlines()[-1])
    offending = [w for w in caught if _is_dagster_warning(w)]
    assert offending == [], "\n".join(f"{w['category']}: {w['message']}" for w in offending)


def test_compaction_freshness_is_a_policy_on_the_asset(local_settings) -> None:
    """The superseded freshness checks + sensor became a FreshnessPolicy the UI evaluates itself."""
    from dagster import AssetKey
    from dagster._core.definitions.freshness import CronFreshnessPolicy

    from fraud_pipeline.orchestration.definitions import build_definitions

    repo = build_definitions(local_settings).get_repository_def()
    policy = repo.asset_graph.get(AssetKey("compacted_posts")).freshness_policy
    assert isinstance(policy, CronFreshnessPolicy)
    assert policy.deadline_cron == "45 * * * *"
    assert "freshness_checks_sensor" not in {s.name for s in repo.sensor_defs}


def test_a_range_run_compacts_every_hour_of_the_range(local_settings) -> None:
    """compacted_posts shares the single-run backfill policy of its job's other assets (no
    mixed-policy warning), so a UI backfill may hand it several hours in one run."""
    from dagster import AssetKey, DagsterInstance
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from fraud_pipeline.lake.compaction import compacted_key
    from fraud_pipeline.lake.paths import partition_key
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.orchestration.backfill import materialize_quietly
    from fraud_pipeline.orchestration.lake import compacted_posts, raw_posts
    from fraud_pipeline.orchestration.resources import build_resources
    from tests.lake_fixtures import build_lake, recent_hours

    store = ObjectStore.from_settings(local_settings)
    hours = recent_hours(2)
    build_lake(store, local_settings, hours, posts_per_hour=20, files_per_hour=1)
    result = materialize_quietly(
        [raw_posts, compacted_posts],
        [AssetKey("compacted_posts")],
        build_resources(local_settings),
        DagsterInstance.ephemeral(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: partition_key(hours[0]),
            ASSET_PARTITION_RANGE_END_TAG: partition_key(hours[-1]),
        },
    )
    assert result.success
    assert all(store.exists(compacted_key(local_settings, h)) for h in hours)
    (materialization,) = result.asset_materializations_for_node("compacted_posts")[:1]
    assert materialization.metadata["hours"].value == 2
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "schema_conformance",
        "unique_uri",
        "null_rates",
        "fraud_rate_anomaly",
    }
    assert all(c.passed for c in checks if c.check_name in ("schema_conformance", "unique_uri"))
