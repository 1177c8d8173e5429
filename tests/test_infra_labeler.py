"""The labeler's infrastructure, read statically: public HTTPS only, the key in Secrets Manager, the
label store in Dagster's Postgres, one worker, alarms on lag and rate, names equal the settings."""

from __future__ import annotations

from typing import Any

import pytest

from fraud_pipeline.settings import Settings
from tests.infra_fixtures import ENVS, MODULES, env_locals, load_hcl

MODULE = MODULES / "labeler"


def _resources() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in load_hcl(MODULE / "main.tf").get("resource", []):
        for kind, named in block.items():
            for name, body in named.items():
                found[f"{kind}.{name}"] = body
    return found


def test_the_load_balancer_is_public_https_only_behind_waf() -> None:
    resources = _resources()
    lb = resources["aws_lb.this"]
    assert lb["internal"] is False and lb["drop_invalid_header_fields"] is True
    listeners = [body for key, body in resources.items() if key.startswith("aws_lb_listener.")]
    assert [(body["port"], body["protocol"]) for body in listeners] == [(443, "HTTPS")]
    assert listeners[0]["certificate_arn"] == "${var.certificate_arn}"
    assert listeners[0]["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    ingress = [
        body for key, body in resources.items() if key.startswith("aws_vpc_security_group_ingress_rule.")
    ]
    public = [rule for rule in ingress if rule.get("cidr_ipv4") == "0.0.0.0/0"]
    assert [(rule["from_port"], rule["to_port"]) for rule in public] == [(443, 443)]
    assert resources["aws_wafv2_web_acl_association.this"]["resource_arn"] == "${aws_lb.this.arn}"
    health = resources["aws_lb_target_group.service"]["health_check"][0]
    assert health["path"] == "/xrpc/_health"  # served by fraud_pipeline.labeler.server


def test_signing_key_is_a_kms_encrypted_secret_only_the_worker_writes() -> None:
    resources = _resources()
    secret = resources["aws_secretsmanager_secret.signing_key"]
    assert secret["kms_key_id"] == "${var.kms_key_arn}"
    documents: dict[str, Any] = {}
    for block in load_hcl(MODULE / "main.tf").get("data", []):
        documents |= block.get("aws_iam_policy_document", {})
    granting = {
        name
        for name, document in documents.items()
        for statement in document.get("statement", [])
        if "${aws_secretsmanager_secret.signing_key.arn}" in statement["resources"]
    }
    assert granting == {"worker"}


def test_one_worker_and_the_service_commands_match_the_cli() -> None:
    resources = _resources()
    worker = resources["aws_ecs_service.worker"]
    assert worker["desired_count"] == 1 and worker["deployment_maximum_percent"] == 100
    main_tf = (MODULE / "main.tf").read_text()
    assert '["labels", "work", "--backend", "aws"]' in main_tf
    assert '["labeler", "--host", "0.0.0.0", "--port"' in main_tf
    from fraud_pipeline.cli import COMMANDS

    assert {"labeler", "labels"} <= set(COMMANDS)


def test_alarms_watch_lag_rate_and_health_on_the_workers_metric_names() -> None:
    from fraud_pipeline.labeler.worker import LABELER_METRICS

    alarms = {
        key: body for key, body in _resources().items() if key.startswith("aws_cloudwatch_metric_alarm.")
    }
    by_metric = {body["metric_name"]: body for body in alarms.values()}
    assert by_metric["Labels-Stream-Lag-Ms"]["treat_missing_data"] == "breaching"  # a dead worker alarms
    assert "Labels-Published" in by_metric and "HealthyHostCount" in by_metric
    assert {"Labels-Stream-Lag-Ms", "Labels-Published"} <= set(LABELER_METRICS)


@pytest.mark.parametrize("env", ENVS)
def test_names_equal_the_settings(env: str) -> None:
    values = env_locals(env)
    settings = Settings(env=env)
    assert values["labeler_service"] == settings.labeler_service
    common = (MODULES.parent / "live" / "_envcommon" / "labeler.hcl").read_text()
    assert 'signing_key_secret_name = "${local.env.prefix}-labeler-signing-key"' in common
    assert settings.labeler_key_secret == f"{values['prefix']}-labeler-signing-key"
    assert values["labeler_max_lag_s"] == settings.max_consumer_lag_s
