"""Terragrunt live configs: every environment runs the shared `_envcommon` components and differs only in
env.hcl, names match the settings module, modules get exactly the inputs they take, dependencies have mock
outputs for a plan on a fresh account, and the environment variables Terraform sets are the ones the code
reads."""

from __future__ import annotations

import json
import re

import pytest

from fraud_pipeline.dashboard.widgets import dashboard_json, resource_names
from fraud_pipeline.serving.commands import serve
from fraud_pipeline.settings import Settings, env_var_names, load_settings
from tests.infra_fixtures import (
    ENVCOMMON,
    ENVCOMMON_INCLUDE_PATH,
    ENVS,
    LIVE,
    MODULES,
    ROOT_INCLUDE_PATH,
    component_config,
    component_module,
    components,
    dependencies,
    env_locals,
    envcommon_names,
    environment_maps,
    includes,
    load_hcl,
    mock_outputs,
    module_outputs,
    module_variable_defaults,
)

# Variables Lambda or ECS set themselves are not ours to set; none is passed today. Listed here so
# adding one is a deliberate, reviewed change.
AWS_RESERVED_ENV_VARS: frozenset[str] = frozenset()


def test_root_config_has_locked_remote_state_and_default_tags() -> None:
    root = load_hcl(LIVE / "terragrunt.hcl")
    state = root["remote_state"][0]
    assert state["backend"] == "s3"
    assert state["config"]["encrypt"] is True
    assert "dynamodb_table" in state["config"]
    provider = root["generate"][0]["provider"]
    assert "default_tags" in provider["contents"]


@pytest.mark.parametrize("env", ENVS)
def test_env_names_equal_settings_defaults(env: str) -> None:
    values = env_locals(env)
    assert values["env"] == env
    assert values["prefix"] == Settings(env=env).prefix
    assert values["names"] == Settings.default_names(env)
    defaults = Settings(env=env)
    assert values["prefixes"] == {name: getattr(defaults, name) for name in values["prefixes"]}
    assert values["aws_region"] == defaults.aws_region


@pytest.mark.parametrize("env", ENVS)
def test_infra_only_names_equal_dashboard_spec(env: str) -> None:
    """The dashboard's Lambda/queue widgets and the alarms name the resources Terraform creates."""
    values = env_locals(env)
    names = resource_names(Settings(env=env))
    assert values["scoring_function"] == names["scoring_function"]
    assert values["scoring_dlq"] == names["scoring_dlq"]


@pytest.mark.parametrize("env", ENVS)
def test_environment_runs_exactly_the_shared_components(env: str) -> None:
    """Each component folder only includes the root config and its `_envcommon` file: anything that differs
    between environments is a value in env.hcl, so nothing can diverge silently in one environment."""
    assert [p.name for p in components(env)] == envcommon_names()
    for component in components(env):
        own = load_hcl(component / "terragrunt.hcl")
        assert set(own) - {"__comments__"} == {"include"}, (
            f"{component}: only includes; put environment-specific values in {env}/env.hcl"
        )
        found = includes(component)
        assert set(found) == {"root", "envcommon"}, f"{component}: includes {sorted(found)}"
        assert found["root"]["path"] == ROOT_INCLUDE_PATH
        assert found["envcommon"] == {
            "path": ENVCOMMON_INCLUDE_PATH % component.name,
            "expose": True,
            "__is_block__": True,
        }
        # Terragrunt copies the folder into the module's working directory: only the files the shared
        # config reads from it (`${get_terragrunt_dir()}/<file>`) may sit beside terragrunt.hcl.
        shared_text = (ENVCOMMON / f"{component.name}.hcl").read_text(encoding="utf-8")
        read_here = set(re.findall(r"\$\{get_terragrunt_dir\(\)\}/([A-Za-z0-9_.-]+)\"", shared_text))
        assert {p.name for p in component.iterdir()} == {"terragrunt.hcl"} | read_here, component
    assert {p.name for p in (LIVE / env).iterdir() if p.is_file()} == {"env.hcl"}


def test_environments_set_the_same_values() -> None:
    """A value added to one env.hcl and forgotten in the other fails here, not at deploy time."""
    dev, prod = env_locals("dev"), env_locals("prod")
    assert set(dev) == set(prod)
    for key in ("names", "prefixes"):
        assert set(dev[key]) == set(prod[key]), key


@pytest.mark.parametrize("name", envcommon_names())
def test_shared_config_is_complete_and_includes_nothing(name: str) -> None:
    """Terragrunt allows one level of include; state and provider come from the root config only."""
    shared = load_hcl(ENVCOMMON / f"{name}.hcl")
    assert not {"include", "remote_state", "generate"} & set(shared), f"_envcommon/{name}.hcl"
    assert {"terraform", "inputs"} <= set(shared)
    assert shared["locals"][0]["env"] == '${read_terragrunt_config(find_in_parent_folders("env.hcl")).locals}'
    for block in dependencies(shared).values():
        assert block["mock_outputs"].startswith("${local.mocks."), f"{name}: mocks live in mock_outputs.hcl"


