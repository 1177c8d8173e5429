"""Terraform modules: every file parses, is formatted, and declares exactly the variables it uses."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fraud_pipeline.settings import Settings
from tests.infra_fixtures import (
    ENVS,
    INFRA,
    MODULES,
    ROOT,
    component_config,
    component_module,
    components,
    dependencies,
    env_locals,
    environment_maps,
    load_hcl,
    module_names,
    module_variable_uses,
    module_variables,
    resolve,
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


# -- shared IAM statements (modules/iam_statements) ----------------------------------------------------
# The KMS, ECR-pull and PutMetricData statements each workload role had before they moved into
# modules/iam_statements, copied from the modules' policy documents as they were (module, document) ->
# statements. Rendering each document's iam_statements call must give exactly these: same sids, actions,
# resources and conditions, so the refactor changed no role's permissions.
_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
_KMS = "${var.kms_key_arn}"
_NAMESPACE_CONDITION = (("StringEquals", "cloudwatch:namespace", ("${var.metric_namespace}",)),)
_ECR_STATEMENTS = [
    ("PullImage", _PULL, ("${var.ecr_repository_arn}",), ()),
    ("EcrLogin", ("ecr:GetAuthorizationToken",), ("*",), ()),
]
_METRICS_STATEMENT = ("PutOwnMetrics", ("cloudwatch:PutMetricData",), ("*",), _NAMESPACE_CONDITION)
SHARED_STATEMENTS_BEFORE: dict[tuple[str, str], list[tuple[str, tuple[str, ...], tuple[str, ...], tuple]]] = {
    ("lambda", "this"): [
        ("UseEnvironmentKey", ("kms:Decrypt", "kms:GenerateDataKey"), (_KMS,), ()),
        _METRICS_STATEMENT,
    ],
    ("ecs_service", "execution"): [*_ECR_STATEMENTS, ("DecryptImageLayers", ("kms:Decrypt",), (_KMS,), ())],
    ("ecs_service", "task"): [
        ("UseEnvironmentKey", ("kms:GenerateDataKey", "kms:Decrypt"), (_KMS,), ()),
        _METRICS_STATEMENT,
    ],
    ("dagster", "execution"): [*_ECR_STATEMENTS, ("DecryptSecretAndImages", ("kms:Decrypt",), (_KMS,), ())],
    ("dagster", "task"): [
        ("UseEnvironmentKey", ("kms:Decrypt", "kms:GenerateDataKey"), (_KMS,), ()),
        _METRICS_STATEMENT,
    ],
    ("sagemaker_endpoint", "this"): [
        *_ECR_STATEMENTS,
        ("UseEnvironmentKey", ("kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"), (_KMS,), ()),
    ],
    ("kinesis_firehose", "this"): [
        ("UseEnvironmentKey", ("kms:Decrypt", "kms:GenerateDataKey"), (_KMS,), ())
    ],
    ("labeler", "execution"): [
        *_ECR_STATEMENTS,
        ("DecryptImageLayersAndSecrets", ("kms:Decrypt",), (_KMS,), ()),
    ],
    ("labeler", "worker"): [
        ("UseEnvironmentKey", ("kms:GenerateDataKey", "kms:Decrypt"), (_KMS,), ()),
        _METRICS_STATEMENT,
    ],
    ("labeler", "service"): [_METRICS_STATEMENT],
}
SHARED_MODULE = "iam_statements"
_FOR_EACH_FLAG = re.compile(r"^\$\{var\.(\w+) \? \[(.+)\] : \[\]\}$")
_VAR = re.compile(r"^\$\{var\.(\w+)\}$")


def _policy_documents(module: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("data", []):
            found |= block.get("aws_iam_policy_document", {})
    return found


def _is_shared_action(action: str) -> bool:
    return action.startswith(("kms:", "ecr:")) or action == "cloudwatch:PutMetricData"


def _normalise(statement: dict[str, Any]) -> tuple[str, frozenset[str], tuple[str, ...], tuple]:
    """(sid, actions, resources, conditions): actions as a set (the data source sorts them)."""
    conditions = tuple(
        sorted((c["test"], c["variable"], tuple(c["values"])) for c in statement.get("condition", []))
    )
    return (
        statement["sid"],
        frozenset(statement["actions"]),
        tuple(sorted(statement["resources"])),
        conditions,
    )


def _render_shared(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements modules/iam_statements emits for one call: each `dynamic "statement"` whose flag
    is on, with `var.x` replaced by the call's input (or the variable's default). Any expression this does
    not understand fails the test rather than being skipped."""
    defaults: dict[str, Any] = {}
    for tf in (MODULES / SHARED_MODULE).glob("*.tf"):
        for block in load_hcl(tf).get("variable", []):
            defaults |= {name: body.get("default") for name, body in block.items()}
    unknown = set(inputs) - {"source"} - set(defaults)
    assert not unknown, f"inputs the shared module does not declare: {unknown}"
    values = defaults | inputs

    def substitute(value: Any) -> Any:
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if isinstance(value, str) and "${" in value:
            match = _VAR.match(value)
            assert match, f"iam_statements: unexpected expression {value}"
            return values[match.group(1)]
        return value

    document = _policy_documents(SHARED_MODULE)["this"]
    assert "statement" not in document, "iam_statements: every statement must be behind a flag"
    rendered: list[dict[str, Any]] = []
    for dynamic in document["dynamic"]:
        body = dynamic["statement"]
        match = _FOR_EACH_FLAG.match(body["for_each"])
        assert match, f"iam_statements: unexpected for_each {body['for_each']}"
        flag, item = match.groups()
        if not values[flag]:
            continue
        sid = substitute("${" + item + "}") if item.startswith("var.") else item.strip('"')
        content = body["content"][0]
        assert content["sid"] == "${statement.value}"
        statement = {
            "sid": sid,
            "actions": substitute(content["actions"]),
            "resources": substitute(content["resources"]),
            "condition": [
                {key: substitute(c[key]) for key in ("test", "variable", "values")}
                for c in content.get("condition", [])
            ],
        }
        rendered.append(statement)
    return rendered


