"""Read and validate the detection policy: YAML files in, a `Policy` or every problem out.

A policy is a set of YAML files (`policy/*.yaml`); each top-level section (`rules`,
`thresholds`, `lists`, ...) lives in exactly one of them. Loading parses every file with
PyYAML's composer so each value keeps its line, checks the result with the pydantic models
of `schema.py`, then checks what needs the signal registry: each rule's conditions name a
registered signal and compare it with a value of its type, numeric weights name numeric
signals, rule names are unique, labels are declared. Every problem names file, line and
what is wrong; a policy with any problem is refused as a whole (`PolicyError`).

The version is a content hash of the files, so two folders with the same files have the
same version wherever they are stored, and a tagged record's `policy_version` says exactly
which rules judged it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]
from pydantic import ValidationError

from fraud_pipeline.policy import conditions
from fraud_pipeline.policy.schema import SECTIONS, PolicySpec

try:  # libyaml is several times faster; reload cost matters in the scoring runtime
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

POLICY_SUFFIXES = (".yaml", ".yml")
Path_ = tuple[Any, ...]  # a location in the merged document: ("rules", 3, "weight")


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    file: str
    line: int | None  # 1-based; None when the problem has no single place (a missing section)
    path: str  # dotted location, e.g. rules[3].weight
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(ValueError):
    """The policy is not valid; `problems` lists each one with its file and line."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("invalid detection policy:\n  " + "\n  ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Policy:
    """A validated policy: the typed spec, its version and the files it came from."""

    spec: PolicySpec
    version: str
    files: Mapping[str, bytes]


def policy_version(files: Mapping[str, bytes]) -> str:
    """Content hash of the policy files (names and bytes): equal files, equal version."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()[:12]


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Document:
    """One file's data plus the line of every value in it."""

    def __init__(self, name: str, data: Any, lines: dict[Path_, int]) -> None:
        self.name = name
        self.data = data
        self.lines = lines


