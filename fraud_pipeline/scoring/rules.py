"""Rules: the policy's declarative rules, compiled once per policy version and run per post.

A rule in `policy/rules.yaml` names signals (see `signal_registry.py`) in `all`/`any`
conditions; when it fires it adds its label, its weight (how much it moves the combined
score) and a reason carrying the values that fired, and may ask for at least an action
(`review` or `label`). A `shadow` rule is evaluated and recorded (`shadow:<name>` in
`rule_hits`, counted in the per-rule metrics) but never changes the verdict: the way to try
a rule on live traffic before it acts. Rules complement the models: they catch what a text
model cannot see (campaign spread, reused images, lookalike domains) and explain verdicts.

Compiled once per policy version: each condition becomes a closure over its signal's compute
function and comparison, and the rules are grouped by which signal preconditions they need
(`signal_registry.PRECONDITIONS`): a post without a trigger word, a link domain or any
rewriting of its text only runs the rules that can still fire on it (most posts run about a
third of them). The hits are the same as running every rule (a test checks it).
"""

from __future__ import annotations

import functools
import itertools
import operator
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraud_pipeline.policy import conditions
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.signal_registry import (
    PRECONDITIONS,
    SIGNALS,
    ZERO_OF_TYPE,
    CompiledLists,
    SignalContext,
)
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


_FAILED = object()  # a condition that does not hold (any signal value may be falsy)
_Check = Callable[[SignalContext], Any]  # the signal's value when the condition holds, else _FAILED


def _compile_condition(condition: conditions.Condition) -> _Check:
    """A closure reading the signal (computed once per post, cached on the context) and
    returning its value when the condition holds, `_FAILED` when not."""
    name = condition.signal
    compute = SIGNALS[name].compute
    missing = _FAILED

    def value_of(ctx: SignalContext) -> Any:
        values = ctx._values
        value = values.get(name, missing)
        if value is missing:
            value = values[name] = compute(ctx)
        return value

    if condition.op == "truthy":

        def truthy(ctx: SignalContext) -> Any:
            value = value_of(ctx)
            return value if value else _FAILED

        return truthy
    if condition.op == "not":

        def negated(ctx: SignalContext) -> Any:
            value = value_of(ctx)
            return _FAILED if value else value

        return negated
    compare = _COMPARE[condition.op]
    literal = condition.value

    def compared(ctx: SignalContext) -> Any:
        value = value_of(ctx)
        return value if value is not None and compare(value, literal) else _FAILED

    return compared


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def _fails_without(condition: conditions.Condition) -> str | None:
    """The precondition without which the condition cannot hold (its signal is then its
    type's zero and the condition is false on zero), or None."""
    spec = SIGNALS[condition.signal]
    if spec.requires is None or condition.holds(ZERO_OF_TYPE[spec.type]):
        return None
    return spec.requires


class CompiledRule:
    """One rule, its conditions compiled; `evaluate` returns a hit or None."""

    __slots__ = (
        "action",
        "all",
        "all_checks",
        "any",
        "any_checks",
        "label",
        "name",
        "reason",
        "reason_fields",
        "shadow",
        "weight",
    )

    def __init__(self, spec: RuleSpec) -> None:
        self.name = spec.name
        self.label = spec.label
        self.weight: float | str = spec.weight
        self.action = spec.action
        self.shadow = spec.mode == "shadow"
        self.all = tuple(conditions.parse(c) for c in spec.when.all)
        self.any = tuple(conditions.parse(c) for c in spec.when.any)
        self.all_checks = tuple((c.signal, _compile_condition(c)) for c in self.all)
        self.any_checks = tuple((c.signal, _compile_condition(c)) for c in self.any)
        self.reason = spec.reason
        self.reason_fields = tuple(f for _, f, _, _ in string.Formatter().parse(spec.reason) if f)

    def can_fire_without(self, lacking: frozenset[str]) -> bool:
        """False when a post lacking these preconditions can never satisfy the rule."""
        if any(_fails_without(c) in lacking for c in self.all):
            return False
        return not self.any or not all(_fails_without(c) in lacking for c in self.any)

    def evaluate(self, ctx: SignalContext) -> RuleHit | None:
        fired: list[tuple[str, Any]] = []
        for name, check in self.all_checks:
            value = check(ctx)
            if value is _FAILED:
                return None
            fired.append((name, value))
        if self.any_checks:
            for name, check in self.any_checks:
                value = check(ctx)
                if value is not _FAILED:
                    fired.append((name, value))
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
        # The rules worth running for each combination of missing preconditions, in rule order.
        self._runnable: dict[frozenset[str], tuple[CompiledRule, ...]] = {}
        for size in range(len(PRECONDITIONS) + 1):
            for lacking in itertools.combinations(PRECONDITIONS, size):
                key = frozenset(lacking)
                self._runnable[key] = tuple(r for r in self.rules if r.can_fire_without(key))

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
        for rule in self._runnable[ctx.missing()]:
            hit = rule.evaluate(ctx)
            if hit is not None:
                hits.append(hit)
        return hits

    def evaluate_every_rule(self, ctx: SignalContext) -> list[RuleHit]:
        """`evaluate` without skipping by precondition (what the skipping must agree with)."""
        return [hit for rule in self.rules if (hit := rule.evaluate(ctx)) is not None]


@functools.lru_cache(maxsize=1)
def default_rule_set() -> RuleSet:
    """The rules of the project's own policy (for tools and tests without a runtime)."""
    from fraud_pipeline.policy import load_default_policy

    return RuleSet(load_default_policy().spec)


def evaluate_rules(post: Post, behaviour: PostSignals, rule_set: RuleSet | None = None) -> list[RuleHit]:
    """Every rule that fires on the post, in rule order."""
    rules = rule_set or default_rule_set()
    return rules.evaluate(rules.context(post, behaviour))
