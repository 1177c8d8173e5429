"""Helpers for the infrastructure tests: parse HCL, list modules and live components, resolve references.

No Terraform provider or cloud is reachable here, so the tests check what can be checked statically:
files parse, modules and their callers agree, and the names and schema match the Python side.
A live component (`live/<env>/<component>/terragrunt.hcl`) only includes the root config and
`live/_envcommon/<component>.hcl`; `component_config` merges the two the way Terragrunt does, so the
tests see the module source, dependencies and inputs each environment really gets.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
LIVE = INFRA / "live"
ENVCOMMON = LIVE / "_envcommon"
ENVS = ("dev", "prod")

# How a component includes the root config and its shared config (Gruntwork's `_envcommon` layout).
ROOT_INCLUDE_PATH = "${find_in_parent_folders()}"
ENVCOMMON_INCLUDE_PATH = "${dirname(find_in_parent_folders())}/_envcommon/%s.hcl"
# Dependency paths in _envcommon are anchored at the including component's folder.
TERRAGRUNT_DIR = "${get_terragrunt_dir()}/"

_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True)
_REFERENCE = re.compile(
    r"^\$\{(local\.env\.[A-Za-z0-9_.]+|dependency\.[A-Za-z0-9_]+\.outputs\.[A-Za-z0-9_]+)\}$"
)
_MOCKS = re.compile(r"^\$\{local\.mocks\.([A-Za-z0-9_]+)\}$")
_SETTINGS_ENVIRONMENT = re.compile(
    r'^\$\{merge\(\{for (\w+), (\w+) in local\.env\.names : "FRAUD_PIPELINE_\$\{upper\(\1\)\}" => \2\}, '
    r"(\{.*\})\)\}$"
)
_VAR_USE = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"(^|\s)(#|//)[^\n]*", re.MULTILINE)


@cache
def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


def module_names() -> list[str]:
    return sorted(p.name for p in MODULES.iterdir() if p.is_dir())


def module_variables(module: str) -> set[str]:
    declared: set[str] = set()
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("variable", []):
            declared |= set(block)
    return declared


def module_variable_defaults(module: str) -> dict[str, bool]:
    """Variable name -> whether it has a default (False: a caller must pass it)."""
    result: dict[str, bool] = {}
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("variable", []):
            for name, body in block.items():
                result[name] = "default" in body
    return result


def module_variable_uses(module: str) -> set[str]:
    used: set[str] = set()
    for tf in (MODULES / module).glob("*.tf"):
        text = _COMMENT.sub("", tf.read_text(encoding="utf-8"))
        used |= set(_VAR_USE.findall(text))
    return used


def module_outputs(module: str) -> set[str]:
    outputs: set[str] = set()
    for tf in (MODULES / module).glob("*.tf"):
        for block in load_hcl(tf).get("output", []):
            outputs |= set(block)
    return outputs


def components(env: str) -> list[Path]:
    return sorted(p.parent for p in (LIVE / env).glob("*/terragrunt.hcl"))


def env_locals(env: str) -> dict[str, Any]:
    return load_hcl(LIVE / env / "env.hcl")["locals"][0]


def envcommon_names() -> list[str]:
    return sorted(p.stem for p in ENVCOMMON.glob("*.hcl"))


def mock_outputs() -> dict[str, Any]:
    """live/mock_outputs.hcl: component folder -> the stand-in outputs its dependents plan with."""
    return {
        k: v for k, v in load_hcl(LIVE / "mock_outputs.hcl")["locals"][0].items() if not k.startswith("__")
    }


def includes(component: Path) -> dict[str, dict[str, Any]]:
    """Label -> body of the `include` blocks of a component's own terragrunt.hcl."""
    result: dict[str, dict[str, Any]] = {}
    for block in load_hcl(component / "terragrunt.hcl").get("include", []):
        result |= block
    return result


