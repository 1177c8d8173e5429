"""The garbage collector paused for a scoring batch: off inside, back on after (also on error),
left off when it already was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fraud_pipeline.batch_gc import collector_paused


@pytest.fixture(autouse=True)
def _collector_on_after() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


def test_the_collector_is_off_inside_and_on_after_also_on_error() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the inner one leaves it to the outer
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
