"""Rules: the policy's declarative rules, compiled once per policy version and run per post.

A rule in `policy/rules.yaml` names signals (see `signal_registry.py`) in `all`/`any`
conditions; when it fires it adds its label, its weight (how much it moves the combined
score) and a reason carrying the values that fired, and may ask for at least an action
(`review` or `label`). A `shadow` rule is evaluated and recorded (`shadow:<name>` in
`rule_hits`, counted in the per-rule metrics) but never changes the verdict: the way to try
a rule on live traffic before it acts. Rules complement the models: they catch what a text
model cannot see (campaign spread, reused images, lookalike domains) and explain verdicts.

Compiled once per policy version into one Python function (`RuleSet.source`, built from
the validated policy and `compile()`d once): the rules in policy order, each behind the
signal preconditions it needs (`signal_registry.PRECONDITIONS`), its conditions inlined as
comparisons on the signal values, each signal computed once per post. A post without a
trigger word, a link domain or any rewriting of its text skips the rules that cannot fire
on it with one test each, and a rule that does not fire costs a few comparisons. The hits are
the same as running every rule through the conditions one by one (`evaluate_every_rule`; a
test checks it on real texts). In the compiled build the scorer asks `RuleSet.screen` (a
`RuleScreen`, compiled code) first whether any rule may fire on a post, and calls the function
only when one may (about a quarter of posts).
"""

from __future__ import annotations

import ast
import functools
import operator
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fraud_pipeline.compiled_build import runs_compiled
from fraud_pipeline.policy import conditions
from fraud_pipeline.records import Post
from fraud_pipeline.scoring.canonical import TextForms
from fraud_pipeline.scoring.signal_registry import (
    SIGNALS,
    ZERO_OF_TYPE,
    CompiledLists,
    SignalContext,
)
from fraud_pipeline.scoring.signals import PostSignals

if TYPE_CHECKING:
    from fraud_pipeline.policy.schema import PolicySpec, RuleSpec

SHADOW_PREFIX = "shadow:"


@dataclass(slots=True, unsafe_hash=True)
class RuleHit:
    """One rule that fired on a post. Read-only by convention and hashed by its fields, as when
    it was frozen: a frozen class cannot write its own `__init__`, and the written one is what
    mypyc compiles to a native constructor (the generated one runs interpreted)."""

    rule: str
    label: str
    reason: str
    weight: float  # 0..1, combined as independent evidence
    action: str | None = None  # at least this action ("review" | "label"), if the rule asks
    shadow: bool = False  # recorded only: no label, weight or action

    # tests/test_records_init.py holds its parameters to the fields, in order, with defaults.
    def __init__(
        self,
        rule: str,
        label: str,
        reason: str,
        weight: float,
        action: str | None = None,
        shadow: bool = False,
    ) -> None:
        self.rule = rule
        self.label = label
        self.reason = reason
        self.weight = weight
        self.action = action
        self.shadow = shadow


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

    def needs(self) -> tuple[frozenset[str], frozenset[str]]:
        """(preconditions every post it fires on has, preconditions of which such a post has at
        least one; empty when none is needed): a post lacking any of the first, or all of the
        second, can never satisfy the rule."""
        every = frozenset(p for c in self.all if (p := _fails_without(c)) is not None)
        openings = [_fails_without(c) for c in self.any]
        if openings and all(p is not None for p in openings):
            return every, frozenset(p for p in openings if p is not None)
        return every, frozenset()

    def gate(self) -> str:
        """`needs` as a Python expression over the generated function's precondition flags
        (named after the preconditions), or '' when the rule can fire on any post."""
        every, one_of = self.needs()
        terms = sorted(every)
        if one_of:
            terms.append(
                " or ".join(sorted(one_of)) if len(one_of) == 1 else f"({' or '.join(sorted(one_of))})"
            )
        return " and ".join(terms)

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
        return self.hit(ctx, fired)

    def hit(self, ctx: SignalContext, fired: Sequence[tuple[str, Any]]) -> RuleHit:
        """The hit of a rule whose conditions held with these (signal, value) pairs."""
        if isinstance(self.weight, str):
            weight = min(1.0, max(0.0, float(ctx.get(self.weight) or 0.0)))
        else:
            weight = self.weight
        reason = self.reason
        if self.reason_fields:
            reason = reason.format(**{f: _format_value(ctx.get(f)) for f in self.reason_fields})
        values = ", ".join(n if v is True else f"{n}={_format_value(v)}" for n, v in fired)
        return RuleHit(self.name, self.label, f"{reason} [{values}]", weight, self.action, self.shadow)