def component_config(component: Path) -> dict[str, Any]:
    """The component's config as Terragrunt evaluates it: the `_envcommon` file its `envcommon` include names,
    shallow-merged with the component's own file (the child wins per top-level key, `dependency` blocks per
    label; `locals` are never merged, so the shared file's own locals stay), dependency paths made relative
    to the component and `local.mocks.<x>` replaced by live/mock_outputs.hcl's values."""
    child = load_hcl(component / "terragrunt.hcl")
    path = includes(component)["envcommon"]["path"]
    shared_file = ENVCOMMON / f"{component.name}.hcl"
    assert path == ENVCOMMON_INCLUDE_PATH % component.name, f"{component}: includes {path}"
    config = {k: v for k, v in load_hcl(shared_file).items() if k != "__comments__"}
    deps = dependencies(config)
    for key, value in child.items():
        if key == "dependency":
            deps |= dependencies(child)
        elif key not in {"include", "locals", "__comments__"}:
            config[key] = value
    mocks = mock_outputs()
    resolved: dict[str, dict[str, Any]] = {}
    for name, block in deps.items():
        block = dict(block)
        config_path = block["config_path"]
        assert config_path.startswith(TERRAGRUNT_DIR), (
            f"{shared_file.name}: dependency {name} path must start with {TERRAGRUNT_DIR}"
        )
        block["config_path"] = config_path.removeprefix(TERRAGRUNT_DIR)
        for attribute in ("mock_outputs", "mock_outputs_allowed_terraform_commands"):
            match = _MOCKS.match(str(block.get(attribute, "")))
            if match:
                block[attribute] = mocks[match.group(1)]
        resolved[name] = block
    if resolved:
        config["dependency"] = [{name: block} for name, block in resolved.items()]
    return config


def component_module(config: dict[str, Any]) -> str:
    source = config["terraform"][0]["source"]
    match = re.search(r"infra/modules//([A-Za-z0-9_]+)$", source)
    assert match, f"terraform.source must point into infra/modules//<name>: {source}"
    return match.group(1)


def dependencies(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for block in config.get("dependency", []):
        result |= block
    return result


def _get_env_item(env: dict[str, Any], dotted: str) -> Any:
    value: Any = env
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"local.env.{dotted} is not in env.hcl")
        value = value[part]
    return value


def resolve(value: Any, env: dict[str, Any], deps: dict[str, dict[str, Any]]) -> Any:
    """Replace whole-string `${local.env.x.y}` / `${dependency.d.outputs.o}` references by their values
    (env.hcl values, or the dependency's mock output). Other expressions are returned unchanged."""
    if isinstance(value, dict):
        return {k: resolve(v, env, deps) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [resolve(v, env, deps) for v in value]
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            ref = match.group(1)
            if ref.startswith("local.env."):
                return _get_env_item(env, ref.removeprefix("local.env."))
            _, dep, _, output = ref.split(".")
            return deps[dep]["mock_outputs"][output]
    return value


def environment_maps(env: str) -> dict[str, dict[str, str]]:
    """Component -> the FRAUD_PIPELINE_* environment it passes, with `merge(local.settings_environment, ..)`
    expanded and references resolved."""
    env_values = env_locals(env)
    result: dict[str, dict[str, str]] = {}
    for component in components(env):
        config = component_config(component)
        environment = config.get("inputs", {}).get("environment")
        if environment is None:
            continue
        locals_block = config["locals"][0]
        base = settings_environment(locals_block.get("settings_environment", {}), env_values)
        merged: dict[str, Any] = {}
        if isinstance(environment, str) and environment.startswith("${merge(local.settings_environment"):
            merged |= base
            merged |= _inline_map(environment)
        elif isinstance(environment, dict):
            merged |= environment
        else:
            raise AssertionError(
                f"{component}: environment must be a map or merge(local.settings_environment, {{...}})"
            )
        deps = dependencies(config)
        result[component.name] = {
            k: str(resolve(v, env_values, deps)) for k, v in merged.items() if k != "__is_block__"
        }
    return result


def settings_environment(expression: Any, env: dict[str, Any]) -> dict[str, Any]:
    """Evaluate `local.settings_environment`: a literal map, or the one shape _envcommon uses,
    `merge({for field, name in local.env.names : "FRAUD_PIPELINE_${upper(field)}" => name}, {...})`."""
    if isinstance(expression, dict):
        return {k: v for k, v in expression.items() if not k.startswith("__")}
    match = _SETTINGS_ENVIRONMENT.match(expression)
    assert match, f"settings_environment has an unexpected form: {expression}"
    from_names = {f"FRAUD_PIPELINE_{field.upper()}": name for field, name in env["names"].items()}
    return from_names | _literal_map(match.group(3))


def _literal_map(expression: str) -> dict[str, str]:
    """Entries of a one-line literal map `{A = "x", B = local.env.y}` (references kept as `${...}`)."""
    entries: dict[str, str] = {}
    for match in re.finditer(r"([A-Z][A-Z0-9_]*)\s*=\s*(\"[^\"]*\"|[A-Za-z0-9_.]+)", expression):
        key, raw = match.groups()
        entries[key] = raw.strip('"') if raw.startswith('"') else "${" + raw + "}"
    return entries


def _inline_map(expression: str) -> dict[str, str]:
    """Entries of the literal map in `${merge(local.settings_environment, {A = "x", B = local.env.y})}`."""
    return _literal_map(expression.split("local.settings_environment", 1)[1])
