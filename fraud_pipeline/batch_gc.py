"""The garbage collector paused for one batch of the scoring path.

A scoring batch builds thousands of short-lived tuples, lists and dicts (keys, sightings,
decoded sets, readings) and frees them all by reference counting when it ends. A collection
in the middle of it would promote them to older generations, and that makes the next full
collection walk the whole heap: in bench_behaviour that was about a fifth of the behaviour
tracker's CPU, and a quarter of signals + rules + state when the whole batch is covered. The
code on this path builds no reference cycles; any that something else builds meanwhile are
collected after the batch. Nested pauses are free: only the outermost one turns the
collector back on.

**The collection the batch owes waits for the next batch** (session 11). A batch leaves
thousands of young objects alive when it ends, most of them its records (a compiled
`TaggedRecord`'s traversal visits its 38 fields) and their lists, which the caller writes out
and drops. Turned back on at once, the collector would run at the next allocation and walk them
all (one young-generation collection per batch, about 1.7 M instructions compiled), only for
reference counting to free them moments later. So the outermost pause, when it ends, raises
the young generation's threshold by what is pending (`gc.get_count()[0]`): the collector runs
once the caller has allocated the usual threshold more than it frees (dropping the records
takes their count back off), or at the start of the next pause, which restores the thresholds
and lets the collector run then if the young generation is over them, as it would have at any
allocation (CPython's own choice of generation). A cycle built between batches is collected
by then at the latest. Thresholds someone else set meanwhile are left as they set them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# (the thresholds set when the last outermost pause ended, the thresholds to restore), or None.
_deferred: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the garbage collector off, and turn it back on after (also on error)
    unless it was already off; the collection the block's survivors would start waits for
    the next pause or the caller's own allocations (the module's docstring)."""
    was_enabled = gc.isenabled()
    if was_enabled:
        _catch_up()
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _defer()
            gc.enable()


def _catch_up() -> None:
    """The thresholds as they were before the last pause ended; then one allocation, at which
    the collector runs if the young generation is over its threshold (the collector is on)."""
    global _deferred
    deferred = _deferred
    if deferred is None:
        return
    _deferred = None
    raised, saved = deferred
    if gc.get_threshold() == raised:  # not set by someone else since
        gc.set_threshold(*saved)
    # A container allocated (not from a free list, as lists and tuples may be): where CPython
    # starts a collection when the young generation is over its threshold.
    _allocated: set[None] = set()
    del _allocated


def _defer() -> None:
    """Raise the young generation's threshold by what is pending, remembering the thresholds."""
    global _deferred
    saved = gc.get_threshold()
    if saved[0] <= 0:  # automatic collection is off: leave it so
        return
    if _deferred is not None:  # an earlier deferral nobody restored (a pause left unbalanced)
        saved = _deferred[1]
    raised = (gc.get_count()[0] + saved[0], saved[1], saved[2])
    gc.set_threshold(*raised)
    _deferred = (raised, saved)