def _walk(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[PolicyProblem], name: str
) -> None:
    """Record the line of every value (a mapping value: the line of its key)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    PolicyProblem(name, key_node.start_mark.line + 1, _dotted((*path, key)), "duplicate key")
                )
            seen.add(key)
            lines.setdefault((*path, key), key_node.start_mark.line + 1)
            _walk(value_node, (*path, key), lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems, name)


def _parse(name: str, raw: bytes, problems: list[PolicyProblem]) -> _Document | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(PolicyProblem(name, None, "", f"not UTF-8 text: {exc}"))
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = getattr(exc, "problem", None) or str(exc)
        problems.append(PolicyProblem(name, mark.line + 1 if mark else None, "", f"not valid YAML: {detail}"))
        return None
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines, problems, name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(PolicyProblem(name, 1, "", "a policy file is a mapping of sections"))
        return None
    return _Document(name, data, lines)


class _Locator:
    """Finds file and line for a path in the merged document."""

    def __init__(self) -> None:
        self.section_file: dict[str, _Document] = {}

    def find(self, path: Path_) -> tuple[str, int | None]:
        if not path or path[0] not in self.section_file:
            return "policy", None
        doc = self.section_file[path[0]]
        for end in range(len(path), 0, -1):
            line = doc.lines.get(tuple(path[:end]))
            if line is not None:
                return doc.name, line
        return doc.name, None

    def problem(self, path: Path_, message: str) -> PolicyProblem:
        name, line = self.find(path)
        return PolicyProblem(name, line, _dotted(path), message)


def load_policy(files: Mapping[str, bytes], signal_types: Mapping[str, str] | None = None) -> Policy:
    """Validate the policy files (name -> bytes); raises PolicyError listing every problem."""
    if signal_types is None:
        from fraud_pipeline.scoring.signal_registry import signal_types as registry_types

        signal_types = registry_types()
    problems: list[PolicyProblem] = []
    locator = _Locator()
    merged: dict[str, Any] = {}
    names = sorted(n for n in files if n.endswith(POLICY_SUFFIXES))
    if not names:
        raise PolicyError([PolicyProblem("policy", None, "", "no policy files (*.yaml) found")])
    for name in names:
        doc = _parse(name, files[name], problems)
        if doc is None:
            continue
        for section in doc.data:
            if section in locator.section_file:
                other = locator.section_file[section].name
                problems.append(
                    PolicyProblem(
                        name, doc.lines.get((section,)), str(section), f"section already defined in {other}"
                    )
                )
                continue
            locator.section_file[section] = doc
            merged[section] = doc.data[section]
    if problems:
        raise PolicyError(problems)

    try:
        spec = PolicySpec.model_validate(merged)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            # Union members add their type name to the location; keep the document path.
            loc = tuple(p for p in loc if isinstance(p, int) or p in _known_keys(merged, loc))
            message = error["msg"]
            if error["type"] == "missing" and loc and loc[0] in SECTIONS and len(loc) == 1:
                message = f"section {loc[0]!r} is missing (expected in one of the policy files)"
            problems.append(locator.problem(loc, message))
        raise PolicyError(problems) from None

    problems.extend(_check_rules(spec, signal_types, locator))
    problems.extend(_check_labels(spec, locator))
    problems.extend(_check_published_labels(spec, locator))
    if problems:
        raise PolicyError(problems)
    return Policy(spec=spec, version=policy_version({n: files[n] for n in names}), files=dict(files))


def _known_keys(merged: dict[str, Any], loc: Path_) -> set[Any]:
    """Keys that exist along `loc` in the document (or are field names): drops pydantic's
    union-branch markers such as 'float' or 'str' from an error location."""
    keys: set[Any] = set(SECTIONS)
    node: Any = merged
    for part in loc:
        if isinstance(node, dict):
            keys.update(node.keys())
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            keys.add(part)
            break
    # Field names that may be missing from the document but are real places.
    from fraud_pipeline.policy import schema

    for model in (
        schema.RuleSpec,
        schema.When,
        schema.Tier,
        schema.Quotas,
        schema.Campaign,
        schema.AccountsSpec,
    ):
        keys.update(model.model_fields)
    return keys


def _check_rules(spec: PolicySpec, types: Mapping[str, str], locator: _Locator) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    first_index: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        if rule.name in first_index:
            problems.append(
                locator.problem(
                    ("rules", index, "name"),
                    f"duplicate rule name {rule.name!r} (first at rules[{first_index[rule.name]}])",
                )
            )
        else:
            first_index[rule.name] = index
        for group in ("all", "any"):
            for position, text in enumerate(getattr(rule.when, group)):
                path = ("rules", index, "when", group, position)
                try:
                    condition = conditions.parse(text)
                except ValueError as exc:
                    problems.append(locator.problem(path, str(exc)))
                    continue
                wrong = conditions.check(condition, types)
                if wrong:
                    problems.append(locator.problem(path, wrong))
        if isinstance(rule.weight, str):
            weight_type = types.get(rule.weight)
            if weight_type is None:
                problems.append(
                    locator.problem(("rules", index, "weight"), f"unknown signal {rule.weight!r}")
                )
            elif weight_type not in ("int", "float"):
                problems.append(
                    locator.problem(
                        ("rules", index, "weight"),
                        f"weight signal {rule.weight!r} is {weight_type}; a weight is a number 0..1 "
                        "or a numeric signal",
                    )
                )
        for field_name in _template_fields(rule.reason):
            if field_name not in types:
                problems.append(
                    locator.problem(("rules", index, "reason"), f"reason names unknown signal {field_name!r}")
                )
    return problems


def _template_fields(template: str) -> list[str]:
    import string

    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field]
    except ValueError:
        return ["<unbalanced braces>"]


def _check_published_labels(spec: PolicySpec, locator: _Locator) -> list[PolicyProblem]:
    """The labeler publishes values for declared verdict labels only."""
    if spec.labeler is None:
        return []
    return [
        locator.problem(("labeler", "values", value, "from", index), f"label {label!r} is not declared")
        for value, published in spec.labeler.values.items()
        for index, label in enumerate(published.sources)
        if label not in spec.labels
    ]


def _check_labels(spec: PolicySpec, locator: _Locator) -> list[PolicyProblem]:
    problems = []
    for index, rule in enumerate(spec.rules):
        if rule.label not in spec.labels:
            problems.append(
                locator.problem(
                    ("rules", index, "label"), f"label {rule.label!r} is not declared under `labels`"
                )
            )
    if spec.accounts is not None and spec.accounts.label not in spec.labels:
        problems.append(
            locator.problem(
                ("accounts", "label"), f"label {spec.accounts.label!r} is not declared under `labels`"
            )
        )
    for label in spec.quotas.per_label:
        if label not in spec.labels:
            problems.append(
                locator.problem(
                    ("quotas", "per_label", label), f"label {label!r} is not declared under `labels`"
                )
            )
    return problems