def _shared_call(module: str, document: dict[str, Any]) -> dict[str, Any]:
    sources = document.get("source_policy_documents")
    assert sources and len(sources) == 1, f"{module}: merge exactly one iam_statements document"
    match = re.fullmatch(r"\$\{module\.(\w+)\.json\}", sources[0])
    assert match, f"{module}: source_policy_documents must be [module.<call>.json], got {sources}"
    call = _blocks(module, "module")[match.group(1)]
    assert call["source"] == f"../{SHARED_MODULE}"
    return {k: v for k, v in call.items() if k != "__is_block__"}


def test_shared_statements_are_written_only_in_iam_statements() -> None:
    """No module's own policy statements grant KMS, ECR or PutMetricData: the shared module does."""
    for module in module_names():
        if module == SHARED_MODULE:
            continue
        for name, document in _policy_documents(module).items():
            for statement in document.get("statement", []) + [
                d["statement"]["content"][0] for d in document.get("dynamic", []) if "statement" in d
            ]:
                actions = statement.get("actions", [])
                actions = [actions] if isinstance(actions, str) else actions
                repeated = [a for a in actions if _is_shared_action(a)]
                assert not repeated, f"{module}.{name}: {repeated} belong in modules/{SHARED_MODULE}"


def test_every_role_document_merging_shared_statements_is_checked() -> None:
    merging = {
        (module, name)
        for module in module_names()
        for name, document in _policy_documents(module).items()
        if document.get("source_policy_documents")
    }
    assert merging == set(SHARED_STATEMENTS_BEFORE)


@pytest.mark.parametrize("module,document", sorted(SHARED_STATEMENTS_BEFORE), ids=lambda v: str(v))
def test_role_keeps_its_shared_statements(module: str, document: str) -> None:
    """The merged document grants exactly what the role's own KMS/ECR/metrics statements granted before."""
    body = _policy_documents(module)[document]
    rendered = _render_shared(_shared_call(module, body))
    expected = {
        (sid, frozenset(actions), tuple(sorted(resources)), conditions)
        for sid, actions, resources, conditions in SHARED_STATEMENTS_BEFORE[(module, document)]
    }
    assert {_normalise(s) for s in rendered} == expected
    # source_policy_documents needs unique sids across the merged documents.
    sids = [s["sid"] for s in rendered] + [s["sid"] for s in body.get("statement", [])]
    assert len(sids) == len(set(sids)), f"{module}.{document}: duplicate sids {sids}"
    # The document is the inline policy of one role.
    roles = [
        call
        for call in _blocks(module, "module").values()
        if call["source"] == "../iam_role"
        and call.get("policy_json") == f"${{data.aws_iam_policy_document.{document}.json}}"
    ]
    assert len(roles) == 1, f"{module}.{document} is not the policy of exactly one role"


def test_shared_statements_never_widen() -> None:
    """Only the two calls without resource-level permissions get `*`, and PutMetricData only with the
    namespace condition; KMS and ECR statements name the ARNs passed in."""
    everything = {
        "source": f"../{SHARED_MODULE}",
        "include_kms": True,
        "kms_key_arns": ["KEY"],
        "include_ecr_pull": True,
        "ecr_repository_arns": ["REPO"],
        "include_put_metrics": True,
        "metric_namespace": "NS",
    }
    rendered = {s["sid"]: s for s in _render_shared(everything)}
    assert set(rendered) == {"UseEnvironmentKey", "PullImage", "EcrLogin", "PutOwnMetrics"}
    assert rendered["UseEnvironmentKey"]["resources"] == ["KEY"]
    assert rendered["PullImage"]["resources"] == ["REPO"]
    for statement in rendered.values():
        if "*" in statement["resources"]:
            assert statement["actions"] in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"])
    assert rendered["PutOwnMetrics"]["condition"] == [
        {"test": "StringEquals", "variable": "cloudwatch:namespace", "values": ["NS"]}
    ]
    assert _render_shared({"source": f"../{SHARED_MODULE}"}) == []


@pytest.mark.parametrize("env", ENVS)
def test_roles_publish_to_the_namespace_their_code_uses(env: str) -> None:
    """Each role allowed PutMetricData is pinned to the namespace its component's container is given, which
    is fraud_pipeline.settings' metric namespace for the environment."""
    expected = Settings(env=env).metric_namespace
    assert expected == Settings.default_names(env)["metric_namespace"]
    publishing = {
        module
        for (module, document) in SHARED_STATEMENTS_BEFORE
        if _shared_call(module, _policy_documents(module)[document]).get("include_put_metrics")
    }
    assert publishing == {"lambda", "ecs_service", "dagster", "labeler"}
    containers = environment_maps(env)
    seen: set[str] = set()
    for component in components(env):
        config = component_config(component)
        module = component_module(config)
        if module not in publishing:
            continue
        seen.add(module)
        namespace = resolve(config["inputs"]["metric_namespace"], env_locals(env), dependencies(config))
        assert namespace == expected, f"{env}/{component.name}: role pinned to {namespace}"
        assert containers[component.name]["FRAUD_PIPELINE_METRIC_NAMESPACE"] == expected
    assert seen == publishing
