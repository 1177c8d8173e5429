"""Terraform and the package agree: Glue columns, Lambda handler, image entry points, Dagster config."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys

import pytest
import yaml

from fraud_pipeline.records import SEED_GLUE_COLUMNS, glue_columns
from tests.infra_fixtures import INFRA, LIVE, MODULES, ROOT, component_config, load_hcl


def test_glue_columns_file_equals_records_schema() -> None:
    committed = json.loads((MODULES / "glue" / "columns.json").read_text(encoding="utf-8"))
    assert committed == glue_columns(), "regenerate: python infra/scripts/gen_glue_columns.py"
    assert [c["Name"] for c in committed[: len(SEED_GLUE_COLUMNS)]] == list(SEED_GLUE_COLUMNS)


def test_glue_generator_writes_the_same_file() -> None:
    sys.path.insert(0, str(INFRA / "scripts"))
    try:
        gen = importlib.import_module("gen_glue_columns")
    finally:
        sys.path.pop(0)
    assert gen.columns_json() == (MODULES / "glue" / "columns.json").read_text(encoding="utf-8")


def test_glue_tables_take_columns_from_the_file() -> None:
    main = load_hcl(MODULES / "glue" / "main.tf")
    assert "columns.json" in json.dumps(main["locals"])
    tables = {name for block in main["resource"] for name in block.get("aws_glue_catalog_table", {})}
    assert tables == {"raw", "compacted"}


def _lambda_handler() -> str:
    variables = load_hcl(MODULES / "lambda" / "variables.tf")["variable"]
    default = next(v["handler"]["default"] for v in variables if "handler" in v)
    live = component_config(LIVE / "dev" / "lambda")["inputs"]["handler"]
    assert default == live
    return str(default)


def test_lambda_handler_exists_in_the_package() -> None:
    handler = _lambda_handler()
    module_name, attribute = handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module_name), attribute))
    dockerfile = (INFRA / "docker" / "lambda.Dockerfile").read_text()
    assert f'CMD ["{handler}"]' in dockerfile


def test_cli_subcommands_the_images_run_exist() -> None:
    """`fraud-pipeline ingest` (ECS) and `fraud-pipeline serve` (SageMaker) resolve to click commands."""
    from click.testing import CliRunner

    from fraud_pipeline.cli import main

    command = component_config(LIVE / "dev" / "ingest")["inputs"]["command"]
    for args in (command, ["serve"]):
        result = CliRunner().invoke(main, [args[0], "--help"])
        assert result.exit_code == 0, f"fraud-pipeline {args[0]}: {result.output}"
    ingest_help = CliRunner().invoke(main, ["ingest", "--help"]).output
    for option in (a for a in command if a.startswith("--")):
        assert option in ingest_help, f"fraud-pipeline ingest has no {option}"


def test_console_script_is_the_image_entry_point() -> None:
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("fraud-pipeline") == "fraud_pipeline.cli:main"
    for name in ("ingest", "inference"):
        assert 'ENTRYPOINT ["fraud-pipeline"]' in (INFRA / "docker" / f"{name}.Dockerfile").read_text()


def test_dagster_code_location_module_loads() -> None:
    module = component_config(LIVE / "dev" / "dagster")["inputs"]["code_module"]
    variables = load_hcl(MODULES / "dagster" / "variables.tf")["variable"]
    attribute = next(v["code_attribute"]["default"] for v in variables if "code_attribute" in v)
    assert f'"-a", "{attribute}"' in (INFRA / "docker" / "dagster.Dockerfile").read_text()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import dagster, {module} as m; "
            f"print(int(isinstance(getattr(m, {attribute!r}), dagster.Definitions)))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1", "the code location attribute must be a Definitions"


def test_sagemaker_framework_handler_module_exists() -> None:
    inference = importlib.import_module("fraud_pipeline.serving.inference")
    for name in ("model_fn", "input_fn", "predict_fn", "output_fn"):
        assert callable(getattr(inference, name)), name


def test_dagster_config_reads_the_variables_terraform_sets() -> None:
    instance = yaml.safe_load((INFRA / "docker" / "dagster" / "dagster.yaml").read_text())
    pg = instance["storage"]["postgres"]["postgres_db"]
    read = {v["env"] for v in pg.values() if isinstance(v, dict) and "env" in v}
    main = (MODULES / "dagster" / "main.tf").read_text()
    set_by_terraform = set(re.findall(r"\b(DAGSTER_PG_[A-Z]+)\b", main))
    assert (
        read
        == set_by_terraform
        == {"DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"}
    )
    assert instance["run_launcher"]["class"] == "EcsRunLauncher"


def test_workspace_points_at_the_code_server_terraform_registers() -> None:
    workspace = yaml.safe_load((INFRA / "docker" / "dagster" / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    variables = {
        k: v for block in load_hcl(MODULES / "dagster" / "variables.tf")["variable"] for k, v in block.items()
    }
    expected_host = (
        f"{variables['code_service_name']['default']}.{variables['service_discovery_namespace']['default']}"
    )
    assert server["host"] == expected_host
    assert server["port"] == variables["code_port"]["default"]


@pytest.mark.parametrize("source", ["ecs_service", "dagster"])
def test_ecs_tasks_run_read_only_as_non_root(source: str) -> None:
    main = (MODULES / source / "main.tf").read_text()
    assert "readonlyRootFilesystem = true" in main
    assert 'user                   = "10001"' in main


def test_the_lambda_image_runs_the_runtime_interface_client_on_the_inference_base() -> None:
    """AWS's python:3.11 Lambda base is Amazon Linux 2 (glibc 2.26), where the pinned numpy,
    Pillow, onnxruntime, zxing-cpp and tesserocr wheels do not install; the Lambda image is the
    inference image's Debian base with AWS's runtime interface client as its entry point."""
    import tomllib

    lambda_image = (INFRA / "docker" / "lambda.Dockerfile").read_text()
    inference_image = (INFRA / "docker" / "inference.Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)$", inference_image, re.M)
    assert base is not None and f"FROM {base.group(1)}\n" in lambda_image
    assert "public.ecr.aws/lambda" not in lambda_image
    assert 'ENTRYPOINT ["python", "-m", "awslambdaric"]' in lambda_image
    # The project's wheel, compiled (setup.py's FRAUD_PIPELINE_COMPILE) in a build stage with gcc,
    # installed with the OCR and runtime-client extras; the image checks it loads compiled.
    assert "FRAUD_PIPELINE_COMPILE=1 pip wheel" in lambda_image
    assert 'fraud_pipeline-*.whl)[ocr,lambda]"' in lambda_image
    assert "build() == 'compiled'" in lambda_image
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(pin.startswith("awslambdaric==") for pin in extras["lambda"])