# How the generated function computes each precondition flag it reads (a local of that name).
# The text's flags come from its reading (`reading`, read once), as `SignalContext` gives them;
# `listed_domain` needs the context (its linked domains' facts are kept there), but only for a
# post that links a domain.
_FLAG_SOURCE: dict[str, list[str]] = {
    "trigger_words": ["trigger_words = reading.triggers if forced is None else forced"],
    "domains": ["domains = bool(post.domains)"],
    "listed_domain": [
        "listed_domain = False",
        "if post.domains:",
        f"    {'{context}'}",
        "    listed_domain = ctx.listed_domain",
    ],
    "rewritten": ["rewritten = reading.rewritten"],
}
_READING_FLAGS = frozenset({"trigger_words", "rewritten"})
# The comparison operators that may appear in the generated source (the condition language's).
_OP_SOURCE = {">=": ">=", "<=": "<=", "==": "==", "!=": "!=", ">": ">", "<": "<"}
# The generated function's parameters that an `expression_signal` may read through `ctx`.
_CONTEXT_FIELDS = re.compile(r"\bctx\.(post|text_score|media_score)\b")
# The line that builds the context where it is first needed (a post no gate lets through never
# builds one: most posts).
_CONTEXT = "if ctx is None: ctx = _Context(post, behaviour, lists, text_score, media_score, forms)"


