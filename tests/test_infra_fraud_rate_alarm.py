"""The infra `fraud_rate_spike` alarm is derived from the detection policy's rate-jump rule: the
committed settings equal the generator's output for the project's policy, Terraform takes every
setting from them (no literal of its own), and the metric it watches says "jumped" exactly when
the policy's rule does."""

from __future__ import annotations

import json
import re

import pytest

from fraud_pipeline.metrics import open_metrics
from fraud_pipeline.metrics.base import MetricPoint
from fraud_pipeline.orchestration.health import FraudRate
from fraud_pipeline.orchestration.monitoring import publish_rate_jump
from fraud_pipeline.policy.alarm import (
    FRAUD_RATE_JUMP_METRIC,
    HEARTBEAT_METRIC,
    fraud_rate_alarm,
    fraud_rate_alarm_json,
)
from fraud_pipeline.policy.source import load_default_policy
from fraud_pipeline.settings import Settings
from tests.infra_fixtures import ENVCOMMON, ENVS, LIVE, MODULES, load_hcl

ALARM_FILE = "fraud_rate_alarm.json"


@pytest.mark.parametrize("env", ENVS)
def test_committed_alarm_equals_generated_from_policy(env: str) -> None:
    rule = load_default_policy().spec.fraud_rate_jump
    committed = (LIVE / env / "cloudwatch" / ALARM_FILE).read_text(encoding="utf-8")
    assert committed == fraud_rate_alarm_json(rule), (
        f"the policy's fraud_rate_jump changed; regenerate: python -m fraud_pipeline.policy.alarm "
        f"--output infra/live/{env}/cloudwatch/{ALARM_FILE}"
    )
    settings = json.loads(committed)
    assert settings["rule"] == rule.model_dump()
    assert settings["period"] == rule.stream_recent_s


def test_a_policy_change_makes_the_committed_file_stale() -> None:
    rule = load_default_policy().spec.fraud_rate_jump
    committed = (LIVE / "dev" / "cloudwatch" / ALARM_FILE).read_text(encoding="utf-8")
    for change in ({"factor": rule.factor + 1}, {"min_posts": rule.min_posts + 1}, {"stream_recent_s": 600}):
        assert fraud_rate_alarm_json(rule.model_copy(update=change)) != committed, change


def _alarm_resource(name: str = "fraud_rate_spike") -> dict[str, object]:
    main = load_hcl(MODULES / "cloudwatch" / "main.tf")
    for block in main["resource"]:
        alarms = block.get("aws_cloudwatch_metric_alarm", {})
        if name in alarms:
            return dict(alarms[name])
    raise AssertionError(f"no {name} alarm in the cloudwatch module")


def test_a_stopped_sensor_raises_its_own_alarm() -> None:
    """Fraud-Rate-Jump has no point when the stream is quiet, so its alarm cannot tell a stopped
    sensor; the heartbeat's alarm treats missing data as breaching, on the same period."""
    alarm = _alarm_resource("stream_health_stopped")
    generated = fraud_rate_alarm(load_default_policy().spec.fraud_rate_jump)
    assert generated["heartbeat_metric_name"] == HEARTBEAT_METRIC
    assert alarm["metric_name"] == "${var.fraud_rate_alarm.heartbeat_metric_name}"
    assert alarm["evaluation_periods"] == "${var.fraud_rate_alarm.heartbeat_evaluation_periods}"
    assert alarm["period"] == "${var.fraud_rate_alarm.period}"
    assert alarm["treat_missing_data"] == "breaching"
    assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == (
        "SampleCount",
        "LessThanThreshold",
        1,
    )


def test_terraform_takes_every_setting_from_the_generated_file() -> None:
    alarm = _alarm_resource()
    generated = fraud_rate_alarm(load_default_policy().spec.fraud_rate_jump)
    keys = ("metric_name", "statistic", "period", "evaluation_periods", "threshold", "comparison_operator")
    for key in keys:
        assert alarm[key] == f"${{var.fraud_rate_alarm.{key}}}", key
        assert key in generated
    assert alarm["alarm_description"] == "${var.fraud_rate_alarm.description}"
    assert alarm["namespace"] == "${var.metric_namespace}"
    assert "metric_query" not in alarm  # no metric math with its own literals
    variables = (MODULES / "cloudwatch" / "variables.tf").read_text(encoding="utf-8")
    declared = re.search(r'variable "fraud_rate_alarm" \{.*?object\(\{(.*?)\}\)', variables, re.S)
    assert declared is not None
    assert set(re.findall(r"^\s*(\w+)\s*=", declared.group(1), re.M)) == set(generated) - {"rule"}


def test_every_environment_feeds_the_module_its_committed_file() -> None:
    shared = (ENVCOMMON / "cloudwatch.hcl").read_text(encoding="utf-8")
    reads = 'jsondecode(file("${get_terragrunt_dir()}/fraud_rate_alarm.json"))'
    assert re.search(r"^\s*fraud_rate_alarm\s*=\s*" + re.escape(reads) + "$", shared, re.M)
    for env in ENVS:
        assert (LIVE / env / "cloudwatch" / ALARM_FILE).is_file()


@pytest.mark.parametrize(
    ("recent", "trailing", "posts"),
    [
        (0.5, 0.05, 400),  # jumped: above both bars
        (0.19, 0.05, 400),  # above 3x trailing (0.15) but not trailing + 0.15 (0.2)
        (0.2, 0.05, 400),  # exactly on the bar: not a jump
        (0.31, 0.1, 400),  # above both (0.3 and 0.25)
        (0.29, 0.1, 400),  # above trailing + 0.15 but not 3x
        (0.9, 0.0, 400),  # no fraud before
        (0.9, 0.05, 49),  # too few posts: not judged
        (0.9, None, 400),  # no trailing data: not judged
    ],
)
def test_published_metric_breaches_exactly_when_the_rule_fires(
    recent: float, trailing: float | None, posts: int, local_settings: Settings
) -> None:
    rule = load_default_policy().spec.fraud_rate_jump
    alarm = fraud_rate_alarm(rule)
    rate = FraudRate(
        recent_posts=posts, recent_rate=recent, trailing_rate=trailing, posts_per_s=1.0, rule=rule
    )
    now_ms = 1_700_000_000_000
    metrics = open_metrics(local_settings)
    try:
        published = publish_rate_jump(metrics, local_settings.metric_namespace, rate, now_ms)

        def last_period(metric: str, stat: str) -> list[MetricPoint]:
            """The alarm's view of `metric`: one period ending now, at this statistic."""
            start = now_ms - alarm["period"] * 1000
            namespace = local_settings.metric_namespace
            return metrics.query(namespace, metric, start, now_ms + 1000, period_s=alarm["period"], stat=stat)

        heartbeats = last_period(HEARTBEAT_METRIC, "SampleCount")
        points = last_period(FRAUD_RATE_JUMP_METRIC, alarm["statistic"])
    finally:
        metrics.close()
    judged = posts >= rule.min_posts and trailing is not None
    assert [p.value for p in heartbeats] == [1.0]  # a heartbeat at every reading, judged or not
    assert published == judged
    assert len(points) == (1 if judged else 0)
    breaching = any(p.value > alarm["threshold"] for p in points)
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    assert breaching == rate.jumped
