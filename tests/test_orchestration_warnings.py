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


LIFECYCLE_WARNINGS = {"DeprecationWarning", "BetaWarning", "PreviewWarning", "SupersessionWarning"}


def _is_dagster_lifecycle_warning(warning: dict[str, str]) -> bool:
    """A deprecation/beta/preview/supersession warning raised by Dagster or about our use of it
    (third-party import-time deprecations, e.g. sqlglotrs, are not ours to fix)."""
    from_dagster = warning["module"].startswith("dagster") or any(
        part in warning["file"] for part in ("/dagster", "/fraud_pipeline/")
    )
    return from_dagster and (
        warning["category"] in LIFECYCLE_WARNINGS or warning["category"].endswith("DeprecationWarning")
    )


def test_loading_the_definitions_emits_no_dagster_warning(tmp_path) -> None:
    env = {**os.environ, "FRAUD_PIPELINE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    caught = json.loads(out.stdout.strip().splitlines()[-1])
    offending = [w for w in caught if _is_dagster_lifecycle_warning(w)]
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
