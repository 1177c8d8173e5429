"""Terraform modules: every file parses, is formatted, and declares exactly the variables it uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra_fixtures import (
    INFRA,
    MODULES,
    ROOT,
    load_hcl,
    module_names,
    module_variable_uses,
    module_variables,
)

REQUIRED_MODULES = {
    "vpc",
    "kinesis_stream",
    "kinesis_firehose",
    "lambda",
    "ecs_service",
    "ecr",
    "s3",
    "glue",
    "dynamodb",
    "sagemaker_endpoint",
    "cloudwatch",
    "dagster",
}


def test_every_required_module_exists() -> None:
    assert set(module_names()) >= REQUIRED_MODULES


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.tf")) + sorted(INFRA.rglob("*.hcl")), ids=str)
def test_file_parses(path: Path) -> None:
    parsed = load_hcl(path)
    assert isinstance(parsed, dict) and parsed, f"{path} parsed to nothing"


@pytest.mark.parametrize("module", module_names())
def test_variables_declared_and_used(module: str) -> None:
    declared, used = module_variables(module), module_variable_uses(module)
    assert used - declared == set(), f"{module}: used but not declared"
    assert declared - used == set(), f"{module}: declared but never used"


@pytest.mark.parametrize("module", module_names())
def test_module_pins_provider_and_documents_variables(module: str) -> None:
    versions = load_hcl(MODULES / module / "versions.tf")["terraform"][0]
    assert "aws" in versions["required_providers"][0]
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("variable", []) + load_hcl(tf).get("output", []):
            for name, body in block.items():
                assert body.get("description"), f"{module}: {name} has no description"


def test_terraform_fmt_check() -> None:
    terraform = shutil.which("terraform") or str(ROOT / ".venv" / "bin" / "terraform")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_real_account_ids_or_arns() -> None:
    """Only the obviously fake account 000000000000 may appear anywhere under infra/ and the workflows."""
    import re

    account = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
    files = [
        p
        for p in INFRA.rglob("*")
        if p.is_file() and p.suffix in {".tf", ".hcl", ".json", ".yaml", ".yml", ".md"}
    ]
    files += list((ROOT / ".github" / "workflows").glob("*.yml"))
    for path in files:
        for match in account.findall(path.read_text(encoding="utf-8")):
            assert match == "000000000000", f"{path}: looks like an account id: {match}"


def _blocks(module: str, kind: str) -> dict[str, dict[str, Any]]:
    """Module calls (`kind="module"`) or resources of one type, name -> body, across a module's files."""
    found: dict[str, dict[str, Any]] = {}
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("module" if kind == "module" else "resource", []):
            found |= block if kind == "module" else block.get(kind, {})
    return found


@pytest.mark.parametrize("module", ["ecs_service", "dagster"])
def test_ecs_execution_and_task_roles_differ(module: str) -> None:
    """What checkov's CKV_AWS_249 checks (skipped: it resolves both iam_role instances to one address)."""
    calls = _blocks(module, "module")
    for definition in _blocks(module, "aws_ecs_task_definition").values():
        assert definition["execution_role_arn"] == "${module.execution_role.arn}"
        assert definition["task_role_arn"] == "${module.task_role.arn}"
    execution, task = calls["execution_role"], calls["task_role"]
    assert execution["source"] == task["source"] == "../iam_role"
    assert execution["name"] != task["name"] and execution["policy_json"] != task["policy_json"]


@pytest.mark.parametrize("module", [m for m in module_names() if (MODULES / m / "moved.tf").is_file()])
def test_moved_blocks_point_from_gone_resources_to_module_calls(module: str) -> None:
    """State written before a refactor is re-addressed, never replaced: every `moved` leaves a resource
    this module no longer declares for a resource of a module call it does declare."""
    calls = _blocks(module, "module")
    for block in load_hcl(MODULES / module / "moved.tf")["moved"]:
        source_type, source_name = block["from"].strip("${}").split(".")
        assert source_name not in _blocks(module, source_type), f"{module}: {block['from']} still declared"
        _, call, target_type, target = block["to"].strip("${}").split(".", 3)
        assert call in calls, f"{module}: moved to undeclared module {call}"
        target_module = calls[call]["source"].removeprefix("../")
        assert target.split("[")[0] in _blocks(target_module, target_type), (
            f"{module}: {block['to']} is not a resource of modules/{target_module}"
        )
