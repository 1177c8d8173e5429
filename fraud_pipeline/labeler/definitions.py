"""The label values the labeler publishes, seen from the detection policy.

The policy's `labeler` section (policy/labeler.yaml, validated by `fraud_pipeline.policy`
with the rest of the policy) maps the verdict's labels to a few published values, each
with the definition Bluesky clients show (severity, what it blurs, the default setting,
names and descriptions per locale). This module turns it into what the worker and the
service record need.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fraud_pipeline.policy import Policy, load_default_policy
from fraud_pipeline.policy.runtime import PolicyHolder
from fraud_pipeline.policy.schema import LabelerSpec

log = logging.getLogger(__name__)


class LabelPolicyError(ValueError):
    """The policy has no `labeler` section: the labeler does not know what to publish."""


@dataclass(frozen=True)
class LabelPolicy:
    spec: LabelerSpec
    policy_version: str

    @property
    def default_value(self) -> str:
        return self.spec.default_value

    @property
    def expires_after(self) -> timedelta | None:
        days = self.spec.expires_after_days
        return timedelta(days=days) if days else None

    def published_values(self, verdict_labels: list[str]) -> set[str]:
        """What a `label` verdict with these labels publishes (never nothing)."""
        published = {
            value
            for value, spec in self.spec.values.items()
            if any(label in spec.sources for label in verdict_labels)
        }
        return published or {self.spec.default_value}

    def definitions(self) -> list[dict[str, Any]]:
        """`com.atproto.label.defs#labelValueDefinition` of each value, for the service record."""
        return [
            {
                "identifier": value,
                "severity": spec.severity,
                "blurs": spec.blurs,
                "defaultSetting": spec.default_setting,
                "adultOnly": False,
                "locales": [
                    {"lang": lang, "name": strings.name, "description": strings.description}
                    for lang, strings in sorted(spec.locales.items())
                ],
            }
            for value, spec in sorted(self.spec.values.items())
        ]


def label_policy(policy: Policy) -> LabelPolicy:
    if policy.spec.labeler is None:
        raise LabelPolicyError("the detection policy has no `labeler` section (policy/labeler.yaml)")
    return LabelPolicy(policy.spec.labeler, policy.version)


def load_label_policy() -> LabelPolicy:
    """The labeler section of the project's detection policy (validated with the whole policy)."""
    return label_policy(load_default_policy())


class LiveLabelPolicy:
    """The labeler section of the deployment's policy as it is now (the scorer's hot reload).

    A pushed policy without a `labeler` section keeps the last one that had it (and says so);
    the first one must have it.
    """

    def __init__(self, holder: PolicyHolder) -> None:
        self.holder = holder
        self._last = label_policy(holder.current().policy)

    def current(self) -> LabelPolicy:
        active = self.holder.current().policy
        if active.version != self._last.policy_version:
            try:
                self._last = label_policy(active)
            except LabelPolicyError as exc:
                log.error(
                    "policy %s: %s; still publishing per %s", active.version, exc, self._last.policy_version
                )
        return self._last
