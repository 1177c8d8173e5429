"""The rule condition language: `signal`, `not signal`, `signal OP literal`.

Small on purpose (an analyst reads it in YAML): one signal per condition, compared with a
number, true/false or a quoted string. `parse` turns the text into a `Condition`; `check`
says what is wrong with it against the signal registry's types; `Condition.holds` evaluates
it on a post's value.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_ORDERING = frozenset({">=", "<=", ">", "<"})
_SYNTAX = re.compile(
    r"^\s*(?:(?P<neg>not)\s+(?P<nsig>[a-z][a-z0-9_]*)|(?P<sig>[a-z][a-z0-9_]*)"
    r"(?:\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<lit>.+?))?)\s*$"
)


@dataclass(frozen=True, slots=True)
class Condition:
    signal: str
    op: str  # "truthy", "not", or one of _OPS
    value: Any = None

    def holds(self, value: Any) -> bool:
        if self.op == "truthy":
            return bool(value)
        if self.op == "not":
            return not value
        if value is None:
            return False
        return _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        if self.op == "truthy":
            return self.signal
        if self.op == "not":
            return f"not {self.signal}"
        return f"{self.signal} {self.op} {self.value!r}"


def _literal(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number, true/false or a quoted string") from None


def parse(text: Any) -> Condition:
    """A condition from its YAML text; ValueError says what is malformed."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"a condition is a string like 'signal' or 'signal >= 3', got {text!r}")
    match = _SYNTAX.match(text)
    if match is None:
        raise ValueError(
            f"cannot read condition {text!r}: expected 'signal', 'not signal' or 'signal OP value'"
        )
    if match["neg"]:
        return Condition(match["nsig"], "not")
    if match["op"] is None:
        return Condition(match["sig"], "truthy")
    return Condition(match["sig"], match["op"], _literal(match["lit"]))


def check(condition: Condition, types: Mapping[str, str]) -> str | None:
    """What is wrong with the condition against the registry's signal types (None: fine)."""
    signal_type = types.get(condition.signal)
    if signal_type is None:
        return f"unknown signal {condition.signal!r}"
    if condition.op in ("truthy", "not"):
        return None
    value = condition.value
    if signal_type in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"signal {condition.signal!r} is {signal_type}: compare it with a number, not {value!r}"
    elif signal_type == "bool":
        if condition.op in _ORDERING or not isinstance(value, bool):
            return f"signal {condition.signal!r} is bool: use it alone, with 'not', or == true/false"
    elif signal_type == "str" and (condition.op in _ORDERING or not isinstance(value, str)):
        return f"signal {condition.signal!r} is str: compare it with == or != and a quoted string"
    return None
