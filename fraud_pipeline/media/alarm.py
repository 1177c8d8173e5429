"""The infra `media_images_unavailable` alarm, derived from the detection policy's media section.

With `media_images` on, every image a post shows is read within the batch's budget
(`Media-Images-Read`), served from the CID cache (`Media-Cache-Hits`) or not read
(`Media-Images-Unavailable`; `Media-Unavailable{Reason}` says why). A stream that reads too
slowly (budget, backlog), a CDN that fails (timeout, network, 5xx) or a media endpoint that
does not answer all show as a rising share of images not read, which is what the alarm
watches: CloudWatch metric math over the three counts, the very series of the dashboard's
"Images in the stream" widget (`dashboard/widgets.py` `MEDIA_IMAGE_SERIES`, same ids), against
the policy's `media.unavailable_alarm_share`. The settings are generated into
`infra/live/<env>/cloudwatch/media_unavailable_alarm.json` (Terraform reads it with
`jsondecode`, no literal of its own), and a test keeps the committed files equal to this module:

    python -m fraud_pipeline.media.alarm --output infra/live/dev/cloudwatch/media_unavailable_alarm.json
"""

from __future__ import annotations

import json
from typing import Any

import click

from fraud_pipeline.dashboard.widgets import MEDIA_IMAGE_SERIES
from fraud_pipeline.generated_files import OUTPUT_OPTION, emit
from fraud_pipeline.policy.schema import MediaSpec

UNAVAILABLE_SHARE_ID = "unavailable_pct"  # the alarm's metric-math series
# Five-minute periods, two of the last three breaching: one slow batch or a CDN blip does not
# page anyone, a stream that keeps missing images does within 15 minutes.
PERIOD_S = 300
EVALUATION_PERIODS = 3
DATAPOINTS_TO_ALARM = 2


def unavailable_share_expression() -> str:
    """Per cent of the images posts showed that were not read (no value when there were none)."""
    ids = {series.metric: series.id for series in MEDIA_IMAGE_SERIES}
    total = " + ".join(series.id for series in MEDIA_IMAGE_SERIES)
    return f"100 * {ids['Media-Images-Unavailable']} / ({total})"


def media_unavailable_alarm(spec: MediaSpec) -> dict[str, Any]:
    """The alarm's settings (the cloudwatch module's `media_unavailable_alarm` variable)."""
    percent = round(100 * spec.unavailable_alarm_share, 6)
    return {
        "metrics": [{"id": s.id, "metric_name": s.metric, "stat": "Sum"} for s in MEDIA_IMAGE_SERIES],
        "expression_id": UNAVAILABLE_SHARE_ID,
        "expression": unavailable_share_expression(),
        "period": PERIOD_S,
        "evaluation_periods": EVALUATION_PERIODS,
        "datapoints_to_alarm": DATAPOINTS_TO_ALARM,
        "threshold": percent,
        "comparison_operator": "GreaterThanThreshold",
        "description": (
            f"More than {percent:g}% of the images posts showed were not read (policy "
            f"media.unavailable_alarm_share) in {DATAPOINTS_TO_ALARM} of {EVALUATION_PERIODS} "
            f"{PERIOD_S // 60}-minute periods; Media-Unavailable{{Reason}} says why (budget/backlog: "
            f"the stream reads too slowly; timeout/network/http_5xx: the CDN; endpoint: the media model)."
        ),
        "policy": {"unavailable_alarm_share": spec.unavailable_alarm_share},
    }


def media_unavailable_alarm_json(spec: MediaSpec) -> str:
    """The file as committed for Terraform: stable key order, trailing newline."""
    return json.dumps(media_unavailable_alarm(spec), indent=2, sort_keys=True) + "\n"


@click.command()
@OUTPUT_OPTION
def main(output: str | None) -> None:
    """Print the media alarm's settings from the project's policy (Terraform deploys this file)."""
    from fraud_pipeline.policy.source import load_default_policy

    spec = load_default_policy().spec.media
    if spec is None:
        raise click.ClickException("the project's policy has no media section (policy/media.yaml)")
    text = media_unavailable_alarm_json(spec)
    emit(text, output)


if __name__ == "__main__":
    main()
