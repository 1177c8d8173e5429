"""The garbage collector paused for one batch of the scoring path.

A scoring batch builds thousands of short-lived tuples, lists and dicts (keys, sightings,
decoded sets, readings) and frees them all by reference counting when it ends. A collection
in the middle of it would promote them to older generations, and that makes the next full
collection walk the whole heap: in bench_behaviour that was about a fifth of the behaviour
tracker's CPU, and a quarter of signals + rules + state when the whole batch is covered. The
code on this path builds no reference cycles; any that something else builds meanwhile are
collected after the batch. Nested pauses are free: only the outermost one turns the
collector back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the garbage collector off, and turn it back on after (also on error)
    unless it was already off."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
