"""Rules: the policy's declarative rules, compiled once per policy version and run per post.

A rule in `policy/rules.yaml` names signals (see `signal_registry.py`) in `all`/`any`
conditions; when it fires it adds its label, its weight (how much it moves the combined
score) and a reason carrying the values that fired, and may ask for at least an action
(`review` or `label`). A `shadow` rule is evaluated and recorded (`shadow:<name>` in
`rule_hits`, counted in the per-rule metrics) but never changes the verdict: the way to try
a rule on live traffic before it acts. Rules complement the models: they catch what a text
model cannot see (campaign spread, reused images, lookalike domains) and explain verdicts.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraud_pipeline.policy import conditions
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.signal_registry import CompiledLists, SignalContext
from fraud_pipeline.scoring.signals import PostSignals

if TYPE_CHECKING:
    from fraud_pipeline.policy.schema import PolicySpec, RuleSpec

SHADOW_PREFIX = "shadow:"


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    label: str
    reason: str
    weight: float  # 0..1, combined as independent evidence
    action: str | None = None  # at least this action ("review" | "label"), if the rule asks
    shadow: bool = False  # recorded only: no label, weight or action


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class CompiledRule:
    """One rule, its conditions parsed; `evaluate` returns a hit or None."""

    __slots__ = ("action", "all", "any", "label", "name", "reason", "reason_fields", "shadow", "weight")

    def __init__(self, spec: RuleSpec) -> None:
        self.name = spec.name
        self.label = spec.label
        self.weight: float | str = spec.weight
        self.action = spec.action
        self.shadow = spec.mode == "shadow"
        self.all = tuple(conditions.parse(c) for c in spec.when.all)
        self.any = tuple(conditions.parse(c) for c in spec.when.any)
        self.reason = spec.reason
        self.reason_fields = tuple(f for _, f, _, _ in string.Formatter().parse(spec.reason) if f)

    def evaluate(self, ctx: SignalContext) -> RuleHit | None:
        fired: list[tuple[str, Any]] = []
        for condition in self.all:
            value = ctx.get(condition.signal)
            if not condition.holds(value):
                return None
            fired.append((condition.signal, value))
        if self.any:
            for condition in self.any:
                value = ctx.get(condition.signal)
                if condition.holds(value):
                    fired.append((condition.signal, value))
                    break
            else:
                return None
        if isinstance(self.weight, str):
            weight = min(1.0, max(0.0, float(ctx.get(self.weight) or 0.0)))
        else:
            weight = self.weight
        reason = self.reason
        if self.reason_fields:
            reason = reason.format(**{f: _format_value(ctx.get(f)) for f in self.reason_fields})
        values = ", ".join(n if v is True else f"{n}={_format_value(v)}" for n, v in fired)
        return RuleHit(self.name, self.label, f"{reason} [{values}]", weight, self.action, self.shadow)


class RuleSet:
    """The policy's rules and lists, ready to run (built once per policy version)."""

    def __init__(self, spec: PolicySpec) -> None:
        self.rules = tuple(CompiledRule(r) for r in spec.rules)
        self.lists = CompiledLists(spec.lists)

    def context(
        self,
        post: Post,
        behaviour: PostSignals,
        text_score: float | None = None,
        media_score: float | None = None,
    ) -> SignalContext:
        return SignalContext(post, behaviour, self.lists, text_score, media_score)

    def evaluate(self, ctx: SignalContext) -> list[RuleHit]:
        """Every rule that fires on the post (shadow ones included, marked), in rule order."""
        hits = []
        for rule in self.rules:
            hit = rule.evaluate(ctx)
            if hit is not None:
                hits.append(hit)
        return hits


@functools.lru_cache(maxsize=1)
def default_rule_set() -> RuleSet:
    """The rules of the project's own policy (for tools and tests without a runtime)."""
    from fraud_pipeline.policy import load_default_policy

    return RuleSet(load_default_policy().spec)


def evaluate_rules(post: Post, behaviour: PostSignals, rule_set: RuleSet | None = None) -> list[RuleHit]:
    """Every rule that fires on the post, in rule order."""
    rules = rule_set or default_rule_set()
    return rules.evaluate(rules.context(post, behaviour))