class _Source:
    """The generated evaluation function, line by line (see `_generate`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)


def _generate(rules: Sequence[CompiledRule]) -> tuple[str, dict[str, Any]]:
    """The source of `evaluate_post(post, behaviour, lists, text_score, media_score, forms,
    ctx=None) -> list[RuleHit]` for these rules, and of `evaluate(ctx)` (the same over a
    `SignalContext`), and their globals.

    The context (`SignalContext`: the signals computed once per post) is built only where a
    rule needs a computed signal or fires; the precondition flags, the inlined signals and the
    text's reading (`forms.reading`, when the caller read the batch) are read without it, so
    a post that no gate lets through and no rule fires on costs a few tests.

    Every name in the source is generated here (rule and signal indexes), never taken from
    the policy's text: a signal is named by its index in `SIGNALS` (or written as its
    registered expression, code of `signal_registry.py`), a literal is bound as a global, so
    whatever a policy holds, the source is this fixed shape."""
    namespace: dict[str, Any] = {"_MISSING": _FAILED, "_Context": SignalContext}
    conditions_of = [(*r.all, *r.any) for r in rules]
    uses: dict[str, int] = {}
    for conds in conditions_of:
        for c in conds:
            uses[c.signal] = uses.get(c.signal, 0) + 1
    signal_index = {name: i for i, name in enumerate(SIGNALS)}
    src = _Source()
    src.lines.append("def evaluate_post(post, behaviour, lists, text_score, media_score, forms, ctx=None):")
    src.line("hits = []")
    flags = sorted({p for r in rules for needed in r.needs() for p in needed})
    if _READING_FLAGS.intersection(flags):
        src.line("if ctx is None:")
        src.line("    forced = None")
        src.line("    reading = forms.reading if forms is not None else None")
        src.line("    if reading is None:")
        src.line(f"        {_CONTEXT}")
        src.line("        reading = ctx.reading")
        src.line("else:")
        src.line("    forced = ctx._triggers")
        src.line("    reading = ctx.reading")
    for flag in flags:
        for text in _FLAG_SOURCE[flag]:
            src.line(text.format(context=_CONTEXT))
    literals = 0

    def fetch(signal_name: str, target: str) -> None:
        index = signal_index[signal_name]
        spec = SIGNALS[signal_name]
        namespace[f"_N{index}"] = signal_name
        if spec.inline is not None:  # a plain read (`expression_signal`): cheaper than a call
            expression = _CONTEXT_FIELDS.sub(r"\1", spec.inline)
            if re.search(r"\bctx\b", expression):
                src.line(_CONTEXT)
            src.line(f"{target} = {expression}")
            return
        namespace[f"_S{index}"] = spec.compute
        src.line(_CONTEXT)
        if uses[signal_name] == 1:  # read by one condition only: nothing to share
            src.line(f"{target} = _S{index}(ctx)")
            return
        src.line(f"{target} = ctx._values.get(_N{index}, _MISSING)")
        src.line(f"if {target} is _MISSING:")
        src.line(f"    {target} = ctx._values[_N{index}] = _S{index}(ctx)")

    def test(condition: conditions.Condition, target: str) -> str:
        nonlocal literals
        if condition.op == "truthy":
            return target
        if condition.op == "not":
            return f"not {target}"
        literals += 1
        namespace[f"_L{literals}"] = condition.value
        return f"{target} is not None and {target} {_OP_SOURCE[condition.op]} _L{literals}"

    for k, rule in enumerate(rules):
        namespace[f"_R{k}"] = rule
        src.line(f"# rule {k}")
        outer = src.depth
        gate = rule.gate()
        if gate:
            src.line(f"if {gate}:")
            src.depth += 1
        fired: list[str] = []
        for j, condition in enumerate(rule.all):
            index = signal_index[condition.signal]
            fetch(condition.signal, f"a{j}")
            src.line(f"if {test(condition, f'a{j}')}:")
            src.depth += 1
            fired.append(f"(_N{index}, a{j})")
        if rule.any:
            # The first `any` condition that holds, each tried while none has (flat: a rule's
            # many alternatives do not nest blocks).
            src.line("fired = None")
            for n, condition in enumerate(rule.any):
                index = signal_index[condition.signal]
                if n:
                    src.line("if fired is None:")
                    src.depth += 1
                fetch(condition.signal, "v")
                src.line(f"if {test(condition, 'v')}:")
                src.line(f"    fired = (_N{index}, v)")
                if n:
                    src.depth -= 1
            src.line("if fired is not None:")
            src.line(f"    {_CONTEXT}")
            src.line(f"    hits.append(_R{k}.hit(ctx, ({', '.join([*fired, 'fired'])},)))")
        else:
            src.line(_CONTEXT)
            src.line(f"hits.append(_R{k}.hit(ctx, ({', '.join(fired)},)))")
        src.depth = outer
    src.line("return hits")
    src.lines.append("")
    src.lines.append("def evaluate(ctx):")
    src.line("post, behaviour, lists = ctx.post, ctx.behaviour, ctx.lists")
    src.line("return evaluate_post(post, behaviour, lists, ctx.text_score, ctx.media_score, ctx._forms, ctx)")
    return "\n".join(src.lines) + "\n", namespace


# How a screened condition's signal reads the post's `PostSignals` (`_field_reading`): the
# field as it is, whether it is (not) None, whether it equals (differs from) a constant.
# (Final literals: compiled, constants in the code; a module global is a dict look-up at each use.)
_AS_IS: Final = 0
_IS_NOT_NONE: Final = 1
_IS_NONE: Final = 2
_EQUALS: Final = 3
_DIFFERS: Final = 4
# The condition's test of the signal's value: truthy, not, or a comparison with its literal.
_TRUTHY: Final = 0
_NOT: Final = 1
_GE: Final = 2
_LE: Final = 3
_EQ: Final = 4
_NE: Final = 5
_GT: Final = 6
_LT: Final = 7
_OP_CODES = {"truthy": _TRUTHY, "not": _NOT, ">=": _GE, "<=": _LE, "==": _EQ, "!=": _NE, ">": _GT, "<": _LT}
# (the `PostSignals` field, how the signal reads it, its constant, the condition's test, its literal)
_FieldCondition = tuple[str, int, Any, int, Any]


def _field_reading(expression: str) -> tuple[str, int, Any] | None:
    """(field, reading, constant) when an `expression_signal`'s expression is `behaviour.F`,
    `behaviour.F is (not) None` or `behaviour.F ==/!= constant`; else None."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None

    def field(node: ast.expr) -> str | None:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "behaviour"
        ):
            return node.attr
        return None

    name = field(tree)
    if name is not None:
        return name, _AS_IS, None
    if not isinstance(tree, ast.Compare) or len(tree.ops) != 1 or len(tree.comparators) != 1:
        return None
    name, op, other = field(tree.left), tree.ops[0], tree.comparators[0]
    if name is None or not isinstance(other, ast.Constant):
        return None
    if isinstance(op, ast.IsNot) and other.value is None:
        return name, _IS_NOT_NONE, None
    if isinstance(op, ast.Is) and other.value is None:
        return name, _IS_NONE, None
    if isinstance(op, ast.Eq):
        return name, _EQUALS, other.value
    if isinstance(op, ast.NotEq):
        return name, _DIFFERS, other.value
    return None


def _compiled() -> bool:
    """Is this module running compiled (mypyc makes its functions built-in ones)?"""
    return runs_compiled(_field_reading)