def test_mock_outputs_are_real_outputs_of_their_component() -> None:
    mocks = mock_outputs()
    assert mocks.pop("allowed_commands") == ["init", "validate", "plan"]
    for name, outputs in mocks.items():
        module = component_module(component_config(LIVE / "dev" / name))
        assert set(outputs) <= module_outputs(module), f"mock_outputs.{name}: not outputs of {module}"


@pytest.mark.parametrize(
    "component", components("dev") + components("prod"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_component_points_to_module_with_its_inputs(component) -> None:  # type: ignore[no-untyped-def]
    config = component_config(component)
    module = component_module(config)
    assert (MODULES / module).is_dir(), f"{component}: module {module} does not exist"
    assert includes(component)["root"]["path"] == ROOT_INCLUDE_PATH
    variables = module_variable_defaults(module)
    inputs = set(config.get("inputs", {})) - {"__is_block__"}
    assert inputs - set(variables) == set(), f"{component}: inputs the module does not declare"
    required = {name for name, has_default in variables.items() if not has_default}
    assert required - inputs == set(), f"{component}: required module variables not given"


@pytest.mark.parametrize("component", components("dev"), ids=lambda p: p.name)
def test_dependencies_exist_and_mock_real_outputs(component) -> None:  # type: ignore[no-untyped-def]
    config = component_config(component)
    text = (ENVCOMMON / f"{component.name}.hcl").read_text()
    for name, block in dependencies(config).items():
        target = (component / block["config_path"]).resolve()
        assert (target / "terragrunt.hcl").is_file(), f"{component.name}: dependency {name} has no config"
        target_outputs = module_outputs(component_module(component_config(target)))
        mocks = set(block["mock_outputs"]) - {"__is_block__"}
        assert mocks <= target_outputs, f"{component.name}: mocks outputs {name} does not have"
        assert "plan" in block["mock_outputs_allowed_terraform_commands"]
        used = set(re.findall(rf"dependency\.{name}\.outputs\.([A-Za-z0-9_]+)", text))
        assert used <= mocks, f"{component.name}: uses {name} outputs without mocks: {used - mocks}"


@pytest.mark.parametrize("env", ENVS)
def test_environment_variables_are_read_by_settings(env: str) -> None:
    serve_options = {str(p.envvar) for p in serve.params if p.envvar}  # the model servers' own
    known = set(env_var_names().values()) | AWS_RESERVED_ENV_VARS | serve_options
    maps = environment_maps(env)
    assert {"lambda", "ingest", "dagster"} <= set(maps)
    for component, environment in maps.items():
        assert set(environment) - known == set(), f"{component}: variables no code reads"
        if component in {"lambda", "ingest", "dagster"}:
            names = {env_var_names()[name] for name in Settings.default_names(env)}
            assert names <= set(environment), (
                f"{component}: resource names not passed: {names - set(environment)}"
            )
        # The values load into Settings whose names equal env.hcl (and so the settings defaults).
        settings = load_settings(environ=environment)
        assert settings.env == env
        if component not in {"lambda", "ingest", "dagster"}:
            continue  # the model servers only need to know their environment
        assert settings.backend == "aws"
        for name, value in Settings.default_names(env).items():
            assert getattr(settings, name) == value, f"{component}: {name}"


def test_lambda_reaches_models_on_sagemaker() -> None:
    environment = environment_maps("dev")["lambda"]
    settings = load_settings(environ=environment)
    assert settings.text_model_mode == "sagemaker" and settings.media_model_mode == "sagemaker"
    assert str(settings.home).startswith("/tmp/"), "Lambda can only write under /tmp"


@pytest.mark.parametrize("env", ENVS)
def test_lambda_reads_the_pixels_as_env_hcl_says(env: str) -> None:
    """`media_images` is set on the scoring Lambda from env.hcl (not left to the settings' default,
    which is off so tests and local tools score alt texts only), and loads into Settings as such;
    the images go to the media endpoint, whose name the Lambda is given."""
    environment = environment_maps(env)["lambda"]
    assert environment["FRAUD_PIPELINE_MEDIA_IMAGES"] == env_locals(env)["media_images"] == "on"
    settings = load_settings(environ=environment)
    assert settings.media_images == "on" and Settings().media_images == "off"
    assert (
        settings.media_model_mode == "sagemaker"
        and settings.media_endpoint == env_locals(env)["names"]["media_endpoint"]
    )


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_body_equals_generated(env: str) -> None:
    committed = (LIVE / env / "cloudwatch" / "dashboard.json").read_text(encoding="utf-8")
    assert committed == dashboard_json(load_settings(environ={}, env=env, backend="aws")), (
        f"regenerate: python -m fraud_pipeline.dashboard.widgets --env {env} "
        f"--output infra/live/{env}/cloudwatch/dashboard.json"
    )
    assert json.loads(committed)["widgets"]


def test_mock_outputs_are_obviously_fake() -> None:
    for component in components("dev"):
        for block in dependencies(component_config(component)).values():
            for value in json.dumps(block["mock_outputs"]).split('"'):
                if value.startswith("arn:"):
                    assert ":000000000000:" in value or value.startswith("arn:aws:s3:::mock"), value
