"""The label values the labeler publishes and their definitions, read from the detection policy.

The policy's `labeler` section (policy/labeler.yaml) maps the verdict's labels to a few
published values, each with the definition Bluesky clients show (severity, what it blurs,
the default setting, names and descriptions per locale). It is read here, once, and
validated; everything else (the worker, the service record) asks this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
LABELER_POLICY_FILE = "labeler.yaml"

SEVERITIES = ("inform", "alert", "none")
BLURS = ("content", "media", "none")
DEFAULT_SETTINGS = ("ignore", "warn", "hide")
_VALUE = re.compile(r"^[a-z-]{1,100}$")  # labelValueDefinition.identifier


class LabelPolicyError(ValueError):
    """The labeler section of the policy is missing or malformed."""


@dataclass(frozen=True)
class LabelValue:
    identifier: str
    sources: tuple[str, ...]  # verdict labels that publish this value
    severity: str
    blurs: str
    default_setting: str
    locales: dict[str, dict[str, str]]  # lang -> {name, description}

    def definition(self) -> dict[str, Any]:
        """The `com.atproto.label.defs#labelValueDefinition` for the service record."""
        return {
            "identifier": self.identifier,
            "severity": self.severity,
            "blurs": self.blurs,
            "defaultSetting": self.default_setting,
            "adultOnly": False,
            "locales": [{"lang": lang, **strings} for lang, strings in sorted(self.locales.items())],
        }


@dataclass(frozen=True)
class LabelPolicy:
    values: dict[str, LabelValue]
    default_value: str
    expires_after: timedelta | None

    def published_values(self, verdict_labels: list[str]) -> set[str]:
        """What a `label` verdict with these labels publishes (never nothing)."""
        published = {
            value.identifier
            for value in self.values.values()
            if any(label in value.sources for label in verdict_labels)
        }
        return published or {self.default_value}


def _choice(entry: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str:
    value = entry.get(key)
    if value not in allowed:
        raise LabelPolicyError(f"{where}.{key} must be one of {allowed}, got {value!r}")
    return str(value)


def parse_label_policy(document: Any) -> LabelPolicy:
    section = document.get("labeler") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise LabelPolicyError("the policy has no `labeler` section")
    raw_values = section.get("values")
    if not isinstance(raw_values, dict) or not raw_values:
        raise LabelPolicyError("labeler.values must name at least one label value")
    values: dict[str, LabelValue] = {}
    for identifier, entry in raw_values.items():
        where = f"labeler.values.{identifier}"
        if not isinstance(identifier, str) or not _VALUE.match(identifier):
            raise LabelPolicyError(f"{where}: a label value is lower-case ascii letters and '-'")
        if not isinstance(entry, dict):
            raise LabelPolicyError(f"{where} must be a mapping")
        sources = entry.get("from", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise LabelPolicyError(f"{where}.from must be a list of verdict labels")
        locales = entry.get("locales")
        if not isinstance(locales, dict) or not locales:
            raise LabelPolicyError(f"{where}.locales must hold at least one language")
        for lang, strings in locales.items():
            if not isinstance(strings, dict) or not all(
                isinstance(strings.get(k), str) and strings[k] for k in ("name", "description")
            ):
                raise LabelPolicyError(f"{where}.locales.{lang} needs a name and a description")
        values[identifier] = LabelValue(
            identifier,
            tuple(sources),
            _choice(entry, "severity", SEVERITIES, where),
            _choice(entry, "blurs", BLURS, where),
            _choice(entry, "default_setting", DEFAULT_SETTINGS, where),
            {str(lang): {"name": s["name"], "description": s["description"]} for lang, s in locales.items()},
        )
    default_value = section.get("default_value")
    if default_value not in values:
        raise LabelPolicyError(
            f"labeler.default_value must be one of {sorted(values)}, got {default_value!r}"
        )
    days = section.get("expires_after_days")
    if days is not None and (not isinstance(days, int | float) or isinstance(days, bool) or days <= 0):
        raise LabelPolicyError(f"labeler.expires_after_days must be a positive number or null, got {days!r}")
    return LabelPolicy(values, str(default_value), timedelta(days=days) if days else None)


def load_label_policy(policy_dir: Path = POLICY_DIR) -> LabelPolicy:
    """The labeler section of the detection policy."""
    path = Path(policy_dir) / LABELER_POLICY_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LabelPolicyError(f"cannot read {path}: {exc}") from exc
    return parse_label_policy(document)
