"""Dataclasses whose `__init__` is written out (so that mypyc compiles it to a native constructor,
where the one `dataclasses` generates runs interpreted): the parameters must be the fields, in
field order, with the fields' defaults, and each must land in the field of its name."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from fraud_pipeline.records import TaggedRecord
from fraud_pipeline.scoring.canonical import EvasionEvidence
from fraud_pipeline.scoring.rules import RuleHit
from fraud_pipeline.scoring.signals import PostSignals

WRITTEN_INITS: list[type[Any]] = [TaggedRecord, PostSignals, EvasionEvidence, RuleHit]


@pytest.mark.parametrize("cls", WRITTEN_INITS, ids=lambda c: c.__name__)
def test_written_init_takes_the_fields_in_order_with_their_defaults(cls: type[Any]) -> None:
    assert "__init__" in vars(cls), "the class should write its own __init__"
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, field.name
        assert field.default_factory is dataclasses.MISSING, f"{field.name}: a factory needs writing out"
        expected = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        assert parameter.default == expected and type(parameter.default) is type(expected), field.name
        assert str(parameter.annotation) == str(field.type), field.name


@pytest.mark.parametrize("cls", WRITTEN_INITS, ids=lambda c: c.__name__)
def test_written_init_puts_each_argument_in_its_field(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    values = [object() for _ in fields]
    by_position = cls(*values)
    by_name = cls(**{f.name: v for f, v in zip(fields, values, strict=True)})
    for field, value in zip(fields, values, strict=True):
        assert getattr(by_position, field.name) is value, field.name
        assert getattr(by_name, field.name) is value, field.name
    assert by_position == by_name
    required = [v for f, v in zip(fields, values, strict=True) if f.default is dataclasses.MISSING]
    defaults = cls(*required)
    for field in fields:
        if field.default is not dataclasses.MISSING:
            assert getattr(defaults, field.name) == field.default, field.name
    assert dataclasses.replace(by_position, **{fields[0].name: values[-1]}) == cls(values[-1], *values[1:])


def test_once_frozen_classes_still_hash_by_their_fields() -> None:
    assert hash(EvasionEvidence(1, 2, 3, 4, 5)) == hash(EvasionEvidence(1, 2, 3, 4, 5))
    assert len({EvasionEvidence(), EvasionEvidence(), EvasionEvidence(leet_words=1)}) == 2
    hits = {
        RuleHit("r", "l", "why", 0.5),
        RuleHit("r", "l", "why", 0.5),
        RuleHit("r", "l", "why", 0.5, "review"),
    }
    assert len(hits) == 2
