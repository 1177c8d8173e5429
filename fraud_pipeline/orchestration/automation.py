"""Whether the sensors and schedules run as soon as the code location loads (the default).

A lake that nobody compacts until someone finds the toggles in the UI is no pipeline, so every
sensor and schedule starts running; `FRAUD_PIPELINE_AUTOMATION=stopped` starts them stopped
(an operator's choice, e.g. a staging deployment that should only run by hand). Dagster only
reads a definition's default status when the instance has no stored state for it, so a
toggle flipped in the UI is kept across reloads.
"""

from __future__ import annotations

import copy
from typing import TypeVar

from dagster import DefaultScheduleStatus, DefaultSensorStatus, SensorDefinition
from dagster_shared.record import copy as copy_record
from dagster_shared.record import is_record

from fraud_pipeline.settings import Settings

# Sensors, schedules, and schedules of partitioned asset jobs (resolved when the location loads).
Automation = TypeVar("Automation")


def automation_running(settings: Settings) -> bool:
    return settings.automation == "running"


def sensor_status(settings: Settings) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if automation_running(settings) else DefaultSensorStatus.STOPPED


def with_default_status(definition: Automation, settings: Settings) -> Automation:
    """A copy of a sensor or schedule whose default status follows `settings.automation`.

    Dagster has no public way to change the status of an existing definition (its
    `with_attributes` copies it unchanged), so the copy sets the one field it reads.
    """
    if not isinstance(definition, SensorDefinition):
        status: object = (
            DefaultScheduleStatus.RUNNING if automation_running(settings) else DefaultScheduleStatus.STOPPED
        )
    else:
        status = sensor_status(settings)
    if getattr(definition, "default_status", None) == status:
        return definition
    if is_record(definition):  # a partitioned job's schedule, resolved when the location loads
        return copy_record(definition, default_status=status)
    changed = copy.copy(definition)
    changed._default_status = status  # type: ignore[attr-defined]
    return changed