class RuleScreen:
    """Whether any rule may fire on a post, told by compiled code from what it reads cheaply,
    so that the generated function (interpreted: its call and its reads of compiled objects,
    about 4 k instructions for a post no gate lets through) runs only for posts it may fire on:
    about a quarter of the bench capture's.

    A gated rule fires only on a post with one of its gate's flags (`CompiledRule.needs`: a
    text with a trigger word, one rewritten, a linked domain; a listed domain is a linked one);
    a rule without a gate only on one where its first condition on a `PostSignals` field holds
    (a signal whose expression reads the field, `_field_reading`), tested as the generated code
    tests it. A rule without a gate and without such a condition leaves the screen open: every
    post goes to the function. Exact: a post the screen turns away gets no hit from the function
    (tests/test_rules_screen.py).

    Open as well in the pure build (`active` not given): interpreted, the screen's own reads
    and calls cost more than the function's lean generated code for the same post."""

    __slots__ = ("domains", "fields", "open", "rewritten", "triggers")

    def __init__(self, rules: Sequence[CompiledRule], active: bool | None = None) -> None:
        self.open = not (_compiled() if active is None else active)  # every post to the function
        self.triggers = self.domains = self.rewritten = False  # the gates' flags asked
        fields: list[_FieldCondition] = []
        for rule in rules:
            every, one_of = rule.needs()
            if every or one_of:
                for flag in every | one_of:
                    if flag == "trigger_words":
                        self.triggers = True
                    elif flag in ("domains", "listed_domain"):
                        self.domains = True
                    elif flag == "rewritten":
                        self.rewritten = True
                    else:  # a precondition this screen does not know
                        self.open = True
                continue
            entry = None
            for condition in rule.all:
                inline = SIGNALS[condition.signal].inline
                reading = _field_reading(inline) if inline is not None else None
                if reading is not None:
                    entry = (*reading, _OP_CODES[condition.op], condition.value)
                    break
            if entry is None:
                self.open = True
            else:
                fields.append(entry)
        self.fields: tuple[_FieldCondition, ...] = tuple(fields)

    def may_fire(self, post: Post, behaviour: PostSignals, forms: TextForms | None) -> bool:
        """False only when no rule can fire on the post (its text read by `read_batch`)."""
        if self.open or forms is None:
            return True
        reading = forms.reading
        if reading is None:
            return True
        if (
            (self.triggers and reading.triggers)
            or (self.rewritten and reading.rewritten)
            or (self.domains and bool(post.domains))
        ):
            return True
        for field, kind, constant, test, literal in self.fields:
            # The generated code's reading of the signal and its test of the condition.
            value: Any = getattr(behaviour, field)
            if kind == _IS_NOT_NONE:
                value = value is not None
            elif kind == _IS_NONE:
                value = value is None
            elif kind == _EQUALS:
                value = value == constant
            elif kind == _DIFFERS:
                value = value != constant
            if test == _TRUTHY:
                holds = bool(value)
            elif test == _NOT:
                holds = not value
            elif value is None:
                holds = False
            elif test == _GE:
                holds = bool(value >= literal)
            elif test == _LE:
                holds = bool(value <= literal)
            elif test == _EQ:
                holds = bool(value == literal)
            elif test == _NE:
                holds = bool(value != literal)
            elif test == _GT:
                holds = bool(value > literal)
            else:
                holds = bool(value < literal)
            if holds:
                return True
        return False


class RuleSet:
    """The policy's rules and lists, ready to run (built once per policy version)."""

    def __init__(self, spec: PolicySpec) -> None:
        self.rules = tuple(CompiledRule(r) for r in spec.rules)
        self.lists = CompiledLists(spec.lists)
        self.source, namespace = _generate(self.rules)
        exec(compile(self.source, "<policy rules>", "exec"), namespace)
        # The generated function itself, for callers that run it once per post (`PostScorer`:
        # `evaluate_post` builds a context only for a post that needs one); `evaluate` over a
        # context is the same function.
        self.evaluate_post: Callable[..., list[RuleHit]] = namespace["evaluate_post"]
        # Whether the function may find a hit for a post (`PostScorer` asks before calling it).
        self.screen = RuleScreen(self.rules)
        self._evaluate: Callable[[SignalContext], list[RuleHit]] = namespace["evaluate"]

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
        return self._evaluate(ctx)

    def evaluate_every_rule(self, ctx: SignalContext) -> list[RuleHit]:
        """Every rule through its conditions one by one, no precondition skipped: what the
        generated `evaluate` must agree with."""
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
