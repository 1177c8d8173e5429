"""CI workflows: tests on every push; deploy, destroy and image builds are manual and use OIDC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_tests_run_on_every_push() -> None:
    workflow = _load("tests.yml")
    assert "push" in workflow["on"] and workflow["on"]["push"] is None  # no branch filter
    steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["test"]["steps"])
    assert "pytest" in steps


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml", "images.yml"])
def test_manual_and_oidc(name: str) -> None:
    workflow = _load(name)
    assert set(workflow["on"]) == {"workflow_dispatch"}
    assert workflow["permissions"]["id-token"] == "write"
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    assert "mask-aws-account-id: true" in text


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml"])
def test_terraform_output_is_redacted(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert "redact" in text and "> " in text, "terraform output must go to a file, not the log"


def test_destroy_requires_confirmation() -> None:
    workflow = _load("destroy.yml")
    assert workflow["jobs"]["destroy"]["if"] == "inputs.confirm == inputs.environment"
