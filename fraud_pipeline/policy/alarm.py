"""The infra `fraud_rate_spike` alarm, derived from the detection policy's rate-jump rule.

The policy's rule (`fraud_rate_jump`: the recent rate against `max(factor x trailing,
trailing + absolute)` over at least `min_posts` posts) compares two windows of different
lengths that follow each other. A CloudWatch metric-math alarm evaluates one time series
point by point and has no trailing-window function, so the rule is not written again as
metric math with its own literals. Instead the stream-health sensor (Dagster, every minute)
judges the rule with the policy's own code and publishes `Fraud-Rate-Jump` = recent rate
minus the jump bar (> 0 means the rule fired; no point when the rule does not judge: too
few posts or no trailing data), and the alarm fires on any positive point within one
recent window. A point per reading would leave a stopped sensor looking like a quiet stream,
so every reading also publishes `Stream-Health-Heartbeat` = 1, and a second alarm fires when
it is missing for `HEARTBEAT_EVALUATION_PERIODS` periods. The alarms' settings are generated
from the policy into `infra/live/<env>/cloudwatch/fraud_rate_alarm.json` (Terraform reads it
with `jsondecode`),
and a test keeps the committed files equal to this module:

    python -m fraud_pipeline.policy.alarm --output infra/live/dev/cloudwatch/fraud_rate_alarm.json
"""

from __future__ import annotations

import json
from typing import Any

import click

from fraud_pipeline.generated_files import OUTPUT_OPTION, emit
from fraud_pipeline.metrics.base import MetricDatum
from fraud_pipeline.policy.schema import FraudRateJump

FRAUD_RATE_JUMP_METRIC = "Fraud-Rate-Jump"
HEARTBEAT_METRIC = "Stream-Health-Heartbeat"
# The sensor reads every minute; two alarm periods (10 min at the policy's 5) without one
# reading means it stopped (the daemon or its code location is down), not a slow tick.
HEARTBEAT_EVALUATION_PERIODS = 2


def jump_datum(
    rule: FraudRateJump,
    recent_rate: float | None,
    trailing_rate: float | None,
    recent_posts: float,
    now_ms: int,
) -> MetricDatum | None:
    """The `Fraud-Rate-Jump` point for one reading, or None when the rule does not judge it."""
    excess = rule.excess(recent_rate, trailing_rate, int(recent_posts))
    if excess is None:
        return None
    return MetricDatum(FRAUD_RATE_JUMP_METRIC, excess, unit="None", timestamp_ms=now_ms)


def heartbeat_datum(now_ms: int) -> MetricDatum:
    """The point each reading publishes, judged or not: its absence means the sensor stopped."""
    return MetricDatum(HEARTBEAT_METRIC, 1.0, unit="Count", timestamp_ms=now_ms)


def fraud_rate_alarm(rule: FraudRateJump) -> dict[str, Any]:
    """The alarm's settings (the cloudwatch module's `fraud_rate_alarm` variable)."""
    recent_min = rule.stream_recent_s // 60
    baseline_min = rule.stream_baseline_s // 60
    return {
        "metric_name": FRAUD_RATE_JUMP_METRIC,
        "statistic": "Maximum",
        # CloudWatch periods are multiples of 60 s; the policy keeps stream_recent_s >= 60.
        "period": max(60, rule.stream_recent_s - rule.stream_recent_s % 60),
        "evaluation_periods": 1,
        "threshold": 0,
        "comparison_operator": "GreaterThanThreshold",
        "description": (
            f"Fraud rate jumped (policy fraud_rate_jump): the last {recent_min} min above "
            f"max({rule.factor:g} x, + {rule.absolute:g}) the {baseline_min} min before, "
            f"over at least {rule.min_posts} posts; judged by the Dagster stream-health sensor."
        ),
        "rule": rule.model_dump(),
        # The stream_health_stopped alarm: no heartbeat in these periods (missing = breaching).
        "heartbeat_metric_name": HEARTBEAT_METRIC,
        "heartbeat_evaluation_periods": HEARTBEAT_EVALUATION_PERIODS,
    }


def fraud_rate_alarm_json(rule: FraudRateJump) -> str:
    """The file as committed for Terraform: stable key order, trailing newline."""
    return json.dumps(fraud_rate_alarm(rule), indent=2, sort_keys=True) + "\n"


@click.command()
@OUTPUT_OPTION
def main(output: str | None) -> None:
    """Print the fraud-rate alarm's settings from the project's policy (Terraform deploys this file)."""
    from fraud_pipeline.policy.source import load_default_policy

    text = fraud_rate_alarm_json(load_default_policy().spec.fraud_rate_jump)
    emit(text, output)


if __name__ == "__main__":
    main()
