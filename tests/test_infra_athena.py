"""The Athena workgroup in infra/: results location, encryption and a scan limit every query must use."""

from __future__ import annotations

import pytest

from fraud_pipeline.settings import Settings
from tests.infra_fixtures import ENVS, LIVE, MODULES, component_config, env_locals, load_hcl


def _workgroup() -> dict:
    resources = {
        k: v for block in load_hcl(MODULES / "athena" / "main.tf")["resource"] for k, v in block.items()
    }
    return resources["aws_athena_workgroup"]["this"]["configuration"][0]


def test_workgroup_enforces_results_location_encryption_and_scan_limit() -> None:
    config = _workgroup()
    assert config["enforce_workgroup_configuration"] is True  # clients cannot opt out
    assert config["bytes_scanned_cutoff_per_query"] == "${var.bytes_scanned_cutoff_per_query}"
    assert config["publish_cloudwatch_metrics_enabled"] is True
    result = config["result_configuration"][0]
    assert result["output_location"] == "s3://${var.bucket_name}/${var.results_prefix}"
    encryption = result["encryption_configuration"][0]
    assert encryption == {
        "encryption_option": "SSE_KMS",
        "kms_key_arn": "${var.kms_key_arn}",
        "__is_block__": True,
    }


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_deploys_it_with_the_settings_names(env: str) -> None:
    values = env_locals(env)
    settings = Settings(env=env)
    inputs = component_config(LIVE / env / "athena")["inputs"]
    assert inputs["workgroup_name"] == "${local.env.names.athena_workgroup}"
    assert values["names"]["athena_workgroup"] == settings.athena_workgroup
    assert values["names"]["athena_database"] == settings.athena_database
    assert values["prefixes"]["athena_results_prefix"] == settings.athena_results_prefix
    assert inputs["kms_key_arn"] == "${dependency.kms.outputs.key_arn}"
    assert 10 * 2**20 <= int(values["athena_bytes_scanned_cutoff"]) <= 2**40  # Athena's minimum .. 1 TiB
    assert values["analytics_engine"] in ("duckdb", "athena")
    # The Dagster task may query in the workgroup and write results and marts.
    dagster = component_config(LIVE / env / "dagster")["inputs"]
    assert dagster["athena_workgroup_arn"] == "${dependency.athena.outputs.workgroup_arn}"
    assert "${local.env.prefixes.athena_results_prefix}" in str(dagster["s3_write_prefixes"])
    assert dagster["environment"] and "FRAUD_PIPELINE_ANALYTICS_ENGINE" in str(dagster["environment"])


def test_dagster_role_gets_athena_permissions_only_for_the_workgroup() -> None:
    text = (MODULES / "dagster" / "main.tf").read_text()
    assert '"athena:StartQueryExecution"' in text
    assert "resources = [var.athena_workgroup_arn]" in text
