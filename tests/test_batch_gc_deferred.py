"""The collection a batch's survivors would start waits (`batch_gc`, session 11): not when the
pause ends, but once the caller has allocated a threshold's worth more than it frees, or at the
next pause, which restores the thresholds and lets the collector run if the young generation
is over them. Cycles are still collected; thresholds set by others are kept."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from fraud_pipeline import batch_gc
from fraud_pipeline.batch_gc import collector_paused


class _Node:
    me: Any = None


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[list[int]]:
    """The collector on, its thresholds as they were after; the generations started, listed."""
    was_enabled, thresholds = gc.isenabled(), gc.get_threshold()
    started: list[int] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.enable()
    gc.collect()
    batch_gc._deferred = None
    gc.callbacks.append(watch)
    try:
        yield started
    finally:
        gc.callbacks.remove(watch)
        batch_gc._deferred = None
        gc.set_threshold(*thresholds)
        if not was_enabled:
            gc.disable()


def test_survivors_start_no_collection_when_the_pause_ends(_collector_as_it_was: list[int]) -> None:
    started = _collector_as_it_was
    threshold = gc.get_threshold()
    with collector_paused():
        kept = [_Node() for _ in range(5 * threshold[0])]
    assert gc.isenabled() and gc.get_count()[0] > threshold[0]
    more = [_Node() for _ in range(threshold[0] // 2)]  # the caller's own work, under a threshold
    assert started == []
    del kept, more
    with collector_paused():  # what was left is gone: nothing over the threshold
        assert gc.get_threshold() == threshold
    assert started == []


def test_the_next_pause_runs_the_collection_the_young_generation_is_owed(
    _collector_as_it_was: list[int],
) -> None:
    started = _collector_as_it_was
    with collector_paused():
        kept = [_Node() for _ in range(3000)]
    cycle = _Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    assert started == [] and gone() is not None
    with collector_paused():
        assert started == [0]
        assert gone() is None  # the cycle built between the batches is collected
        assert not gc.isenabled()
    assert len(kept) == 3000


def test_the_callers_allocations_start_it_after_a_threshold_more(_collector_as_it_was: list[int]) -> None:
    started = _collector_as_it_was
    threshold = gc.get_threshold()[0]
    with collector_paused():
        kept = [_Node() for _ in range(3000)]
    more = []
    for _ in range(threshold + 10):
        more.append(_Node())
    assert started == [0]
    assert len(kept) == 3000


def test_thresholds_set_by_others_are_kept_and_automatic_collection_off_stays_off(
    _collector_as_it_was: list[int],
) -> None:
    with collector_paused():
        kept = [_Node() for _ in range(100)]
    gc.set_threshold(5000, 20, 20)  # someone tunes the collector between batches
    with collector_paused():
        pass
    assert gc.get_threshold()[1:] == (20, 20) and gc.get_threshold()[0] >= 5000
    with collector_paused():
        pass
    gc.set_threshold(0)
    with collector_paused():
        kept.append(_Node())
    assert gc.get_threshold()[0] == 0
    assert batch_gc._deferred is None
