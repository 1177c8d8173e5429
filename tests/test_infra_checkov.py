"""Static security and lint gates: checkov over infra/ and hadolint over the Dockerfiles, each in the
isolated tools venv (.venv-checkov) that infra/scripts/infra_tools_venv.sh creates."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.infra_fixtures import INFRA

SCRIPTS = INFRA / "scripts"


def test_every_skipped_check_has_a_reason() -> None:
    config_file = INFRA / ".checkov.yaml"
    skips = yaml.safe_load(config_file.read_text())["skip-check"]
    assert skips, "no skips: drop this test's expectation of a reason per skip"
    lines = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s*-\s*(CKV\w+)\s*#\s*(.+)$", config_file.read_text(), re.M)
    }
    for check in skips:
        assert len(lines.get(check, "")) > 20, f"{check} is skipped without a reason"


def test_checkov_passes() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPTS / "checkov.sh")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    match = re.search(r"Passed checks: (\d+), Failed checks: (\d+)", result.stdout)
    assert match and int(match.group(1)) > 100 and int(match.group(2)) == 0, result.stdout[-3000:]


def test_hadolint_passes() -> None:
    dockerfiles = sorted((INFRA / "docker").glob("*.Dockerfile"))
    assert {p.name for p in dockerfiles} == {
        "lambda.Dockerfile",
        "ingest.Dockerfile",
        "dagster.Dockerfile",
        "inference.Dockerfile",
    }
    result = subprocess.run(
        ["bash", str(SCRIPTS / "hadolint.sh")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfiles_copy_existing_sources_and_drop_root() -> None:
    root = INFRA.parent
    for dockerfile in (INFRA / "docker").glob("*.Dockerfile"):
        text = dockerfile.read_text()
        for line in re.findall(r"^COPY\s+(.+)$", text, re.M):
            if line.startswith("--from="):  # from an earlier build stage, not the repository
                continue
            for source in line.split()[:-1]:
                assert (root / source).exists(), f"{dockerfile.name}: COPY source {source} missing"
        assert "pip install" in text and "fraud_pipeline" in text, (
            f"{dockerfile.name} must install the project"
        )
        if not dockerfile.name.startswith("lambda"):  # Lambda runs functions as a non-root user itself
            assert re.search(r"^USER 10001$", text, re.M), f"{dockerfile.name} runs as root"
