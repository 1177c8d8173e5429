"""The infra `media_images_unavailable` alarm is derived from the detection policy's media section
and the dashboard's media widget: the committed settings equal the generator's output, Terraform
takes every setting from them (no literal of its own), and the metric math breaches exactly when
more than the policy's share of the images posts showed was not read, on the metrics the scorer
publishes."""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import pytest

from fraud_pipeline.dashboard.widgets import MEDIA_IMAGE_SERIES, WIDGETS, evaluate
from fraud_pipeline.media.alarm import media_unavailable_alarm, media_unavailable_alarm_json
from fraud_pipeline.metrics import open_metrics
from fraud_pipeline.policy.source import load_default_policy
from fraud_pipeline.scoring.handler import _policy_metrics
from fraud_pipeline.scoring.pipeline_scorer import ScoreCounts
from fraud_pipeline.settings import Settings
from tests.infra_fixtures import ENVCOMMON, ENVS, LIVE, MODULES, load_hcl

ALARM_FILE = "media_unavailable_alarm.json"


def _spec():  # type: ignore[no-untyped-def]
    spec = load_default_policy().spec.media
    assert spec is not None
    return spec


@pytest.mark.parametrize("env", ENVS)
def test_committed_alarm_equals_generated_from_policy(env: str) -> None:
    committed = (LIVE / env / "cloudwatch" / ALARM_FILE).read_text(encoding="utf-8")
    assert committed == media_unavailable_alarm_json(_spec()), (
        f"the policy's media section changed; regenerate: python -m fraud_pipeline.media.alarm "
        f"--output infra/live/{env}/cloudwatch/{ALARM_FILE}"
    )
    settings = json.loads(committed)
    assert settings["threshold"] == pytest.approx(100 * _spec().unavailable_alarm_share)
    assert settings["policy"] == {"unavailable_alarm_share": _spec().unavailable_alarm_share}


def test_a_policy_change_makes_the_committed_file_stale() -> None:
    spec = _spec()
    committed = (LIVE / "dev" / "cloudwatch" / ALARM_FILE).read_text(encoding="utf-8")
    changed = spec.model_copy(update={"unavailable_alarm_share": spec.unavailable_alarm_share / 2})
    assert media_unavailable_alarm_json(changed) != committed


def test_the_alarm_reads_the_dashboard_widgets_series() -> None:
    """The same metric names and ids as the page's and CloudWatch's "Images in the stream" widget."""
    alarm = media_unavailable_alarm(_spec())
    widget = next(w for w in WIDGETS if w.key == "media_images")
    assert widget.series == MEDIA_IMAGE_SERIES
    assert [(m["id"], m["metric_name"]) for m in alarm["metrics"]] == [
        (s.id, s.metric) for s in widget.series
    ]
    unavailable = next(w for w in WIDGETS if w.key == "media_unavailable")
    assert {s.metric for s in unavailable.series} == {"Media-Unavailable"}
    assert {"budget", "backlog", "timeout", "endpoint"} <= {
        dict(s.dimensions)["Reason"] for s in unavailable.series
    }


def _alarm_resource() -> dict[str, object]:
    main = load_hcl(MODULES / "cloudwatch" / "main.tf")
    for block in main["resource"]:
        alarms = block.get("aws_cloudwatch_metric_alarm", {})
        if "media_images_unavailable" in alarms:
            return dict(alarms["media_images_unavailable"])
    raise AssertionError("no media_images_unavailable alarm in the cloudwatch module")


def test_terraform_takes_every_setting_from_the_generated_file() -> None:
    alarm = _alarm_resource()
    generated = media_unavailable_alarm(_spec())
    for key in ("evaluation_periods", "datapoints_to_alarm", "threshold", "comparison_operator"):
        assert alarm[key] == f"${{var.media_unavailable_alarm.{key}}}", key
        assert key in generated
    assert alarm["alarm_description"] == "${var.media_unavailable_alarm.description}"
    assert "metric_name" not in alarm and "namespace" not in alarm  # metric math only
    text = (MODULES / "cloudwatch" / "main.tf").read_text(encoding="utf-8")
    body = text[text.index('"media_images_unavailable"') :]
    for reference in ("expression_id", "expression", "period", "metrics"):
        assert f"var.media_unavailable_alarm.{reference}" in body, reference
    assert not re.search(r"threshold\s*=\s*[0-9]", body)
    variables = (MODULES / "cloudwatch" / "variables.tf").read_text(encoding="utf-8")
    declared = re.search(
        r'variable "media_unavailable_alarm" \{.*?type = object\(\{(.*)\}\)\n\}', variables, re.S
    )
    assert declared is not None
    top_level = set(re.findall(r"^    (\w+)\s*=", declared.group(1), re.M))
    assert top_level == set(generated) - {"policy"}


def test_every_environment_feeds_the_module_its_committed_file() -> None:
    shared = (ENVCOMMON / "cloudwatch.hcl").read_text(encoding="utf-8")
    reads = 'jsondecode(file("${get_terragrunt_dir()}/media_unavailable_alarm.json"))'
    assert re.search(r"^\s*media_unavailable_alarm\s*=\s*" + re.escape(reads) + "$", shared, re.M)
    for env in ENVS:
        assert (LIVE / env / "cloudwatch" / ALARM_FILE).is_file()


@pytest.mark.parametrize(
    ("read", "hits", "unavailable", "breaching"),
    [
        (6, 2, 2, False),  # 20%: on the bar is not over it
        (5, 2, 3, True),  # 30%
        (0, 40, 11, True),  # cache hits count as seen images; 21.6%
        (90, 0, 9, False),  # 9%
        (0, 0, 0, None),  # no images at all: no value, the alarm treats it as not breaching
    ],
)
def test_metric_math_breaches_exactly_over_the_policy_share(
    read: int, hits: int, unavailable: int, breaching: bool | None, local_settings: Settings
) -> None:
    alarm = media_unavailable_alarm(_spec())
    counts = ScoreCounts(images_read=read, image_cache_hits=hits)
    counts.image_unavailable.update({"budget": unavailable - unavailable // 2, "timeout": unavailable // 2})
    scorer = SimpleNamespace(images=object(), policy=SimpleNamespace(take_rejections=lambda: 0))
    now_ms = int(time.time() * 1000)
    metrics = open_metrics(local_settings)
    try:
        metrics.put(local_settings.metric_namespace, _policy_metrics(counts, scorer, now_ms))  # type: ignore[arg-type]
        values: dict[str, float | None] = {}
        for metric in alarm["metrics"]:
            points = metrics.query(
                local_settings.metric_namespace,
                metric["metric_name"],
                now_ms - alarm["period"] * 1000,
                now_ms + 1000,
                period_s=alarm["period"],
                stat=metric["stat"],
            )
            values[metric["id"]] = sum(p.value for p in points)
    finally:
        metrics.close()
    assert values["images_unavailable"] == unavailable  # the total, not each reason again
    share = evaluate(alarm["expression"], values)
    if breaching is None:
        assert share is None
        return
    assert share is not None and (share > alarm["threshold"]) == breaching
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
